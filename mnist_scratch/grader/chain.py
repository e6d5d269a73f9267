"""Grading the chained backward passes as a whole, naming the first tensor in backward order that is wrong."""

import re

import torch
from torch import Tensor

from mnist_scratch.grader.core import CASES, Ctx, Failed, Op, fd_confirm, rtol_of
from mnist_scratch.grader.diagnose import Diagnosis, close, diagnose, max_rel

# the tensors of lin -> relu -> lin -> mse in the order the backward pass fills their .g
ORDER = ("out", "w2", "b2", "l2", "l1", "w1", "b1", "inp")
SAY = {"out": "out (the model output, mse's input)", "w2": "w2", "b2": "b2", "l2": "l2 (relu's output, lin2's input)",
       "l1": "l1 (relu's input)", "w1": "w1", "b1": "b1", "inp": "inp (the model input)"}
ROLE = {"w1": "weight", "w2": "weight", "b1": "bias", "b2": "bias"}


def model_tensors(k: int) -> dict[str, Tensor]:
    """Case k as the lesson's model: n_in inputs, nh hidden units, one output, float targets."""
    case = CASES[k]
    g = torch.Generator().manual_seed(100 + k)
    nh = case.n_out + 2
    t = dict(inp=torch.randn(case.bs, case.n_in, generator=g, dtype=torch.float64) * 1.5,
             w1=torch.randn(case.n_in, nh, generator=g, dtype=torch.float64) * 0.6,
             b1=torch.randn(nh, generator=g, dtype=torch.float64) * 0.5 + 0.1,
             w2=torch.randn(nh, 1, generator=g, dtype=torch.float64) * 0.8,
             b2=torch.randn(1, generator=g, dtype=torch.float64) + 2.0,
             targ=torch.randint(0, 10, (case.bs,), generator=g).double())
    # keep relu's inputs off its kink: shift b1 where some pre-activation is nearly 0
    while bool(((t["inp"] @ t["w1"] + t["b1"]).abs() < 1e-3).any()):
        t["b1"] += 0.01 * ((t["inp"] @ t["w1"] + t["b1"]).abs() < 1e-3).any(0)
    return t


def reference(t: dict[str, Tensor]) -> tuple[float, dict[str, Tensor]]:
    """The loss and autograd's gradient of every tensor in ORDER (float64)."""
    leaves = {k: t[k].clone().requires_grad_() for k in ("inp", "w1", "b1", "w2", "b2")}
    with torch.enable_grad():
        l1 = leaves["inp"] @ leaves["w1"] + leaves["b1"]
        l2 = l1.clamp_min(0)
        out = l2 @ leaves["w2"] + leaves["b2"]
        for v in (l1, l2, out):
            v.retain_grad()
        loss = (out[:, 0] - t["targ"]).pow(2).mean()
        loss.backward()
    grads = {k: v.grad for k, v in leaves.items()} | {"l1": l1.grad, "l2": l2.grad, "out": out.grad}
    return loss.item(), grads


def first_wrong(found: dict[str, "Tensor | None"], ref: dict[str, Tensor], bs: int, ctx: Ctx) -> None:
    """Walk ORDER; at the first wrong gradient fail with where it is and what is right before it."""
    right = []
    for name in ORDER:
        if name not in found:  # the learner's code never exposed this tensor (inlined): judge the next one
            continue
        got = found[name]
        if isinstance(got, Tensor) and close(got, ref[name], rtol_of(got)):
            ctx.worst = max(ctx.worst, max_rel(got, ref[name]))
            right.append(name)
            continue
        cands = ((ref["l2"], Diagnosis("relu_no_mask", "no ReLU mask: negatives let through")),) if name == "l1" \
            else ()
        d = diagnose(f"{name}.g", got if isinstance(got, Tensor) else None, ref[name], bs=bs,
                     role=ROLE.get(name, ""), candidates=cands)
        where = f"everything from the loss up to {SAY[right[-1]]} is right" if right else \
            "it is the first gradient in backward order"
        hint = d.hint if d.hint.startswith(name) else d.hint[:1].upper() + d.hint[1:]  # w2.g stays w2.g
        raise Failed("wrong", f"the gradient reaching {SAY[name]} is wrong; {where}. {hint}", f"first_wrong:{name}",
                     max_rel=max_rel(got, ref[name]) if isinstance(got, Tensor) else None)


def _fd(t: dict[str, Tensor], grads: dict[str, "Tensor | None"], k: int) -> None:
    """Kink-aware central differences of the lesson's loss against the learner's parameter gradients."""
    state = {}

    def loss():
        state["l1"] = t["inp"] @ t["w1"] + t["b1"]
        out = state["l1"].clamp_min(0) @ t["w2"] + t["b2"]
        return (out[:, 0] - t["targ"]).pow(2).mean().item()

    params = {f"{n}.g": (t[n], grads[n]) for n in ("w2", "b2", "w1", "b1") if grads.get(n) is not None}
    fd_confirm(loss, params, seed=k, relus=lambda: (state["l1"],))


def forward_of(t: dict[str, Tensor]) -> dict[str, Tensor]:
    """The lesson's forward intermediates l1, l2 and out for case tensors t."""
    l1 = t["inp"] @ t["w1"] + t["b1"]
    l2 = l1.clamp_min(0)
    return {"l1": l1, "l2": l2, "out": l2 @ t["w2"] + t["b2"]}


def check_forward(outs: dict, t: dict[str, Tensor], bs: int, ctx: Ctx) -> None:
    """The learner's own forward intermediates, in forward order: a wrong one is what to fix first.

    A backward pass that matches a wrong forward (a ReLU shifted by -0.5 and its mask) is told about the forward,
    not about a gradient that is right for what their forward computed.
    """
    want = forward_of(t)
    for name in ("l1", "l2", "out"):
        got = outs.get(name)
        if not isinstance(got, Tensor) or close(got, want[name], max(1e-6, rtol_of(got))):
            continue
        d = diagnose(name, got, want[name], bs=bs)
        raise Failed("wrong", f"the forward pass is wrong at {SAY[name]}: {d.hint}; the gradients are judged once "
                              "the forward is right", f"forward:{name}", max_rel=max_rel(got, want[name]))


DTYPE_CLASH = re.compile(r"dtype|scalar type|Float|Double|float != double|double != float")
FLOAT32_NOTE = "graded in float32: the code mixes float32 with the lesson's float64 tensors"


def run_case(ctx: Ctx, op: Op, t: dict[str, Tensor]):
    """(the case tensors as graded, the op's answer): float64 first; float32 when their code cannot take float64.

    The returned tensors are float64 copies of what the learner's code saw, so the references match its inputs.
    """
    try:
        return t, ctx.call(op, t | {"targ": ctx.targets(t["targ"])})
    except Failed as f:
        if f.status != "error" or not DTYPE_CLASH.search(f.hint):
            raise
    t32 = {k: v.float() if v.is_floating_point() else v for k, v in t.items()}
    value = ctx.call(op, t32 | {"targ": ctx.targets(t32["targ"])})
    if FLOAT32_NOTE not in ctx.notes:
        ctx.notes.append(FLOAT32_NOTE)
    return {k: v.double() if v.is_floating_point() else v for k, v in t32.items()}, value


def forward_and_backward(fn: Op, ctx: Ctx) -> None:
    """The learner's forward_and_backward with the globals w1, b1, w2, b2 set to each case's tensors.

    Their lin_grad / relu_grad / mse_grad calls are watched on the way (adapters.chain_run), so the intermediates
    l1, l2 and out can be found and judged too.
    """
    name = fn.bound[0]
    if ctx.learner.kinds([name])[name] != "function":
        raise Failed("error", "forward_and_backward must be a plain function (it reads the globals w1, b1, w2, b2)",
                     "type")
    for k, case in enumerate(CASES):
        t, (outs, found) = run_case(ctx, ctx.op("chain_run", name), model_tensors(k))
        check_forward(outs, t, case.bs, ctx)
        _, ref = reference(t)
        first_wrong(found, ref, case.bs, ctx)
        _fd(t, found, k)


def model(name: str, ctx: Ctx) -> None:
    """Model(w1, b1, w2, b2): the loss it returns, then backward() judged tensor by tensor in backward order."""
    for k, case in enumerate(CASES):
        t, (loss, outs, found) = run_case(ctx, ctx.op("model_run", name), model_tensors(k))
        check_forward(outs, t, case.bs, ctx)
        want, ref = reference(t)
        if isinstance(loss, Tensor) and loss.numel() == 1:
            loss = loss.reshape(())  # a (1,)-shaped loss is the same number
        ctx.expect("the loss model(x, targ) returns", loss, torch.tensor(want, dtype=torch.float64), bs=case.bs)
        first_wrong(found, ref, case.bs, ctx)
        _fd(t, found, k)
