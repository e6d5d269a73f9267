"""The gate of `train --target-acc`: did the run's best valid accuracy reach the target? Pure: no I/O."""

import math
from dataclasses import dataclass

from mnist_scratch.errors import TargetMissed, UsageError


@dataclass
class Gate:
    """A target and what the run reached."""

    target: float  # a fraction: 0.975 is 97.5 %
    best: "float | None"  # the best valid accuracy over the run's epochs (from its checkpoint); None before any
    met: bool


def check_target(value: float) -> float:
    """The target as a fraction in (0, 1]; UsageError (exit 2) for a percentage or anything else."""
    if not math.isfinite(value) or not 0 < value <= 1:
        hint = f" (a fraction: {value / 100:g} for {value:g} %)" if 1 < value <= 100 else ""
        raise UsageError(f"--target-acc must be a fraction in (0, 1], got {value:g}{hint}")
    return value


def gate(best: "float | None", target: float) -> Gate:
    """Judge the run by its best valid accuracy over its epochs (a resumed run's earlier ones too), as its sealed
    checkpoint records it: never from metrics.jsonl, which anyone can edit."""
    return Gate(target, best, best is not None and best >= target)


def enforce(g: "Gate | None") -> None:
    """Raise TargetMissed (exit 3) when a target was given and missed; called after the results are shown."""
    if g is not None and not g.met:
        reached = "no epoch finished" if g.best is None else f"the best valid accuracy was {100 * g.best:.2f} %"
        raise TargetMissed(f"target missed: {reached}, below --target-acc {g.target:g} ({100 * g.target:.2f} %)")
