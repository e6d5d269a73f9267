"""`mnist-scratch plot`: a run's training statistics as one PNG (or JSON)."""

from pathlib import Path
from typing import Annotated

import typer

from mnist_scratch.commands.common import Json, complete_run


def plot(
    run: Annotated[Path, typer.Argument(help="A run folder (train writes them under runs/).",
                                        autocompletion=complete_run, show_default=False)],
    out: Annotated[Path | None, typer.Option(help="The PNG to write.", show_default="RUN/stats.png")] = None,
    as_json: Json = False,
):
    """Draw a run's statistics: loss per batch and lr, valid loss/accuracy per epoch, and per layer the activation
    mean/std, histogram over steps, dead units and update-to-data ratio. Needs the `plot` extra for the PNG.

    Example: mnist-scratch plot runs/20260101-120000-nh50-ce
    """
    from mnist_scratch.report.console import esc, print_json, stderr, stdout
    from mnist_scratch.training.runfiles import Notes
    from mnist_scratch.training.runstats import run_stats

    notes = Notes()
    d = run_stats(run, notes)
    for line in notes.lines:
        stderr().print(f"note: {esc(line)}", soft_wrap=True)
    if as_json:
        print_json(d)
        return
    from mnist_scratch.report.statplots import plot_run

    path = out or run / "stats.png"
    w, h = plot_run(d, path)
    if not d["layers"]:
        stdout().print("[yellow]no layer statistics in this run[/] (trained with --no-stats or --stats-every 0)")
    stdout().print(f"wrote {esc(path)} ({w}x{h} px)")
