"""Report for `mnist-scratch gradcheck`: one table row per checked tensor, a summary line, or JSON."""

import math
from typing import Any

from rich.table import Table

from mnist_scratch.gradcheck import GradCheck, GradRow
from mnist_scratch.report.console import print_json, stdout


def _num(v: float) -> str:
    return f"{v:.2e}" if math.isfinite(v) else "—"


def _finite(v: float) -> "float | None":
    return v if math.isfinite(v) else None  # JSON has no inf/nan


def _table(rows: list[GradRow], title: str) -> Table:
    t = Table(title=title, title_justify="left", caption="max rel diff = max |a − b| / max |b| over the tensor",
              caption_justify="left")
    # 80 columns hold every figure: the figures never wrap, their headers take two lines, text columns wrap
    for col in ("tensor", "shape", "exact", "close", "max abs\ndiff", "max rel\ndiff", "entries", "result"):
        figure = col.startswith("max") or col == "shape"
        t.add_column(col, justify="right" if col.startswith("max") or col == "entries" else "left", no_wrap=figure)
    for r in rows:
        entries = f"{r.checked}" + (f" ({r.skipped} skipped)" if r.skipped else "")
        t.add_row(
            r.name,
            "×".join(map(str, r.shape)),
            "—" if r.exact is None else ("yes" if r.exact else "no"),
            "yes" if r.allclose else "no",
            _num(r.max_abs),
            _num(r.max_rel),
            entries,
            ("[green]pass[/]" if r.ok else "[bold red]FAIL[/]") + (f" ({r.note})" if r.note else ""),
        )
    return t


def render(check: GradCheck, *, as_json: bool = False, meta: "dict[str, Any] | None" = None) -> None:
    """Tables (manual vs autograd; vs finite differences when run) and one summary line; or one JSON object.

    meta: the setup (nh, loss, dtype, bs, seed, data) printed above the tables and merged into the JSON.
    """
    meta = meta or {}
    if as_json:
        return _json(check, meta)
    con = stdout()
    setup = ", ".join(f"{k} {','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in meta.items())
    ag = [r for r in check.rows if r.kind == "autograd"]
    fd = [r for r in check.rows if r.kind == "fd"]
    con.print(f"gradcheck: {setup}; loss {check.loss:.6g}", soft_wrap=True)
    con.print(_table(ag, f"manual .g vs autograd .grad ({check.dtype}, rtol {check.rtol:g}, atol {check.atol:g})"))
    if fd:
        title = (f"manual .g vs central differences (float64, h {check.h:g}, "
                 f"rtol {check.fd_rtol:g}, atol {check.fd_atol:g})")
        con.print(_table(fd, title))
    bad = [f"{r.name} ({r.kind})" for r in check.rows if not r.ok]
    worst = " ".join(
        f"max rel diff {k} {_num(max(r.max_rel for r in rs))};" for k, rs in (("autograd", ag), ("fd", fd)) if rs
    )
    if check.ok:
        con.print(f"[green]PASS[/]: all {len(check.rows)} checks agree; {worst.rstrip(';')}", soft_wrap=True)
    else:
        con.print(f"[bold red]FAIL[/]: {len(bad)} of {len(check.rows)} checks disagree: {', '.join(bad)}",
                  soft_wrap=True)
        if check.first_wrong:
            before = (f"; everything from the loss up to {check.right_before} is right" if check.right_before
                      else "; it is the first gradient the backward pass computes")
            con.print(f"first wrong in backward order: the gradient of [bold]{check.first_wrong}[/]{before}",
                      soft_wrap=True)


def _json(check: GradCheck, meta: dict[str, Any]) -> None:
    """One JSON object: ok, the setup, tolerances and one object per row."""
    rows = [
        {
            "name": r.name,
            "shape": list(r.shape),
            "kind": r.kind,
            "exact": r.exact,
            "allclose": r.allclose,
            "max_abs": _finite(r.max_abs),
            "max_rel": _finite(r.max_rel),
            "ok": r.ok,
            "checked": r.checked,
            "skipped": r.skipped,
            "note": r.note,
        }
        for r in check.rows
    ]
    tol = {"rtol": check.rtol, "atol": check.atol, "fd_rtol": check.fd_rtol, "fd_atol": check.fd_atol, "h": check.h}
    print_json({"ok": check.ok, **meta, "first_wrong": check.first_wrong or None, "loss_value": _finite(check.loss),
                "tolerances": tol, "rows": rows})
