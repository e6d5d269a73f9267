"""Manual `.g` against float64 central differences on sampled entries of every parameter."""

import torch
from torch import Tensor

from mnist_scratch.gradcheck.autograd import FD_ATOL, FD_H, FD_RTOL, GradRow, diffs, twin
from mnist_scratch.lesson.nn import Model, Relu


def _relu_sides(model: Model) -> list[Tensor]:
    """Which side of 0 every ReLU input of the last forward lies on."""
    return [l.args[0] > 0 for l in model.layers if isinstance(l, Relu)]


def _same(a: list[Tensor], b: list[Tensor]) -> bool:
    return all(torch.equal(s, t) for s, t in zip(a, b, strict=True))


def fd_rows(
    model: Model, x: Tensor, targ: Tensor, *, generator: torch.Generator, samples: int, h: float = FD_H
) -> list[GradRow]:
    """Central differences in float64 on up to `samples` random entries of every parameter vs the manual `.g`.

    An entry is skipped (and another drawn) when stepping it by ±h flips the side of some ReLU input: the loss is
    not differentiable across that kink, so the difference quotient means nothing there.
    """
    m, x = twin(model, dtype=torch.float64), x.to(torch.float64)
    rows = []
    with torch.no_grad():
        m(x, targ)
        m.backward()
        base = _relu_sides(m)
        for name, p in m.params():
            flat, gflat = p.view(-1), p.g.reshape(-1)
            num, ana, skipped = [], [], 0
            for i in torch.randperm(p.numel(), generator=generator).tolist():
                if len(num) == samples:
                    break
                orig = flat[i].item()
                flat[i] = orig + h
                fp, side_p = m(x, targ).item(), _relu_sides(m)
                flat[i] = orig - h
                fm, side_m = m(x, targ).item(), _relu_sides(m)
                flat[i] = orig
                if not (_same(side_p, base) and _same(side_m, base)):
                    skipped += 1
                    continue
                num.append((fp - fm) / (2 * h))
                ana.append(gflat[i].item())
            rows.append(_fd_row(name, tuple(p.shape), torch.tensor(ana), torch.tensor(num), skipped))
    return rows


def _fd_row(name: str, shape: tuple[int, ...], ana: Tensor, num: Tensor, skipped: int) -> GradRow:
    """One fd row: analytical vs numerical at FD_RTOL / FD_ATOL (as torch.autograd.gradcheck)."""
    if ana.numel() == 0:
        return GradRow(name, shape, "fd", None, False, float("inf"), float("inf"), False, 0, skipped, "no entry")
    max_abs, max_rel = diffs(ana, num)
    close = torch.allclose(ana, num, rtol=FD_RTOL, atol=FD_ATOL)
    return GradRow(name, shape, "fd", None, close, max_abs, max_rel, close, ana.numel(), skipped)
