"""Backward order: which wrong gradient came first, and float32 round-off told apart from a real bug."""

import dataclasses

import torch
from torch import Tensor

from mnist_scratch.gradcheck.autograd import TOLERANCES, GradRow, autograd_grads, compare, manual_grads, twin
from mnist_scratch.lesson.nn import Lin, Model

ROUNDOFF_REL = 1e-3  # a float32 difference beyond this is not round-off, whatever float64 says


def backward_order(model: Model) -> list[str]:
    """Row names in the order the backward pass fills them: the output, then each layer's params and input."""
    names = [f"{model.layers[-1].name}.out"]
    for i in reversed(range(len(model.layers))):
        layer = model.layers[i]
        if isinstance(layer, Lin):
            names += [f"{layer.name}.w", f"{layer.name}.b"]
        names.append(f"{model.layers[i - 1].name}.out" if i > 0 else "x")
    return names


def first_wrong(rows: list[GradRow], order: list[str]) -> tuple[str, str]:
    """(first autograd row in backward order that fails, the last one before it that passes), "" when none."""
    bad = {r.name for r in rows if r.kind == "autograd" and not r.ok}
    before = ""
    for name in order:
        if name in bad:
            return name, before
        before = name
    return "", ""


def settle_float32(model: Model, x: Tensor, targ: Tensor, rows: list[GradRow]) -> list[GradRow]:
    """Re-run a float32 check's failing tensors in float64 and say which failures are only round-off.

    A row that passes in float64 and was off by at most ROUNDOFF_REL in float32 passes, noted "within float32
    round-off"; one that fails in float64 too stays failed, noted "wrong in float64 too".
    """
    if all(r.ok for r in rows if r.kind == "autograd"):
        return rows
    m64, x64 = twin(model, dtype=torch.float64), x.to(torch.float64)
    rtol, atol = TOLERANCES[torch.float64]
    _, man = manual_grads(m64, x64, targ)
    ref = autograd_grads(m64, x64, targ)
    out = []
    for r in rows:
        if r.kind != "autograd" or r.ok:
            out.append(r)
            continue
        r64 = compare(r.name, man.get(r.name), ref.get(r.name), rtol=rtol, atol=atol)
        if r64.ok and r.max_rel <= ROUNDOFF_REL:
            out.append(dataclasses.replace(r, ok=True, note="within float32 round-off (passes in float64)"))
        elif r64.ok:
            out.append(dataclasses.replace(r, note="right in float64 but far off in float32 (overflow?)"))
        else:
            out.append(dataclasses.replace(r, note=(f"{r.note}; " if r.note else "") + "wrong in float64 too"))
    return out
