"""Mistake signatures: from a wrong result and the right one, what the learner most likely did, in plain words."""

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Diagnosis:
    """A mistake's stable key (tests and the mutant catalogue match on it) and the sentence shown to the learner."""

    key: str
    hint: str


def close(a: Tensor, b: Tensor, rtol: float = 1e-6) -> bool:
    """Same shape and |a - b| <= rtol * max|b| everywhere (a scale-relative test: entries near 0 don't blow up)."""
    if a.shape != b.shape:
        return False
    a, b = a.double(), b.double()
    if not bool(torch.isfinite(a).all()):
        return False
    scale = b.abs().max().item() if b.numel() else 0.0
    return b.numel() == 0 or (a - b).abs().max().item() <= rtol * max(scale, 1e-300)


def max_rel(a: Tensor, b: Tensor) -> float:
    """max |a - b| / max |b| (inf when shapes differ or a is not finite)."""
    if a.shape != b.shape or not bool(torch.isfinite(a.double()).all()):
        return math.inf
    diff = (a.double() - b.double()).abs().max().item() if b.numel() else 0.0
    scale = b.abs().max().item() if b.numel() else 0.0
    return diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)


def _shape(t) -> str:
    return "(" + ", ".join(map(str, t)) + ("," if len(t) == 1 else "") + ")"


def _ratio(got: Tensor, want: Tensor) -> "float | None":
    """c when got == c * want (least squares, residual tiny), else None."""
    g, w = got.double().reshape(-1), want.double().reshape(-1)
    ww = (w * w).sum().item()
    if ww == 0:
        return None
    c = (g * w).sum().item() / ww
    resid = (g - c * w).abs().max().item()
    return c if resid <= 1e-6 * max(abs(c), 1e-12) * w.abs().max().item() else None


def _offset(got: Tensor, want: Tensor) -> "float | None":
    """d when got == want + d for one constant d != 0 over at least two entries, else None."""
    diff = (got.double() - want.double()).reshape(-1)
    if diff.numel() < 2 or not bool(want.any()):  # all zeros right: no shape to be shifted
        return None
    d = diff.mean().item()
    scale = max(want.double().abs().max().item(), abs(d), 1e-300)
    if abs(d) <= 1e-6 * scale or (diff - d).abs().max().item() > 1e-6 * scale:
        return None
    return d


def _near(x: float, y: float) -> bool:
    return abs(x - y) <= 1e-6 * max(abs(y), 1.0)


def by_ratio(label: str, c: float, bs: int, role: str) -> Diagnosis:
    """The mistake a constant factor c between the learner's result and the right one points to."""
    sign = "sign flipped and " if c < 0 else ""
    a = abs(c)
    if _near(c, -1.0):
        return Diagnosis("sign", f"sign flipped: {label} is minus the right answer (ratio -1)")
    if bs > 1 and _near(a, bs):
        return Diagnosis("missing_bs", f"{sign}missing 1/bs: {label} is {bs}× the right answer, and {bs} is the "
                                       "batch size (the loss is a mean over the batch, so its gradient has a 1/bs)")
    if bs > 1 and _near(a, 1 / bs) and role == "bias":
        return Diagnosis("bias_mean", f"{sign}bias gradient is a mean over the batch (1/{bs} of the right answer): "
                                      "it is a sum, out.g.sum(0); the 1/bs is already in the loss's gradient")
    if bs > 1 and _near(a, 1 / bs):
        return Diagnosis("extra_bs", f"{sign}extra 1/bs: {label} is 1/{bs} of the right answer ({bs} is the batch "
                                     "size); the 1/bs is already in the loss's gradient, don't divide again")
    if _near(a, 0.5):
        return Diagnosis("factor2", f"{sign}missing factor 2: {label} is half the right answer "
                                    "(the derivative of (x - t)² is 2(x - t))")
    if _near(a, 2.0):
        return Diagnosis("double", f"{sign}{label} is twice the right answer: a factor 2 too many")
    return Diagnosis("scale", f"{label} is {c:.4g}× the right answer: a wrong constant factor")


def by_shape(label: str, got: Tensor, want: Tensor, bs: int) -> Diagnosis:
    """The mistake a wrong shape points to."""
    gs, ws = tuple(got.shape), tuple(want.shape)
    if bs > 1 and gs == (bs, bs) and ws in ((bs, 1), (bs,), ()):
        return Diagnosis("broadcast", f"{label} has shape {_shape(gs)} instead of {_shape(ws)}: a (bs, 1) tensor "
                                      "minus a (bs,) one broadcasts to (bs, bs); take the column, inp[:, 0] - targ, "
                                      "or index targ[:, None]")
    if len(gs) == 2 and gs == ws[::-1] and close(got.T, want):
        return Diagnosis("transposed", f"{label} is transposed: shape {_shape(gs)} instead of {_shape(ws)}; "
                                       "w is (n_in, n_out), so w.g = inp.T @ out.g")
    if bs > 1 and bs in gs and bs not in ws:
        return Diagnosis("wrong_axis", f"{label} has shape {_shape(gs)} instead of {_shape(ws)}: it keeps the batch "
                                       "axis, so it was reduced over the wrong axis; sum over axis 0, the batch")
    if len(gs) == len(ws) and sorted(gs) == sorted(ws):
        return Diagnosis("wrong_axis", f"{label} has shape {_shape(gs)} instead of {_shape(ws)}: the axes are mixed "
                                       "up (reduced or multiplied along the wrong one)")
    return Diagnosis("shape", f"{label} has shape {_shape(gs)} instead of {_shape(ws)}")


def diagnose(
    label: str,
    got: "Tensor | None",
    want: Tensor,
    *,
    bs: int,
    role: str = "",
    returned: object = None,
    candidates: "tuple[tuple[Tensor, Diagnosis], ...]" = (),
) -> Diagnosis:
    """Why got is not want: unset, returned, a known mistake (candidates), a shape, a constant factor, or values."""
    if got is None:
        if isinstance(returned, Tensor) and close(returned, want, 1e-5):
            return Diagnosis("returned", f"the result is returned, not stored: assign it to {label} "
                                         "(a backward rule sets .g on the tensors it gets and returns nothing)")
        if ".g" not in label:  # a forward rule's result: it returns its output, it stores nothing
            return Diagnosis("unset", f"{label} gave None: the function must return its result")
        return Diagnosis("unset", f"{label} is never set: the rule must store its gradient in {label}")
    for cand, d in candidates:
        if close(got, cand, 1e-5):
            return d
    if got.shape != want.shape:
        return by_shape(label, got, want, bs)
    if not bool(torch.isfinite(got.double()).all()):
        return Diagnosis("nonfinite", f"{label} holds inf or nan where the right answer is finite: an overflow "
                                      "(exp of a large number? subtract the row max first, as logsumexp does)")
    c = _ratio(got, want)
    if c is not None and not _near(c, 1.0):
        d = by_ratio(label, c, bs, role)
        if d.key != "scale" or want.numel() > 1:  # any two numbers have some ratio: only a named one means much
            return d
    off = _offset(got, want)
    if off is not None:
        return Diagnosis("offset", f"{label} is off by a constant {off:+.4g} everywhere: something adds or subtracts "
                                   "a constant (a shifted ReLU, a stray bias) that the right answer does not have")
    if want.numel() == 1:
        return Diagnosis("values", f"{label} is {got.double().reshape(-1)[0].item():.8g}; the right answer is "
                                   f"{want.double().reshape(-1)[0].item():.8g}")
    return Diagnosis("values", f"{label} is wrong (max rel diff {max_rel(got, want):.2e}) and not a constant "
                               "multiple of the right answer")
