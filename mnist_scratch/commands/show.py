"""`mnist-scratch show`: digits in the terminal (half blocks), with labels and a model's predictions."""

from pathlib import Path
from typing import Annotated

import typer

from mnist_scratch.commands.common import DataDir, Json, choices, complete_run
from mnist_scratch.config import SPLITS
from mnist_scratch.errors import UsageError

SplitName = choices("SplitName", SPLITS)
Split = Annotated[SplitName, typer.Option("--split", help="Which split to draw from.")]
Index = Annotated[
    str | None,
    typer.Option("--index", help="Digits to show: 0..9 (inclusive), 3,5,7 or 0..4,10.", show_default="0..9"),
]
Checkpoint = Annotated[
    Path | None, typer.Option("--checkpoint", help="Run folder or checkpoint file: also show its predictions.",
                              autocompletion=complete_run, show_default=False)
]
Worst = Annotated[
    int | None,
    typer.Option("--worst", help="Show the N most confidently wrong digits of the split (needs --checkpoint)."),
]
Png = Annotated[Path | None, typer.Option("--png", help="Also write the grid to this PNG file (needs matplotlib).")]
Cols = Annotated[
    int | None, typer.Option("--cols", help="Digits per row.", show_default="as many as fit")
]


def show(
    split: Split = SplitName("valid"),
    index: Index = None,
    checkpoint: Checkpoint = None,
    worst: Worst = None,
    png: Png = None,
    cols: Cols = None,
    data_dir: DataDir = None,
    as_json: Json = False,
):
    """Draw digits in the terminal with their labels, and a model's predictions and confidence.

    Each 28x28 digit takes 14 lines: one half-block character holds two pixels.

    Example: mnist-scratch show --split valid --index 0..9 --checkpoint runs/latest
    """
    if worst is not None and index is not None:
        raise UsageError("give either --index or --worst, not both")
    if worst is not None and checkpoint is None:
        raise UsageError("--worst needs --checkpoint (a trained model to be wrong)")
    if worst is not None and not 1 <= worst <= 200:
        raise UsageError(f"--worst must be between 1 and 200, got {worst}")
    if cols is not None and cols < 1:
        raise UsageError(f"--cols must be at least 1, got {cols}")
    from mnist_scratch.data import load_dataset
    from mnist_scratch.report import show as report
    from mnist_scratch.training import digits

    model = None
    if checkpoint is not None:
        from mnist_scratch.training.checkpoint import load
        from mnist_scratch.training.evaluation import model_from

        model = model_from(load(checkpoint))
    ds = load_dataset(data_dir)
    split = split.value
    x, _ = digits.split_of(ds, split)
    if worst is not None:
        grid = digits.worst(ds, split, model, worst)
    else:
        grid = digits.select(ds, split, digits.parse_indices(index or "0..9", len(x)), model)
    if png is not None:
        from mnist_scratch.report.plots import plot_digits

        plot_digits(grid, png, cols)
    report.render(grid, as_json=as_json, cols=cols)
