"""Rendering for `matmul`: one table row per version, the Frobenius exercise, or JSON."""

import math

from rich import box
from rich.table import Table

from mnist_scratch.lesson.matmul import MatmulResult
from mnist_scratch.report.console import print_json, stdout

# The lesson's timings for 5 x 784 @ 784 x 10 (as printed in the course), seconds per call.
LESSON = {
    "three loops": (0.5, 0.8),
    "elementwise": (0.8e-3, 1.4e-3),
    "broadcasting": (0.25e-3, 0.33e-3),
    "einsum": (60e-6, 90e-6),
    "torch @": (20e-6, 20e-6),
}


def fmt_seconds(s: float) -> str:
    """A duration with a readable unit: 512 ms, 23.4 µs."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _lesson(name: str) -> str:
    lo, hi = LESSON.get(name, (math.nan, math.nan))
    if math.isnan(lo):
        return "-"
    if lo == hi:
        return f"≈ {fmt_seconds(lo)}"
    (a, unit), (b, unit_b) = fmt_seconds(lo).split(), fmt_seconds(hi).split()
    return f"{a}–{b} {unit}" if unit == unit_b else f"{a} {unit}–{b} {unit_b}"


def to_dict(r: MatmulResult) -> dict:
    """The JSON form: shapes, source, one entry per version, the Frobenius exercise."""
    lesson_shape = r.shape_a == (5, 784) and r.shape_b == (784, 10)
    return {
        "shape_a": list(r.shape_a), "shape_b": list(r.shape_b), "source": r.source, "threads": r.threads,
        "rows": [{"name": x.name, "seconds": x.seconds, "best": x.best, "iqr": x.iqr, "calls": x.calls,
                  "speedup": x.speedup, "ok": x.ok,
                  "max_abs_diff": x.max_abs_diff if math.isfinite(x.max_abs_diff) else None,
                  "lesson_seconds": list(LESSON[x.name]) if lesson_shape and x.name in LESSON else None}
                 for x in r.rows],
        "frobenius": {"matrix": r.frobenius_matrix, "value": r.frobenius, "ok": r.frobenius_ok},
    }


def render(r: MatmulResult, *, as_json: bool = False) -> None:
    """Print the table (or JSON) for one matmul run."""
    if as_json:
        print_json(to_dict(r))
        return
    lesson_shape = r.shape_a == (5, 784) and r.shape_b == (784, 10)
    a, b = r.shape_a, r.shape_b
    title = f"{a[0]}×{a[1]} @ {b[0]}×{b[1]}, {r.source}, {r.threads} torch thread{'s' * (r.threads != 1)}"
    t = Table(title=title, title_justify="left", header_style="bold",
              box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    t.add_column("version", no_wrap=True)
    t.add_column("median", justify="right", no_wrap=True)
    t.add_column("best", justify="right", no_wrap=True)
    t.add_column("IQR", justify="right", no_wrap=True)
    t.add_column("calls", justify="right", no_wrap=True)
    t.add_column("speedup", justify="right", no_wrap=True)
    t.add_column("torch")  # agrees with torch: ok, or FAIL and the difference (wrapped: 80 columns hold the rest)
    if lesson_shape:
        t.add_column("lesson", justify="right", style="dim", no_wrap=True)
    for x in r.rows:
        cells = [x.name, fmt_seconds(x.seconds), fmt_seconds(x.best), fmt_seconds(x.iqr), str(x.calls),
                 f"{x.speedup:,.0f}×", "[green]ok[/]" if x.ok else f"[red]FAIL[/] {x.max_abs_diff:.1e}"]
        t.add_row(*cells, *([_lesson(x.name)] if lesson_shape else []))
    out = stdout()
    out.print(t)
    m = r.frobenius_matrix
    status = "[green]ok[/]" if r.frobenius_ok else "[red]FAIL[/]"
    out.print(f"Frobenius norm of {[[int(v) for v in row] for row in m]}, element-wise: "
              f"{r.frobenius:.4f} (lesson 16.8819; vs torch.linalg.matrix_norm: {status})", soft_wrap=True)
