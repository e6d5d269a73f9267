"""Rendering for `lr-find`: the suggestion with its rule, the curve by half-decades, JSON, and the PNG."""

import math
from pathlib import Path

from rich.table import Table

from mnist_scratch.report.console import esc, print_json, stdout
from mnist_scratch.training.lr_find import LrFind

WHY = {
    "valley": "the floor of the smoothed loss: the largest lr at which the loss still fell, which is what "
              "one-cycle's peak lr should be",
    "steepest": "where the smoothed loss falls fastest per decade of lr: a cautious constant lr, low for one-cycle",
}
PLOT_INCHES = (8.0, 5.0)


def _half_decades(r: LrFind) -> list[int]:
    """Indices of the points nearest to 1e-6, 3e-6, 1e-5, ... along the centres."""
    marks, out = {round(2 * math.log10(c)) for c in r.centres}, []
    for m in sorted(marks):
        k = min(range(len(r.centres)), key=lambda k: abs(2 * math.log10(r.centres[k]) - m))
        if k not in out:
            out.append(k)
    return out


def render(r: LrFind, *, as_json: bool = False, plot: "Path | None" = None) -> None:
    """The suggestion and the curve, or everything as one JSON object."""
    if as_json:
        print_json({
            "suggested_lr": r.suggested_lr, "rule": r.rule, "suggestions": r.suggestions, "stopped": r.stopped,
            "steps": len(r.lrs), "config": r.cfg.to_dict() if r.cfg else None,
            "plot": None if plot is None else str(plot),
            "curve": [{"lr": a, "loss": b, "smoothed": c, "centre": d}
                      for a, b, c, d in zip(r.lrs, r.losses, r.smoothed, r.centres, strict=True)],
        })
        return
    c, cfg = stdout(), r.cfg
    if cfg is not None:
        c.print(f"lr range test on nh {','.join(map(str, cfg.nh))} {cfg.loss}, bs {cfg.bs}, momentum {cfg.momentum:g}, "
                f"weight decay {cfg.weight_decay:g}: {len(r.lrs)} steps from lr {r.lrs[0]:.2g}; {esc(r.stopped)}",
                soft_wrap=True)
    t = Table(show_edge=False, box=None, pad_edge=False, header_style="bold")
    for name in ("lr", "smoothed loss"):  # each smoothed point at the lr it averages (see LrFind.centres)
        t.add_column(name, justify="right")
    for k in _half_decades(r):
        t.add_row(f"{r.centres[k]:.2g}", f"{r.smoothed[k]:.4f}")
    c.print(t)
    c.print(f"suggested lr [bold]{r.suggested_lr:.2g}[/] ({r.rule}: {WHY[r.rule]})", soft_wrap=True)
    for name, lr in r.suggestions.items():
        if name != r.rule:
            c.print(f"  {name}: {lr:.2g} ({WHY[name]})", soft_wrap=True)
    c.print(f"try: mnist-scratch train --lr {r.suggested_lr:.2g}", soft_wrap=True)
    if plot is not None:
        c.print(f"curve in {esc(plot)}", soft_wrap=True)


def plot_curve(r: LrFind, path: Path) -> tuple[int, int]:
    """Write loss against lr (log axis) with every rule's suggestion marked, as a PNG; return its pixel size."""
    from mnist_scratch.report.plots import DPI, _figure, _save

    fig = _figure(*PLOT_INCHES, layout="constrained")
    ax = fig.subplots()
    ax.plot(r.lrs, r.losses, color="tab:blue", alpha=0.3, lw=1, label="batch loss (at the step's lr)")
    ax.plot(r.centres, r.smoothed, color="tab:blue", lw=2.5, label="smoothed loss (at the lr it averages)")
    styles = {"valley": ("tab:red", "-"), "steepest": ("tab:gray", "--")}
    for name, lr in r.suggestions.items():
        colour, dash = styles.get(name, ("black", ":"))
        chosen = " (suggested)" if name == r.rule else ""
        ax.axvline(lr, color=colour, ls=dash, lw=2 if chosen else 1.2, label=f"{name}: {lr:.2g}{chosen}")
        k = min(range(len(r.centres)), key=lambda k: abs(math.log(r.centres[k] / lr)))
        ax.plot([lr], [r.smoothed[k]], "o", color=colour, ms=8 if chosen else 5)  # where the rule read the curve
    ax.set_xscale("log")
    ax.set_ylim(0, 1.15 * max(r.smoothed))  # the raw loss spikes past this at the end; the curve stays legible
    ax.set(xlabel="learning rate (log scale)", ylabel="training loss",
           title=f"lr range test: suggested lr {r.suggested_lr:.2g} ({r.rule})")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    _save(fig, path)
    return round(PLOT_INCHES[0] * DPI), round(PLOT_INCHES[1] * DPI)
