"""A class at once: the submissions a teacher grades, a summary of their mistakes, points and autograder records.

Pure: the caller finds, reads and grades the files (check_file, one per file); this turns CheckResults into the
class summary, a gradebook and Gradescope's results.json.
"""

from collections import Counter
from dataclasses import dataclass, field

from mnist_scratch.config import tomllib
from mnist_scratch.errors import UsageError
from mnist_scratch.grader.result import CheckResult, RuleResult

UNWRITTEN = ("missing", "not implemented")  # a rule not written yet: not a mistake to count
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's, per test


def first_mistake(res: CheckResult) -> "RuleResult | None":
    """The first wrong (or raising) rule in the lesson's order, else the first one not written; None: all pass."""
    return next((r for r in res.rules if not r.ok and r.status not in UNWRITTEN), None) or next(
        (r for r in res.rules if not r.ok), None)


def mistake_of(r: RuleResult) -> str:
    """A rule's mistake as the summary counts it: the rule and the diagnosis' key (or the status)."""
    return f"{r.name}: {r.key or r.status}"


@dataclass
class Summary:
    """The class: files graded and passing, how many files make each mistake, which rules fail most."""

    files: int
    passing: int
    mistakes: list[tuple[str, int, str]] = field(default_factory=list)  # (mistake, files, an example hint)
    failing_rules: list[tuple[str, int]] = field(default_factory=list)  # (rule, files where wrong or error)
    missing_rules: list[tuple[str, int]] = field(default_factory=list)  # (rule, files that do not define it)

    def to_dict(self) -> dict:
        return {"files": self.files, "passing": self.passing,
                "mistakes": [{"mistake": m, "files": n, "hint": h} for m, n, h in self.mistakes],
                "failing_rules": [{"rule": r, "files": n} for r, n in self.failing_rules],
                "missing_rules": [{"rule": r, "files": n} for r, n in self.missing_rules]}


def summarize(results: list[CheckResult]) -> Summary:
    """Count each diagnosed mistake once per file, most common first (ties in the lesson's order)."""
    mistakes, hints, failing, missing = Counter(), {}, Counter(), Counter()
    for res in results:
        seen = set()
        for r in res.rules:
            if r.ok:
                continue
            if r.status in UNWRITTEN:
                missing[r.name] += 1
                continue
            failing[r.name] += 1
            m = mistake_of(r)
            if m not in seen:
                seen.add(m)
                mistakes[m] += 1
                hints.setdefault(m, r.hint)
    return Summary(len(results), sum(r.ok for r in results),
                   [(m, n, hints[m]) for m, n in mistakes.most_common()], failing.most_common(),
                   missing.most_common())


@dataclass(frozen=True)
class Points:
    """Points per rule and each rule's Gradescope visibility; rules=None: one point per graded rule."""

    rules: "dict[str, float] | None" = None
    visibility: "dict[str, str]" = field(default_factory=dict)
    default_visibility: str = "visible"

    def of(self, res: CheckResult) -> list[tuple[RuleResult, float]]:
        """(rule row, max points) for each rule that earns points."""
        if self.rules is None:
            return [(r, 1.0) for r in res.rules]
        rows = {r.name: r for r in res.rules}
        return [(rows.get(name) or RuleResult(name, "", "missing", hint=f"no {name} graded"), pts)
                for name, pts in self.rules.items()]


def parse_points(text: str, where: str, known: "tuple[str, ...]") -> Points:
    """A points file: `[points]` rule = number; optional `[visibility]` rule = one of VISIBILITIES, default = ..."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"--points {where} is not valid TOML: {e}") from None
    pts, vis = doc.get("points", {}), doc.get("visibility", {})
    if not isinstance(pts, dict) or not pts or not isinstance(vis, dict):
        raise UsageError(f"--points {where} needs a [points] table: rule = points (and optionally [visibility])")
    vis = dict(vis)
    default = vis.pop("default", "visible")
    for name, v in pts.items():
        if name not in known:
            raise UsageError(f"--points {where}: {name!r} is not a rule (rules: {', '.join(known)})")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v != v or v == float("inf"):
            raise UsageError(f"--points {where}: {name} must be a number of points >= 0, got {v!r}")
    for name, v in [*vis.items(), ("default", default)]:
        if v not in VISIBILITIES:
            raise UsageError(f"--points {where}: visibility of {name} must be one of {', '.join(VISIBILITIES)}, "
                             f"got {v!r}")
    return Points({k: float(v) for k, v in pts.items()}, dict(vis), default)


def rule_output(r: RuleResult) -> str:
    """What the learner reads for one rule: the diagnosis, then their own traceback lines."""
    lines = [f"{r.status}: {r.hint}" if r.hint else r.status]
    lines += list(r.traceback)
    return "\n".join(lines)


def gradescope(res: CheckResult, points: Points) -> dict:
    """Gradescope's results.json for one submission: score, output, and one test per rule with its points."""
    tests = []
    for r, pts in points.of(res):
        tests.append({"name": r.name, "score": pts if r.ok else 0.0, "max_score": pts, "output": rule_output(r),
                      "visibility": points.visibility.get(r.name, points.default_visibility)})
    head = [f"{res.source}: {res.error}"] if res.error else []
    head += [f"while loading the file: {n}" for n in res.notes]
    passed = sum(r.ok for r, _ in points.of(res))
    output = "\n".join(head + [f"{passed} of {len(tests)} rules pass"])
    return {"score": sum(t["score"] for t in tests), "output": output, "tests": tests}


def gradebook(results: list[CheckResult], rules: "tuple[str, ...]") -> list[list[str]]:
    """Header and one row per file: the file, each rule's status, the rules passed out of the rules graded."""
    rows = [["file", *rules, "passed", "graded"]]
    for res in results:
        status = {r.name: r.status for r in res.rules}
        rows.append([res.source, *(status.get(n, "") for n in rules), str(sum(r.ok for r in res.rules)),
                     str(len(res.rules))])
    return rows
