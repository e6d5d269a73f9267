"""Grading the lesson's functions one by one, each fed the reference inputs and upstream gradient."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from mnist_scratch.grader.core import CASES, Ctx, Failed, fd_confirm, tensors, vjp
from mnist_scratch.grader.diagnose import Diagnosis


def _g(t: Tensor):
    return getattr(t, "g", None)


def matmul(fn, ctx: Ctx) -> None:
    """Against a @ b on small shapes (three Python loops are slow)."""
    for k, (r, m, c) in enumerate(((1, 4, 3), (5, 12, 7), (3, 1, 4))):
        g = torch.Generator().manual_seed(k)
        a, b = torch.randn(r, m, generator=g), torch.randn(m, c, generator=g)
        got = ctx.call_watching(fn, a, b, watch={"a": a, "b": b})
        ctx.expect(f"matmul of {r}×{m} by {m}×{c}", got, a.double() @ b.double(), bs=0)


def normalize(fn, ctx: Ctx) -> None:
    """(x - m) / s with a mean and std that are not 0 and 1."""
    x = tensors(CASES[1], 1)["inp"] * 0.3 + 0.13
    m, s = 0.13, 0.31
    got = ctx.call_watching(fn, x, m, s, watch={"x": x})
    cands = (((x - m) * s, Diagnosis("normalize_mul", "multiplied by the std: divide by it, (x - m) / s")),
             (x / s - m, Diagnosis("normalize_order", "divided before subtracting the mean: (x - m) / s")),
             ((x - s) / m, Diagnosis("normalize_swap", "mean and std swapped: (x - m) / s")))
    ctx.expect("normalize(x, m, s)", got, (x - m) / s, bs=0, candidates=cands)


def he_init(fn, ctx: Ctx) -> None:
    """Shape and statistics: mean near 0, std within 3% of sqrt(2 / n_in) over 235,200 draws (~0.15% noise)."""
    n_in, n_out = 784, 300
    with torch.random.fork_rng():
        torch.manual_seed(0)
        w = ctx.call(fn, n_in, n_out)
    if not isinstance(w, Tensor) or tuple(w.shape) != (n_in, n_out):
        shape = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
        raise Failed("wrong", f"he_init({n_in}, {n_out}) gave {shape}, expected a ({n_in}, {n_out}) tensor", "shape")
    std, want = w.double().std().item(), math.sqrt(2 / n_in)
    rel = abs(std / want - 1)
    if abs(w.double().mean().item()) > 5 * want / math.sqrt(w.numel()):
        raise Failed("wrong", f"the mean is {w.double().mean().item():.3g}, not 0: draw from randn", "mean", rel)
    if rel <= 0.03:
        ctx.worst = max(ctx.worst, rel)
        return
    known = ((math.sqrt(1 / n_in), "he_factor2", "std is sqrt(1 / n_in), the LeCun/Xavier scale: ReLU zeroes half "
                                                 "the outputs, so He init doubles the variance, sqrt(2 / n_in)"),
             (math.sqrt(2 / n_out), "he_fan_out", "scaled by n_out: He init uses the fan-in, sqrt(2 / n_in)"),
             (1.0, "he_unscaled", "not scaled: multiply randn by sqrt(2 / n_in)"),
             (2 / n_in, "he_sqrt", "missing the square root: the std is sqrt(2 / n_in), the variance 2 / n_in"))
    for value, key, hint in known:
        if abs(std / value - 1) <= 0.03:
            raise Failed("wrong", hint, key, rel)
    raise Failed("wrong", f"std is {std:.4g}, expected sqrt(2 / n_in) = {want:.4g}", "scale", rel)


def lin(fn, ctx: Ctx, label: str = "lin(x, w, b)") -> None:
    """x @ w + b."""
    for k, case in enumerate(CASES):
        t = tensors(case, k)
        x, w, b = t["inp"], t["w"], t["b"]
        got = ctx.call_watching(fn, x, w, b, watch={"x": x, "w": w, "b": b})
        cands = ((x @ w, Diagnosis("no_bias", "the bias is not added: x @ w + b")),)
        ctx.expect(label, got, x @ w + b, bs=case.bs, candidates=cands)


def relu(fn, ctx: Ctx, label: str = "relu(x)") -> None:
    """max(x, 0) in a new tensor; x holds both signs."""
    for k, case in enumerate(CASES):
        x = tensors(case, k)["pre"]
        got = ctx.call_watching(fn, x, watch={"x": x})
        cands = ((x.clamp(max=0), Diagnosis("relu_side", "kept the negatives and zeroed the positives: "
                                                         "relu is max(x, 0), x.clamp_min(0.)")),)
        ctx.expect(label, got, x.clamp_min(0), bs=case.bs, candidates=cands)


def mse(fn, ctx: Ctx, label: str = "mse(output, targ)") -> None:
    """(output[:, 0] - targ)^2 averaged; output is (bs, 1), targ (bs,)."""
    for k, case in enumerate(CASES):
        t = tensors(case, k)
        out, targ = t["out1"], t["targ"]
        sent = ctx.targets(targ)
        got = ctx.call_watching(fn, out, sent, watch={"output": out, "targ": sent})
        bc = ((out - targ).pow(2).mean(), Diagnosis("broadcast", "(bs, 1) minus (bs,) broadcasts to (bs, bs), "
                                                                 "so this averages bs² differences: use output[:, 0]"))
        ctx.expect(label, got, (out[:, 0] - targ).pow(2).mean(), bs=case.bs,
                   candidates=(bc,) if case.bs > 1 else ())


def mse_grad(fn, ctx: Ctx) -> None:
    """inp.g = 2 (inp - targ) / bs as a (bs, 1) column."""
    for k, case in enumerate(CASES):
        t = tensors(case, k)
        inp, targ = t["out1"], t["targ"]
        sent = ctx.targets(targ)
        ret = ctx.call_watching(fn, inp, sent, watch={"inp": inp, "targ": sent})
        (want,) = vjp(lambda i, targ=targ: F.mse_loss(i[:, 0], targ), (inp,))
        ctx.expect("inp.g", _g(inp), want, bs=case.bs, returned=ret)
        if case.bs > 1:
            fd_confirm(lambda inp=inp, targ=targ: (inp[:, 0] - targ).pow(2).mean().item(), {"inp.g": (inp, inp.g)},
                       seed=k)


def relu_grad(fn, ctx: Ctx) -> None:
    """inp.g = out.g where inp > 0, else 0; inputs kept at least KINK_MARGIN away from the kink."""
    for k, case in enumerate(CASES):
        t = tensors(case, k)
        inp = t["pre"]
        out = inp.clamp_min(0)
        out.g = t["up_h"]
        ret = ctx.call_watching(fn, inp, out, watch={"inp": inp, "out": out, "out.g": out.g})
        mask = (inp > 0).double()
        cands = (
            (out.g, Diagnosis("relu_no_mask", "no ReLU mask: negatives let through; multiply out.g by (inp > 0)")),
            ((out.g > 0) * out.g, Diagnosis("relu_mask_wrong", "the mask comes from the wrong tensor (the sign of "
                                                               "out.g); the gradient passes where inp > 0")),
            (mask * out, Diagnosis("relu_mask_wrong", "the mask multiplies the layer's output, not its gradient: "
                                                      "inp.g = (inp > 0) * out.g")),
            ((1 - mask) * out.g, Diagnosis("relu_mask_wrong", "the mask is inverted: the gradient passes where "
                                                              "inp > 0, not where inp <= 0")),
        )
        (want,) = vjp(torch.relu, (inp,), out.g)
        ctx.expect("inp.g", _g(inp), want, bs=case.bs, returned=ret, candidates=cands)
        fd_confirm(lambda inp=inp, g=out.g: (g * inp.clamp_min(0)).sum().item(), {"inp.g": (inp, inp.g)}, seed=k,
                   relus=lambda inp=inp: (inp,))


def lin_grad(fn, ctx: Ctx) -> None:
    """inp.g = out.g @ w.T, w.g = inp.T @ out.g, b.g = out.g summed over the batch."""
    for k in range(len(CASES)):
        lin_grad_case(fn, ctx, k)


def lin_grad_case(call, ctx: Ctx, k: int) -> None:
    """One case of the linear layer's backward rule, through call(inp, out, w, b) (the function or Lin.bwd)."""
    case = CASES[k]
    t = tensors(case, k)
    inp, w, b = t["inp"], t["w"], t["b"]
    out = inp @ w + b
    out.g = t["upstream"]
    ret = ctx.call_watching(call, inp, out, w, b, watch={"inp": inp, "w": w, "b": b, "out.g": out.g})
    wants = vjp(lambda i, w_, b_: i @ w_ + b_, (inp, w, b), out.g)
    for label, got, want, role in zip(("inp.g", "w.g", "b.g"), (_g(inp), _g(w), _g(b)), wants,
                                      ("input", "weight", "bias"), strict=True):
        ctx.expect(label, got, want, bs=case.bs, role=role, returned=ret)
    fd_confirm(lambda: (out.g * (inp @ w + b)).sum().item(),
               {"inp.g": (inp, inp.g), "w.g": (w, w.g), "b.g": (b, b.g)}, seed=k)
