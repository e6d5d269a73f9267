"""What a check returns: one row per rule, and the whole (report.check.CheckReport shows it in Jupyter)."""

import math
from dataclasses import dataclass, field

STATUSES = ("pass", "wrong", "error", "missing", "not implemented", "autograd", "skipped")


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict: status, max relative difference to the right answer, and what is wrong in words."""

    name: str
    part: str
    status: str  # one of STATUSES; "autograd": a backward rule whose gradient came from autograd (failing);
    # "skipped": the name is only defined as a torch.nn.Module (the autograd version), nothing hand-written to grade
    max_rel: "float | None" = None  # over every case and tensor compared; None when nothing was compared
    hint: str = ""  # the diagnosis (wrong), the error line (error), a note (pass)
    key: str = ""  # the diagnosis' stable key, e.g. "missing_bs"
    traceback: tuple[str, ...] = ()  # the learner's own frames, when their code raised

    @property
    def ok(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict:
        """The JSON row autograders read: the verdict, the diagnosis and its key, the learner's traceback lines."""
        rel = self.max_rel if self.max_rel is not None and math.isfinite(self.max_rel) else None
        return {"name": self.name, "part": self.part, "status": self.status, "max_rel": rel, "hint": self.hint,
                "key": self.key, "traceback": list(self.traceback)}


@dataclass
class CheckResult:
    """Every graded rule of one source (a file, a namespace, a function), in the lesson's order."""

    rules: list[RuleResult]
    source: str
    seconds: float = 0.0
    error: str = ""  # the file could not be used at all (a syntax error)
    notes: list[str] = field(default_factory=list)  # cells that raised while the file loaded

    @property
    def ok(self) -> bool:
        """True only when at least one rule was graded and every graded rule passes."""
        return not self.error and bool(self.rules) and all(r.ok for r in self.rules)

    def __getitem__(self, name: str) -> RuleResult:
        """The row of rule `name` (KeyError when it was not graded)."""
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict:
        """{"ok", "rules": [...]} plus the source and any load error or notes."""
        d = {"ok": self.ok, "source": self.source, "seconds": round(self.seconds, 3),
             "rules": [r.to_dict() for r in self.rules]}
        if self.error:
            d["error"] = self.error
        if self.notes:
            d["notes"] = self.notes
        return d
