"""Report for `mnist-scratch check` and for check() in a notebook: one row per rule, the learner's tracebacks."""

import io
import math

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from mnist_scratch.grader import CheckResult
from mnist_scratch.grader.mutants import MutantsReport
from mnist_scratch.report.console import esc, print_json, stdout

STYLE = {"pass": "green", "wrong": "bold red", "error": "bold red", "missing": "yellow", "not implemented": "yellow",
         "autograd": "bold red"}


def _rel(v: "float | None") -> str:
    return "—" if v is None else ("inf" if not math.isfinite(v) else f"{v:.1e}")


def renderable(res: CheckResult) -> Group:
    """The table, the learner's tracebacks, load notes and a summary line, as one rich renderable."""
    parts = []
    if res.error:
        parts.append(Text(f"{res.source}: {res.error}", style="bold red"))
    t = Table(title=f"check {res.source}", title_justify="left", caption="max rel diff = max |yours − right| / "
              "max |right| over every shape tried (float64)", caption_justify="left")
    for col in ("rule", "status", "max rel diff", "diagnosis"):
        t.add_column(col, justify="right" if col == "max rel diff" else "left", overflow="fold")
    for r in res.rules:
        t.add_row(r.name, Text(r.status, style=STYLE.get(r.status, "")), _rel(r.max_rel), r.hint)
    if not res.error:
        parts.append(t)
    for r in res.rules:
        if r.traceback:
            parts.append(Text(f"{r.name} raised (your code):", style="bold"))
            parts.append(Text("\n".join("  " + line for line in r.traceback)))
    for note in res.notes:
        parts.append(Text("while loading the file, a cell raised (the cells after it still ran):\n  "
                          + note.replace("\n", "\n  "), style="dim"))
    bad = [r for r in res.rules if not r.ok]
    took = f"(took {res.seconds:.2g} s)" if res.seconds < 1 else f"(took {res.seconds:.1f} s)"
    if res.ok:
        parts.append(Text(f"PASS: all {len(res.rules)} rules pass {took}", style="green"))
    elif res.error:
        parts.append(Text(f"FAIL: nothing graded {took}", style="bold red"))
    else:
        counts = {}
        for r in bad:
            counts[r.status] = counts.get(r.status, 0) + 1
        what = ", ".join(f"{n} {s}" for s, n in counts.items())
        parts.append(Text(f"FAIL: {len(bad)} of {len(res.rules)} rules not passing ({what}) {took}",
                          style="bold red"))
    return Group(*parts)


def _console(width: int = 120, **kw) -> Console:
    return Console(file=io.StringIO(), width=width, highlight=False, **kw)


def plain(res: CheckResult) -> str:
    """The report as plain text (repr in a plain Python prompt)."""
    con = _console(color_system=None)
    con.print(renderable(res))
    return con.file.getvalue().rstrip()


def html(res: CheckResult) -> str:
    """The report as HTML with inline styles (what Jupyter shows for the result)."""
    con = _console(record=True, force_jupyter=False)
    con.print(renderable(res))
    return con.export_html(inline_styles=True, code_format="<pre style=\"font-family:monospace\">{code}</pre>")


def render(res: CheckResult, *, as_json: bool = False) -> None:
    """The report on stdout, or one JSON object: {"ok", "rules": [{"name", "status", "max_rel", "hint"}...]} plus the
    source and any load error."""
    if as_json:
        print_json(res.to_dict())
    else:
        stdout().print(renderable(res))


def exercise_written(path, blanks: int, part: "str | None", solutions: bool) -> None:
    """One line after `exercise` wrote its file, and what to do next."""
    what = f"{blanks} reference answers" if solutions else f"{blanks} blanks to fill in"
    scope = f" (part {part})" if part else ""
    nxt = f"mnist-scratch check {path}" + (f" --part {part}" if part else "")
    stdout().print(f"wrote {esc(path)}: {what}{scope}; then run `{esc(nxt)}`")


def rules_accepted(res: CheckResult, style: str) -> None:
    """One line before training on the learner's rules."""
    names = ", ".join(r.name for r in res.rules)
    stdout().print(f"[green]your rules pass[/] ({names}); training with your {style} from {esc(res.source)}")


def render_mutants(rep: MutantsReport, *, as_json: bool = False) -> None:
    """The reference solutions' verdict and one row per broken solution: caught, and with which diagnosis."""
    if as_json:
        print_json({"ok": rep.ok, "reference": rep.reference.to_dict(), "mutants": [
            {"name": r.mutant.name, "rule": r.mutant.rule, "mistake": r.mutant.mistake, "expected": r.mutant.expect,
             "status": r.status, "key": r.key, "caught": r.caught, "hint": r.hint} for r in rep.results]})
        return
    con = stdout()
    ref = rep.reference
    con.print(Text(f"reference solutions: {sum(r.ok for r in ref.rules)} of {len(ref.rules)} rules pass",
                   style="green" if ref.ok else "bold red"))
    t = Table(title="the grader on broken solutions", title_justify="left")
    for col in ("mutant", "rule", "mistake", "verdict", "diagnosis"):
        t.add_column(col, overflow="fold")
    for r in rep.results:
        verdict = Text("caught" if r.caught else f"MISSED ({r.status}, {r.key or 'no diagnosis'})",
                       style="green" if r.caught else "bold red")
        t.add_row(r.mutant.name, r.mutant.rule, r.mutant.mistake, verdict, r.hint)
    con.print(t)
    caught = sum(r.caught for r in rep.results)
    line = f"{caught} of {len(rep.results)} mistakes caught with the right diagnosis (took {rep.seconds:.1f} s)"
    con.print(Text(("PASS: " if rep.ok else "FAIL: ") + line, style="green" if rep.ok else "bold red"))

