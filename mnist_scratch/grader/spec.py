"""The lesson's rules in order, each with its part, what kind of object it is and how it is graded."""

from collections.abc import Callable
from dataclasses import dataclass

from mnist_scratch.grader import chain, classes, funcs, softmax
from mnist_scratch.grader.solutions import BY_NAME, PARTS


@dataclass(frozen=True)
class Rule:
    """One gradable name of the lesson."""

    name: str
    part: str
    kind: str  # "def" or "class"
    grade: Callable  # grade(fn, ctx) for a def (fn: an Op calling it), grade(name, ctx) for a class; raises Failed

_GRADERS = {
    "matmul": funcs.matmul, "normalize": funcs.normalize, "he_init": funcs.he_init,
    "lin": funcs.lin, "relu": funcs.relu, "mse": funcs.mse,
    "mse_grad": funcs.mse_grad, "relu_grad": funcs.relu_grad,
    "lin_grad": funcs.lin_grad, "forward_and_backward": chain.forward_and_backward,
    "Module": classes.module, "Lin": classes.lin, "Relu": classes.relu, "Mse": classes.mse, "Model": chain.model,
    "log_softmax": softmax.log_softmax, "nll": softmax.nll,
    "cross_entropy_grad": softmax.cross_entropy_grad,
}
RULES = tuple(Rule(name, BY_NAME[name].part, BY_NAME[name].kind, grade) for name, grade in _GRADERS.items())
assert [r.name for r in RULES] == [n for n in BY_NAME], "the rules follow the exercise's order"
BY_RULE = {r.name: r for r in RULES}


def rules_of(part: "str | None") -> tuple[Rule, ...]:
    """Every rule, or those of one part."""
    if part is None:
        return RULES
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    return tuple(r for r in RULES if r.part == part)
