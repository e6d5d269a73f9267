"""Grading the layer classes: Module's bookkeeping, then each layer's forward and backward on their own.

Both courses' APIs are right: forward through `forward` or `__call__`, backward through `bwd(out, *args)` or
`backward()`, the saved tensors under any names (adapters.layer_forward / layer_backward drive them).
"""

import torch

from mnist_scratch.grader import funcs
from mnist_scratch.grader.core import CASES, Ctx, Failed, tensors


def module(name: str, ctx: Ctx) -> None:
    """A two-input layer built on the learner's Module: calling it gives forward's result, backward() calls bwd."""
    x = tensors(CASES[1], 0)["inp"]
    y, xg, kept_out, kept_args, error = ctx.call(ctx.op("module_probe", name), x, 3.0)
    ctx.expect("calling a layer", y, 3.0 * x, bs=0)
    want = 1.5 * torch.ones_like(x)
    if isinstance(xg, torch.Tensor) and xg.shape == want.shape and torch.allclose(xg.double(), want):
        return
    if not kept_out:
        raise Failed("wrong", "__call__ must keep its result in self.out (backward reads it from there)", "module_out")
    if not kept_args:
        raise Failed("wrong", "__call__ must keep all its inputs in self.args, a tuple (backward passes them to "
                              "bwd)", "module_args")
    if xg is None:
        raise Failed("wrong", "backward() must call self.bwd(self.out, *self.args)" + (f" ({error})" if error else ""),
                     "module_backward")
    ctx.expect("x.g after backward()", xg, want, bs=0)


def lin(name: str, ctx: Ctx) -> None:
    """Lin(w, b): forward against x @ w + b, backward against the linear layer's rule."""
    funcs.lin(ctx.op("layer_forward", name, 2), ctx, "Lin(w, b).forward(x)")
    for k in range(len(CASES)):
        funcs.lin_grad_case(ctx.op("layer_backward", name, 2, True), ctx, k)


def relu(name: str, ctx: Ctx) -> None:
    """Relu(): forward against clamp_min(0), backward against the mask rule."""
    funcs.relu(ctx.op("layer_forward", name, 0), ctx, "Relu().forward(x)")
    funcs.relu_grad(ctx.op("layer_backward", name, 0, True), ctx)


def mse(name: str, ctx: Ctx) -> None:
    """Mse(): forward against the lesson's loss, backward against 2 (inp - targ) / bs."""
    funcs.mse(ctx.op("layer_forward", name, 0), ctx, "Mse().forward(inp, targ)")
    funcs.mse_grad(ctx.op("layer_backward", name, 0, False), ctx)
