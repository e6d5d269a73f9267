"""Report for `mnist-scratch check` and for check() in a notebook: one row per rule, the learner's tracebacks."""

import io
import math
from dataclasses import dataclass, fields
from pathlib import Path

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from mnist_scratch.grader import CheckResult
from mnist_scratch.grader.classbook import Points, first_mistake, gradebook, gradescope, summarize
from mnist_scratch.grader.mutants import MutantsReport
from mnist_scratch.report.console import esc, print_json, stderr, stdout

STYLE = {"pass": "green", "wrong": "bold red", "error": "bold red", "missing": "yellow", "not implemented": "yellow",
         "autograd": "bold red", "skipped": "yellow"}


def _rel(v: "float | None") -> str:
    return "—" if v is None else ("inf" if not math.isfinite(v) else f"{v:.1e}")


def renderable(res: CheckResult) -> Group:
    """The table, the learner's tracebacks, load notes and a summary line, as one rich renderable."""
    parts = []
    if res.error:
        parts.append(Text(f"{res.source}: {res.error}", style="bold red"))
    t = Table(title=f"check {esc(res.source)}", title_justify="left", caption="max rel diff = max |yours − right| / "
              "max |right| over every shape tried (float64)", caption_justify="left")
    for col in ("rule", "status", "max rel diff", "diagnosis"):
        t.add_column(col, justify="right" if col == "max rel diff" else "left", overflow="fold")
    for r in res.rules:
        t.add_row(esc(r.name), Text(r.status, style=STYLE.get(r.status, "")), _rel(r.max_rel), Text(r.hint))
    if not res.error:
        parts.append(t)
    for r in res.rules:
        if r.traceback:
            parts.append(Text(f"{r.name} raised (your code):", style="bold"))
            parts.append(Text("\n".join("  " + line for line in r.traceback)))
    if res.notes:  # one per root cause; everything else in the file still ran
        parts.append(Text("while loading the file (every other statement still ran):\n" + "\n".join(
            "- " + note.replace("\n", "\n  ") for note in res.notes), style="dim"))
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
    """A console writing into a string, never into the notebook."""
    # force_jupyter=False: in a kernel rich otherwise displays what it prints itself (str() came out empty and
    # check()'s table showed twice)
    return Console(file=io.StringIO(), width=width, highlight=False, force_jupyter=False, **kw)


def plain(res: CheckResult) -> str:
    """The report as plain text (repr in a plain Python prompt)."""
    con = _console(color_system=None)
    con.print(renderable(res))
    return con.file.getvalue().rstrip()


def html(res: CheckResult) -> str:
    """The report as HTML with inline styles (what Jupyter shows for the result)."""
    con = _console(record=True)
    con.print(renderable(res))
    return con.export_html(inline_styles=True, code_format="<pre style=\"font-family:monospace\">{code}</pre>")


@dataclass(repr=False)
class CheckReport(CheckResult):
    """A CheckResult that shows itself: a table in a terminal, HTML in Jupyter, plain text at a prompt."""

    def __rich__(self) -> Group:
        return renderable(self)

    def _repr_html_(self) -> str:
        return html(self)

    def __repr__(self) -> str:
        return plain(self)


def shown(res: CheckResult) -> CheckReport:
    """res as a CheckReport (what the notebook's check() returns)."""
    return CheckReport(**{f.name: getattr(res, f.name) for f in fields(res)})


def render(res: CheckResult, *, as_json: bool = False) -> None:
    """The report on stdout, or one JSON object: {"ok", "rules": [{"name", "status", "max_rel", "hint"}...]} plus the
    source and any load error."""
    if as_json:
        print_json(res.to_dict())
    else:
        stdout().print(renderable(res))


def render_class(results: list[CheckResult], *, as_json: bool = False) -> None:
    """A class: one row per file (rules passed, the first mistake) and the summary of its mistakes; or one JSON
    object {"files": [each file's check], "summary": {...}}."""
    summary = summarize(results)
    if as_json:
        print_json({"ok": all(r.ok for r in results), "files": [r.to_dict() for r in results],
                    "summary": summary.to_dict()})
        return
    con = stdout()
    t = Table(title=f"check: {len(results)} files", title_justify="left")
    for col in ("file", "passed", "first mistake"):
        t.add_column(col, overflow="fold")
    for res in results:
        bad = first_mistake(res)
        passed = f"{sum(r.ok for r in res.rules)} / {len(res.rules)}"
        what = res.error or ("" if bad is None else f"{bad.name}: {bad.status}" + (f" ({bad.hint})" if bad.hint
                                                                                     else ""))
        t.add_row(Text(res.source), Text(passed, style="green" if res.ok else "bold red"), Text(what))
    con.print(t)
    if summary.mistakes:
        m = Table(title="mistakes in the class (files making each)", title_justify="left")
        for col in ("mistake", "files", "diagnosis (first file)"):
            m.add_column(col, justify="right" if col == "files" else "left", overflow="fold")
        for mistake, n, hint in summary.mistakes:
            m.add_row(Text(mistake), f"{n} of {summary.files}", Text(hint))
        con.print(m)
    if summary.failing_rules:
        con.print("rules failing most: " + ", ".join(f"{r} ({n})" for r, n in summary.failing_rules[:5]))
    if summary.missing_rules:
        con.print("rules not written: " + ", ".join(f"{r} ({n})" for r, n in summary.missing_rules[:5]))
    line = f"{summary.passing} of {summary.files} files pass every rule"
    con.print(Text(("PASS: " if summary.passing == summary.files else "FAIL: ") + line,
                   style="green" if summary.passing == summary.files else "bold red"))


def render_gradebook(results: list[CheckResult]) -> None:
    """The gradebook as CSV on stdout: one row per file, one column per rule (its status), passed and graded."""
    import csv
    import sys

    from mnist_scratch.grader import RULES

    graded = {r.name for res in results for r in res.rules}
    rules = tuple(r.name for r in RULES if r.name in graded)
    csv.writer(sys.stdout, lineterminator="\n").writerows(gradebook(results, rules))


def write_gradescope(results: list[CheckResult], points: Points, out: "Path | None", *, one: bool) -> None:
    """Gradescope's results.json: at out (default results.json) for one file; for a class, one file per
    submission in the folder out (its path with / as __, plus .json). A line on stderr says where."""
    import json

    from mnist_scratch.atomic import atomic_write_bytes
    from mnist_scratch.errors import UsageError

    def dump(doc) -> bytes:
        return (json.dumps(doc, indent=1, allow_nan=False) + "\n").encode()

    if one:
        target = out or Path("results.json")
        atomic_write_bytes(target, dump(gradescope(results[0], points)))
        stderr().print(f"wrote {esc(target)}")
        return
    if out is None:
        raise UsageError("--format gradescope for several files needs --out FOLDER (one results file each)")
    out.mkdir(parents=True, exist_ok=True)
    for res in results:
        name = res.source.lstrip("./").replace("/", "__").replace("\\", "__") + ".json"
        atomic_write_bytes(out / name, dump(gradescope(res, points)))
    stderr().print(f"wrote {len(results)} results files into {esc(out)}")


def exercise_written(path, blanks: int, part: "str | None", solutions: bool) -> None:
    """One line after `exercise` wrote its file, and what to do next."""
    what = f"{blanks} reference answers" if solutions else f"{blanks} blanks to fill in"
    scope = f" (part {part})" if part else ""
    nxt = f"mnist-scratch check {path}" + (f" --part {part}" if part else "")
    stdout().print(f"wrote {esc(path)}: {what}{scope}; then run `{esc(nxt)}`", soft_wrap=True)


def rules_accepted(res: CheckResult, style: str) -> None:
    """One line before training on the learner's rules."""
    names = ", ".join(r.name for r in res.rules)
    stdout().print(f"[green]your rules pass[/] ({names}); training with your {style} from {esc(res.source)}",
                   soft_wrap=True)


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
                   style="green" if ref.ok else "bold red"), soft_wrap=True)
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
    con.print(Text(("PASS: " if rep.ok else "FAIL: ") + line, style="green" if rep.ok else "bold red"), soft_wrap=True)

