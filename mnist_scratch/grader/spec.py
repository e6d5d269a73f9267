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
    grade: Callable  # grade(name, ctx): returns on pass, raises core.Failed otherwise


def _function(grade: Callable) -> Callable:
    """A function rule's grader, fed the learner's function as an operation the context can call."""
    return lambda name, ctx: grade(ctx.op("call", name), ctx)


_GRADERS = {
    "matmul": _function(funcs.matmul), "normalize": _function(funcs.normalize), "he_init": _function(funcs.he_init),
    "lin": _function(funcs.lin), "relu": _function(funcs.relu), "mse": _function(funcs.mse),
    "mse_grad": _function(funcs.mse_grad), "relu_grad": _function(funcs.relu_grad),
    "lin_grad": _function(funcs.lin_grad), "forward_and_backward": chain.forward_and_backward,
    "Module": classes.module, "Lin": classes.lin, "Relu": classes.relu, "Mse": classes.mse, "Model": chain.model,
    "log_softmax": _function(softmax.log_softmax), "nll": _function(softmax.nll),
    "cross_entropy_grad": _function(softmax.cross_entropy_grad),
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
