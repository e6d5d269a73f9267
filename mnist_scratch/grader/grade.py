"""Grade a namespace (a loaded file, a notebook's globals) rule by rule, each on its own."""

import inspect
import time
from pathlib import Path

from mnist_scratch.grader.core import Ctx, Failed
from mnist_scratch.grader.load import load_file
from mnist_scratch.grader.result import CheckResult, RuleResult
from mnist_scratch.grader.sandbox import learner_frames
from mnist_scratch.grader.spec import BY_RULE, Rule, rules_of

TIMEOUT = 10.0  # seconds per rule (and per cell while loading); three-loop matmul on the graded shapes takes ~10 ms


def grade_rule(rule: Rule, obj, *, seconds: float = TIMEOUT, filenames: "frozenset[str] | None" = None) -> RuleResult:
    """One rule's verdict for obj (the learner's function or class); None means the name is not defined."""
    if obj is None:
        return RuleResult(rule.name, rule.part, "missing", hint=f"no {rule.name} defined")
    wants_class = rule.kind == "class"
    if wants_class != inspect.isclass(obj) or not callable(obj):
        what = "a class" if wants_class else "a function"
        return RuleResult(rule.name, rule.part, "error", hint=f"{rule.name} should be {what}, got "
                                                              f"{type(obj).__name__}", key="type")
    ctx = Ctx(seconds, learner_frames(filenames))
    try:
        rule.grade(obj, ctx)
    except Failed as f:
        return RuleResult(rule.name, rule.part, f.status, f.max_rel, f.hint, f.key, f.traceback)
    return RuleResult(rule.name, rule.part, "pass", ctx.worst)


def grade_namespace(ns: dict, *, part: "str | None" = None, names: "tuple[str, ...] | None" = None,
                    seconds: float = TIMEOUT, filenames: "frozenset[str] | None" = None,
                    source: str = "namespace") -> CheckResult:
    """Every rule of the lesson (or of one part, or the given names) looked up in ns and graded in order."""
    t0 = time.perf_counter()
    rules = [BY_RULE[n] for n in names] if names else list(rules_of(part))
    rows = [grade_rule(r, ns.get(r.name), seconds=seconds, filenames=filenames) for r in rules]
    return CheckResult(rows, source, time.perf_counter() - t0)


def check_file(path: Path, *, part: "str | None" = None, seconds: float = TIMEOUT) -> CheckResult:
    """Load path (.py / .ipynb), then grade it; a syntax error grades nothing and names the line."""
    t0 = time.perf_counter()
    loaded = load_file(path, seconds=seconds)
    if loaded.syntax_error:
        rows = [RuleResult(r.name, r.part, "error", hint="the file does not compile", key="syntax")
                for r in rules_of(part)]
        return CheckResult(rows, str(path), time.perf_counter() - t0, error=loaded.syntax_error)
    res = grade_namespace(loaded.namespace, part=part, seconds=seconds, filenames=loaded.filenames, source=str(path))
    res.notes, res.seconds = loaded.notes, time.perf_counter() - t0
    return res


def check_object(obj=None, *, part: "str | None" = None, seconds: float = TIMEOUT, caller_globals=None) -> CheckResult:
    """The library call: a function or class (graded under its own name), a dict namespace, a module, a path.

    With no argument the caller's globals are graded (a notebook's, when called from one).
    """
    if obj is None:
        return grade_namespace(caller_globals or {}, part=part, seconds=seconds, source="your notebook")
    if isinstance(obj, (str, Path)):
        return check_file(Path(obj), part=part, seconds=seconds)
    if isinstance(obj, dict):
        return grade_namespace(obj, part=part, seconds=seconds)
    if inspect.ismodule(obj):
        return grade_namespace(vars(obj), part=part, seconds=seconds, source=obj.__name__)
    name = getattr(obj, "__name__", None)
    if name not in BY_RULE:
        known = ", ".join(BY_RULE)
        raise ValueError(f"check() grades the lesson's names ({known}); got {name or type(obj).__name__!r}")
    return grade_namespace({name: obj}, names=(name,), seconds=seconds, source=name)
