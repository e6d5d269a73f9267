"""Grade a learner's code rule by rule, each on its own: in this process (a notebook), or isolated (a file)."""

import time
from pathlib import Path

from mnist_scratch.errors import UsageError
from mnist_scratch.grader.core import Ctx, Failed
from mnist_scratch.grader.learner import LocalLearner, RemoteLearner
from mnist_scratch.grader.result import CheckResult, RuleResult
from mnist_scratch.grader.sandbox import learner_frames
from mnist_scratch.grader.spec import BY_RULE, RULES, Rule, rules_of

TIMEOUT = 10.0  # seconds per rule (and per cell while loading); three-loop matmul on the graded shapes takes ~10 ms
TARGET_RULES = ("mse", "mse_grad", "forward_and_backward", "Mse", "Model")  # the rules that take targets
COLUMN_NOTE = "written for (bs, 1) targets (y.unsqueeze(-1), as in the 2019 lesson): right with those"
FILE_TIMEOUT = 60.0  # seconds for a whole file: loading it and every rule, restarts included


def _verdict(rule: Rule, learner, kind: str, *, seconds: float, filenames=None, note: str = "") -> RuleResult:
    """One rule graded through learner (whose object `rule.name` is of the given kind)."""
    if kind == "missing":
        return RuleResult(rule.name, rule.part, "missing", hint=note or f"no {rule.name} defined")
    if kind == "nn.Module":
        return RuleResult(rule.name, rule.part, "skipped", hint=note or f"{rule.name} is a torch.nn.Module "
                                                                        "(autograd), not hand-written: skipped")
    wants_class = rule.kind == "class"
    if wants_class != (kind == "class") or kind.startswith("other:"):  # a callable object passes as a function
        what = "a class" if wants_class else "a function"
        got = kind.removeprefix("other:") if kind.startswith("other:") else ("type" if kind == "class" else "function")
        return RuleResult(rule.name, rule.part, "error", hint=f"{rule.name} should be {what}, got {got}", key="type")
    first = None
    for column in (False, True) if rule.name in TARGET_RULES else (False,):
        ctx = Ctx(seconds, learner_frames(filenames), learner=learner, column_targets=column)
        try:
            rule.grade(ctx.op("call", rule.name) if rule.kind == "def" else rule.name, ctx)
        except Failed as f:
            first = first or RuleResult(rule.name, rule.part, f.status, f.max_rel, f.hint, f.key, f.traceback)
            if f.status not in ("wrong", "error"):
                break
            continue
        notes = [note, *ctx.notes] + ([COLUMN_NOTE] if column else [])
        return RuleResult(rule.name, rule.part, "pass", ctx.worst, "; ".join(n for n in notes if n))
    return first


def grade_rule(rule: Rule, obj, *, seconds: float = TIMEOUT, filenames: "frozenset[str] | None" = None) -> RuleResult:
    """One rule's verdict for obj (the learner's function or class, run in this process); None: not defined."""
    learner = LocalLearner({rule.name: obj} if obj is not None else {}, filenames)
    return _verdict(rule, learner, learner.kinds([rule.name])[rule.name], seconds=seconds, filenames=filenames)


def grade_namespace(ns: dict, *, part: "str | None" = None, names: "tuple[str, ...] | None" = None,
                    seconds: float = TIMEOUT, filenames: "frozenset[str] | None" = None,
                    source: str = "namespace") -> CheckResult:
    """Every rule of the lesson (or of one part, or the given names) looked up in ns and graded in this process."""
    t0 = time.perf_counter()
    rules = [BY_RULE[n] for n in names] if names else list(rules_of(part))
    learner = LocalLearner(ns, filenames)
    kinds = learner.kinds([r.name for r in rules])
    rows = [_verdict(r, learner, kinds[r.name], seconds=seconds, filenames=filenames) for r in rules]
    return CheckResult(rows, source, time.perf_counter() - t0)


def check_file(path: Path, *, part: "str | None" = None, seconds: float = TIMEOUT,
               file_seconds: float = FILE_TIMEOUT, child=None) -> CheckResult:
    """Load path (.py / .ipynb) in a child process and grade it from here; the child is gone when this returns.

    seconds bounds each rule (and each cell while loading), file_seconds the whole file. A syntax error grades
    nothing and names the line. child: one started earlier with spawn.spawn (used for the first load).
    """
    t0 = time.perf_counter()
    rules = rules_of(part)
    learner = RemoteLearner(path, seconds=seconds, file_seconds=file_seconds, names=tuple(r.name for r in RULES),
                            child=child)
    try:
        loaded = learner.start()
        if loaded.get("usage_error"):
            raise UsageError(loaded["usage_error"])
        error = loaded["syntax_error"]
        if error:
            hint, key = ("the file does not compile", "syntax") if not loaded.get("fatal") else (error, "load")
            rows = [RuleResult(r.name, r.part, "error", hint=hint, key=key) for r in rules]
        else:
            kinds, notes = learner.kinds([r.name for r in rules]), loaded.get("defined", {})
            rows = [_verdict(r, learner, kinds[r.name], seconds=seconds, note=notes.get(r.name, "")) for r in rules]
    finally:
        tail = learner.close()
    return CheckResult(rows, str(path), time.perf_counter() - t0, error=error, notes=loaded["notes"] + tail)


def check_object(obj=None, *, part: "str | None" = None, seconds: float = TIMEOUT, caller_globals=None) -> CheckResult:
    """The library call: a function or class (graded under its own name), a dict namespace, a module, a path.

    With no argument the caller's globals are graded (a notebook's, when called from one).
    """
    import inspect

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
