"""Rendering for `show`: digits drawn with half blocks (two pixel rows per line), labels, predictions."""

import math

from rich.console import Console
from rich.style import Style
from rich.text import Text

from mnist_scratch.report.console import print_json, stdout
from mnist_scratch.training.digits import Digit, DigitGrid

GAP = 2  # spaces between digits
WIDTH = 28


def fmt_conf(c: float, decimals: int = 1) -> str:
    """A probability as a percentage rounded down, so 0.9996 reads 99.9%, never a wrong 100.0%."""
    scale = 10**decimals
    return f"{math.floor(c * 100 * scale + 1e-6) / scale:.{decimals}f}%"


def _grey(v: float) -> str:
    g = int(round(v * 255))
    return f"rgb({g},{g},{g})"


def digit_lines(image, colour: bool) -> list[Text]:
    """14 lines of 28 cells: '▀' coloured top pixel on bottom pixel; without colour ' ▀▄█' at 0.5."""
    img = image.tolist()
    lines = []
    for r in range(0, 28, 2):
        t = Text()
        for top, bottom in zip(img[r], img[r + 1], strict=True):
            if colour:
                t.append("▀", Style.parse(f"{_grey(top)} on {_grey(bottom)}"))
            else:
                t.append(" ▀▄█"[(top >= 0.5) + 2 * (bottom >= 0.5)])
        lines.append(t)
    return lines


def label_lines(d: Digit, split: str, with_pred: bool) -> list[Text]:
    """'valid #3: 7' and, with a model, 'pred 7  99.1%' in green (right) or red (wrong)."""
    lines = [Text(f"{split} #{d.index}: {d.label}"[:WIDTH])]
    if with_pred:
        conf = "" if d.confidence is None else f"  {fmt_conf(d.confidence)}"
        lines.append(Text(f"pred {d.pred}{conf}"[:WIDTH], style="green" if d.pred == d.label else "bold red"))
    return lines


def columns_for(width: int, n: int) -> int:
    """How many digits fit side by side in width cells (at least one)."""
    return max(1, min(n, (width + GAP) // (WIDTH + GAP)))


def grid_lines(grid: DigitGrid, cols: int, colour: bool) -> list[Text]:
    """Every line of the grid: rows of digits (14 lines each) with their labels, a blank line between rows."""
    with_pred = any(d.pred is not None for d in grid.digits)
    out: list[Text] = []
    for start in range(0, len(grid.digits), cols):
        row = grid.digits[start : start + cols]
        if start:
            out.append(Text(""))
        blocks = [digit_lines(d.image, colour) + label_lines(d, grid.split, with_pred) for d in row]
        for parts in zip(*blocks, strict=True):
            line = Text()
            for k, p in enumerate(parts):
                if k:
                    line.append(" " * GAP)
                line.append_text(p)
                line.append(" " * (WIDTH - len(p)))
            line.rstrip()
            out.append(line)
    return out


def to_dict(grid: DigitGrid) -> dict:
    """The JSON form: the digits' split, index, label, prediction, confidence (no pixels)."""
    return {"split": grid.split, "title": grid.title,
            "digits": [{"index": d.index, "label": d.label, "pred": d.pred, "confidence": d.confidence}
                       for d in grid.digits]}


def render(grid: DigitGrid, *, as_json: bool = False, cols: "int | None" = None,
           console: "Console | None" = None) -> None:
    """Print the grid: coloured half blocks on a colour terminal, ' ▀▄█' otherwise (pipes, NO_COLOR)."""
    if as_json:
        print_json(to_dict(grid))
        return
    console = console or stdout()
    if not grid.digits:
        console.print(f"{grid.title}: nothing to show")
        return
    cols = cols or columns_for(console.width, len(grid.digits))
    console.print(grid.title, no_wrap=True, overflow="ellipsis")
    for line in grid_lines(grid, cols, colour=console.color_system is not None):
        console.print(line, no_wrap=True, overflow="crop")
