"""Manual `.g` against autograd's `.grad` on every tensor: the rows, the twin model, the comparison."""

from dataclasses import dataclass

import torch
from torch import Tensor

from mnist_scratch.lesson.nn import Lin, Model

# allclose(manual, autograd): |manual - autograd| <= atol * max(1, max|autograd|) + rtol * |autograd| entry by entry.
# float32: rtol ~100 ulp of relative room; float64: 1e-10 is ~450,000 ulp, enough for sums of thousands of terms
# rounded in another order, yet 5 orders tighter than float32. atol covers entries that cancel to ~0; it grows with
# the tensor's scale above 1 (an MSE gradient of ~10 rounds to ~1e-6 absolute in float32, a correct result).
TOLERANCES = {torch.float32: (1e-5, 1e-7), torch.float64: (1e-10, 1e-12)}
FD_RTOL, FD_ATOL, FD_H = 1e-3, 1e-5, 1e-6  # the tolerances torch.autograd.gradcheck uses


@dataclass(frozen=True)
class GradRow:
    """One tensor's check: manual `.g` vs autograd's `.grad`, or analytical vs numerical on sampled entries."""

    name: str
    shape: tuple[int, ...]
    kind: str  # "autograd" | "fd"
    exact: "bool | None"  # bitwise equal (None for fd)
    allclose: bool
    max_abs: float  # max |a - b|
    max_rel: float  # max |a - b| / max |b|: relative to the tensor's scale, so entries near 0 don't blow it up
    ok: bool
    checked: int  # entries compared
    skipped: int = 0  # fd: sampled entries skipped because a step of h flips some ReLU input's sign
    note: str = ""


@dataclass(frozen=True)
class GradCheck:
    """Every row of one check plus what it ran with."""

    rows: list[GradRow]
    loss: float
    dtype: str
    rtol: float
    atol: float
    fd_rtol: float = FD_RTOL
    fd_atol: float = FD_ATOL
    h: float = FD_H
    first_wrong: str = ""  # the first failing tensor in backward order ("" when all pass)
    right_before: str = ""  # the tensor just before it in backward order, which passes ("" when it is the first)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)


def perturb(model: Model, generator: torch.Generator) -> None:
    """Non-standard scales in place: each weight times a random factor in [0.5, 2), biases ~ N(0, 0.5^2)."""
    for l in model.layers:
        if isinstance(l, Lin):
            l.w.mul_(0.5 + 1.5 * torch.rand((), generator=generator).item())
            l.b.copy_(0.5 * torch.randn(l.b.shape, generator=generator, dtype=l.b.dtype))


def twin(model: Model, *, dtype: "torch.dtype | None" = None, requires_grad: bool = False) -> Model:
    """The same model on fresh copies of its parameters (optionally in another dtype, as autograd leaves)."""

    def copy(t: Tensor) -> Tensor:
        return t.detach().to(dtype or t.dtype, copy=True).requires_grad_(requires_grad)

    layers = [Lin(copy(l.w), copy(l.b)) if isinstance(l, Lin) else type(l)() for l in model.layers]
    return Model(layers, type(model.loss)())


def manual_grads(model: Model, x: Tensor, targ: Tensor) -> tuple[float, dict[str, "Tensor | None"]]:
    """Loss and `.g` of every param, intermediate and the input from the hand-written backward pass."""
    for _, p in model.params():
        if hasattr(p, "g"):
            del p.g  # a rule that forgets a gradient must show up as missing, not as last call's value
    x = x.detach().clone()
    with torch.no_grad():
        loss = model(x, targ)
        model.backward(input_grad=True)
    return loss.item(), {n: getattr(t, "g", None) for n, t in model.params() + model.intermediates()}


def autograd_grads(model: Model, x: Tensor, targ: Tensor) -> dict[str, "Tensor | None"]:
    """`.grad` of the same tensors from autograd, running the same forward code on cloned leaves."""
    ref = twin(model, requires_grad=True)
    with torch.enable_grad():
        loss = ref(x.detach().clone().requires_grad_(), targ)
        for l in ref.layers:
            l.out.retain_grad()
        loss.backward()
    return {n: t.grad for n, t in ref.params() + ref.intermediates()}


def diffs(a: Tensor, b: Tensor) -> tuple[float, float]:
    """max |a - b| and that relative to max |b|."""
    max_abs = (a - b).abs().max().item()
    scale = b.abs().max().item()
    return max_abs, (max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf")))


def compare(name: str, g: "Tensor | None", ref: "Tensor | None", *, rtol: float, atol: float) -> GradRow:
    """One autograd row: manual g against autograd's ref."""
    shape = tuple(ref.shape) if ref is not None else tuple(g.shape) if g is not None else ()
    if g is None or ref is None or g.shape != ref.shape:
        note = "no manual gradient" if g is None else "no autograd gradient" if ref is None else "shape differs"
        return GradRow(name, shape, "autograd", False, False, float("inf"), float("inf"), False, 0, note=note)
    max_abs, max_rel = diffs(g, ref)
    close = torch.allclose(g, ref, rtol=rtol, atol=atol * max(1.0, ref.abs().max().item()))
    return GradRow(name, shape, "autograd", torch.equal(g, ref), close, max_abs, max_rel, close, g.numel())
