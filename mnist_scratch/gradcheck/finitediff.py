"""Manual `.g` against float64 finite differences (kink-aware) on sampled entries of every parameter."""

import dataclasses

import torch
from torch import Tensor

from mnist_scratch.gradcheck.autograd import FD_ATOL, FD_H, FD_RTOL, GradRow, diffs, twin
from mnist_scratch.gradcheck.kink import sample_differences
from mnist_scratch.lesson.nn import Model, Relu


def _relu_sides(model: Model) -> list[Tensor]:
    """Which side of 0 every ReLU input of the last forward lies on."""
    return [l.args[0] > 0 for l in model.layers if isinstance(l, Relu)]


def fd_rows(
    model: Model, x: Tensor, targ: Tensor, *, generator: torch.Generator, samples: int, h: float = FD_H
) -> list[GradRow]:
    """Differences in float64 on up to `samples` random entries of every parameter vs the manual `.g`.

    Kink-aware (gradcheck.kink): where a step of h would flip the side of some ReLU input the step shrinks, then
    the one-sided quotient on the unflipped side is used; an entry where both sides flip is skipped (another is
    drawn). The loss is not differentiable across a kink, so a quotient spanning one means nothing.
    """
    m, x = twin(model, dtype=torch.float64), x.to(torch.float64)
    rows = []

    def f():
        return m(x, targ).item(), tuple(_relu_sides(m))

    with torch.no_grad():
        m(x, targ)
        m.backward()
        for name, p in m.params():
            if getattr(p, "g", None) is None:
                rows.append(GradRow(name, tuple(p.shape), "fd", None, False, float("inf"), float("inf"), False, 0,
                                    note="no manual gradient"))
                continue
            gflat = p.g.reshape(-1).clone()  # f() reruns the forward only, but keep the analytical values apart
            idx, num, one_sided, skipped = sample_differences(f, p, samples=samples, generator=generator, h=h)
            ana = torch.tensor([gflat[i].item() for i in idx], dtype=torch.float64)
            row = _fd_row(name, tuple(p.shape), ana, torch.tensor(num, dtype=torch.float64), skipped)
            if one_sided:
                note = f"{one_sided} one-sided (next to a ReLU kink)"
                row = dataclasses.replace(row, note=f"{row.note}; {note}" if row.note else note)
            rows.append(row)
    return rows


def _fd_row(name: str, shape: tuple[int, ...], ana: Tensor, num: Tensor, skipped: int) -> GradRow:
    """One fd row: analytical vs numerical at FD_RTOL / FD_ATOL (as torch.autograd.gradcheck)."""
    if ana.numel() == 0:
        return GradRow(name, shape, "fd", None, False, float("inf"), float("inf"), False, 0, skipped, "no entry")
    max_abs, max_rel = diffs(ana, num)
    close = torch.allclose(ana, num, rtol=FD_RTOL, atol=FD_ATOL)
    return GradRow(name, shape, "fd", None, close, max_abs, max_rel, close, ana.numel(), skipped)
