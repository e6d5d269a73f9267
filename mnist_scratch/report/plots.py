"""PNG figures with matplotlib (the optional `plot` extra): digit grids and training curves."""

import dataclasses
from pathlib import Path

from mnist_scratch.atomic import atomic_write, check_target, shown
from mnist_scratch.errors import MnistScratchError, UsageError
from mnist_scratch.report.show import fmt_conf

DPI = 100
DIGIT_INCHES = (1.0, 1.3)  # width, height of one digit's cell (image + title)
HISTORY_INCHES = (10.0, 4.0)


def check_available(path: "Path | None" = None) -> None:
    """UsageError naming the extra when matplotlib is missing, PathError when path cannot be written (a FIFO, a
    device, a folder, a link): asked before a long run, not after it."""
    _figure(1, 1)
    if path is not None:
        try:
            check_target(Path(path))
        except OSError:  # a parent that is a file, a name too long: reported when the PNG is written
            pass


def _figure(w_in: float, h_in: float, layout: "str | None" = None):
    """A matplotlib Figure (no pyplot, no global state); UsageError naming the extra when it is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("writing PNG files needs matplotlib: pip install 'mnist-scratch[plot]'") from None
    return Figure(figsize=(w_in, h_in), dpi=DPI, layout=layout)


def _save(fig, path: Path) -> None:
    """Write fig as PNG to a temp file beside path, then move it into place."""
    path = Path(path)
    try:  # atomic_write refuses (PathError) a FIFO, device, folder or link at path: it is never replaced
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))
    except OSError as e:  # a file where a folder should be, a read-only or full disk
        raise MnistScratchError(f"cannot save {shown(path)}: {e.strerror or e}") from None


def digits_size(n: int, cols: int) -> tuple[int, int]:
    """Pixel (width, height) of the PNG that plot_digits writes for n digits in cols columns."""
    rows = max(1, -(-n // cols))
    return round(cols * DIGIT_INCHES[0] * DPI), round(rows * DIGIT_INCHES[1] * DPI)


def plot_digits(grid, path: Path, cols: "int | None" = None) -> tuple[int, int]:
    """Write the grid's digits with label (and prediction) titles as a PNG; return its pixel size."""
    n = max(1, len(grid.digits))
    cols = max(1, min(cols or 10, n))
    rows = -(-n // cols)
    fig = _figure(cols * DIGIT_INCHES[0], rows * DIGIT_INCHES[1], layout="constrained")
    for k, d in enumerate(grid.digits):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(d.image.numpy(), cmap="gray", vmin=0.0, vmax=1.0)
        ax.set_axis_off()
        title = f"#{d.index}: {d.label}"
        colour = "black"
        if d.pred is not None:
            conf = "" if d.confidence is None else f" {fmt_conf(d.confidence, 0)}"
            title += f"\npred {d.pred}{conf}"
            colour = "green" if d.pred == d.label else "red"
        ax.set_title(title, fontsize=8, color=colour)
    _save(fig, path)
    return digits_size(n, cols)


def plot_history(epochs: list[dict], path: Path) -> tuple[int, int]:
    """Write train/valid loss and valid accuracy per epoch as a PNG; return its pixel size.

    epochs: one dict (or dataclass) per epoch with epoch, train_loss, valid_loss, valid_acc (a fraction).
    """
    if not epochs:
        raise UsageError("no epochs to plot")
    fig = _figure(*HISTORY_INCHES, layout="constrained")
    from matplotlib.ticker import MaxNLocator

    epochs = [e if isinstance(e, dict) else dataclasses.asdict(e) for e in epochs]
    ep = [e["epoch"] for e in epochs]
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(ep, [e["train_loss"] for e in epochs], marker="o", label="train")
    loss_ax.plot(ep, [e["valid_loss"] for e in epochs], marker="o", label="valid")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    loss_ax.legend()
    acc_ax.plot(ep, [100 * e["valid_acc"] for e in epochs], marker="o", color="tab:green")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="valid accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _save(fig, path)
    return round(HISTORY_INCHES[0] * DPI), round(HISTORY_INCHES[1] * DPI)
