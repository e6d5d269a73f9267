"""Finite differences that respect ReLU's kink: central where both steps stay on one side, one-sided otherwise."""

from collections.abc import Callable

import torch
from torch import Tensor

Sides = tuple[Tensor, ...]  # for every ReLU input of a forward pass, which entries are > 0


def _same(a: Sides, b: Sides) -> bool:
    return len(a) == len(b) and all(torch.equal(s, t) for s, t in zip(a, b, strict=True))


def _steps(f, flat: Tensor, i: int, orig: float, h: float):
    """(f(x + h), sides), (f(x - h), sides) at entry i; the entry is restored whatever happens."""
    try:
        flat[i] = orig + h
        plus = f()
        flat[i] = orig - h
        minus = f()
    finally:
        flat[i] = orig
    return plus, minus


def kink_difference(f: Callable[[], tuple[float, Sides]], flat: Tensor, i: int, h: float) -> tuple["float | None", str]:
    """d f / d flat[i] by differences, and how it was taken: "central", "one-sided" or "skipped".

    f() evaluates the loss at the current values and reports the side of 0 of every ReLU input. Across a kink
    the loss is not differentiable, so a quotient spanning it means nothing: the step shrinks (h, h/10, h/100)
    until neither side crosses one; if one side still does, the other one-sided quotient is used at h/100
    (error O(h) instead of O(h^2), still far inside the tolerance); if both do, the entry is skipped.
    """
    orig = flat[i].item()
    f0, s0 = f()
    for step in (h, h / 10, h / 100):
        (fp, sp), (fm, sm) = _steps(f, flat, i, orig, step)
        plus, minus = _same(sp, s0), _same(sm, s0)
        if plus and minus:
            return (fp - fm) / (2 * step), "central"
    if plus:
        return (fp - f0) / step, "one-sided"
    if minus:
        return (f0 - fm) / step, "one-sided"
    return None, "skipped"


def sample_differences(
    f: Callable[[], tuple[float, Sides]], p: Tensor, *, samples: int, generator: torch.Generator, h: float
) -> tuple[list[int], list[float], int, int]:
    """Differences at up to `samples` random entries of p (float64): (entries, values, one-sided count, skipped)."""
    flat = p.view(-1)
    idx, num, one_sided, skipped = [], [], 0, 0
    for i in torch.randperm(p.numel(), generator=generator).tolist():
        if len(num) == samples:
            break
        d, how = kink_difference(f, flat, i, h)
        if d is None:
            skipped += 1
            continue
        one_sided += how == "one-sided"
        idx.append(i)
        num.append(d)
    return idx, num, one_sided, skipped
