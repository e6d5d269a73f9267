"""Rendering for `init`: std and mean of the activations per layer and scheme, or JSON."""

import math

from rich import box
from rich.table import Table

from mnist_scratch.lesson.init_stats import InitStats
from mnist_scratch.report.console import print_json, stdout

COLOURS = {"explodes": "red", "vanishes": "yellow", "keeps": "green"}


def _num(v: float) -> "float | None":
    """JSON has no inf/nan: those become null."""
    return v if math.isfinite(v) else None


def to_dict(r: InitStats) -> dict:
    """The JSON form: settings, then per scheme its layers' mean/std, the std ratio and the verdict."""
    schemes = []
    for s in r.schemes:
        layers = [{"layer": l.layer, "mean": _num(l.mean), "std": _num(l.std)} for l in s.layers]
        schemes.append({"name": s.name, "description": s.description, "ratio": _num(s.ratio),
                        "verdict": s.verdict, "layers": layers})
    return {"source": r.source, "n": r.n, "depth": r.depth, "nh": r.nh, "seed": r.seed, "schemes": schemes}


def _fmt(v: float) -> str:
    """Fixed point for ordinary values, exponent for exploded ones."""
    return f"{v:.3f}" if abs(v) < 1000 else f"{v:.2e}"


def _table(r: InitStats, what: str, footer: bool) -> Table:
    t = Table(title=f"{what} of the activations after each relu(x @ w)", title_justify="left",
              header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("layer", justify="right")
    for s in r.schemes:
        t.add_column(s.name, justify="right", no_wrap=True)
    for i in range(r.depth + 1):
        t.add_row("input" if i == 0 else str(i), *(_fmt(getattr(s.layers[i], what)) for s in r.schemes),
                  end_section=footer and i == r.depth)
    if footer:
        t.add_row("last/in", *(_fmt(s.ratio) for s in r.schemes))
        t.add_row("", *(f"[{COLOURS[s.verdict]}]{s.verdict}[/]" for s in r.schemes))
    return t


def render(r: InitStats, *, as_json: bool = False) -> None:
    """Print the std table (with verdicts), the mean table and what each scheme draws; or JSON."""
    if as_json:
        print_json(to_dict(r))
        return
    out = stdout()
    out.print(f"{r.n} inputs ({r.source}), {r.depth} layers of width {r.nh}, biases 0, seed {r.seed}", soft_wrap=True)
    out.print(_table(r, "std", footer=True))
    out.print(_table(r, "mean", footer=False))
    for s in r.schemes:
        out.print(f"  [bold]{s.name}[/]: {s.description}", highlight=False, soft_wrap=True)
