"""Grading the layer classes: Module's bookkeeping, then each layer's forward and bwd on their own."""

import torch

from mnist_scratch.grader import funcs
from mnist_scratch.grader.core import CASES, Ctx, Failed, tensors


def module(cls, ctx: Ctx) -> None:
    """A two-input layer built on the learner's Module: call keeps args and out, backward() calls bwd."""

    def forward(self, x, k):
        return x * k

    def bwd(self, out, x, k):
        x.g = k * out.g

    scale = type("Scale", (cls,), {"forward": forward, "bwd": bwd})
    t = tensors(CASES[1], 0)
    x = t["inp"]
    layer = ctx.call(scale)
    y = ctx.call(layer, x, 3.0)
    ctx.expect("calling a layer", y, 3.0 * x, bs=0)
    if getattr(layer, "out", None) is not y:
        raise Failed("wrong", "__call__ must keep its result in self.out (backward reads it from there)", "module_out")
    args = getattr(layer, "args", None)
    if not (isinstance(args, tuple) and len(args) == 2 and args[0] is x and args[1] == 3.0):
        raise Failed("wrong", "__call__ must keep all its inputs in self.args, a tuple (backward passes them to "
                              "bwd)", "module_args")
    y.g = torch.ones_like(y) * 0.5
    ctx.call(layer.backward)
    if getattr(x, "g", None) is None:
        raise Failed("wrong", "backward() must call self.bwd(self.out, *self.args)", "module_backward")
    ctx.expect("x.g after backward()", x.g, 1.5 * torch.ones_like(x), bs=0)


def lin(cls, ctx: Ctx) -> None:
    """Lin(w, b): forward against x @ w + b, bwd against the linear layer's rule."""
    funcs.lin(lambda x, w, b: cls(w, b).forward(x), ctx, "Lin(w, b).forward(x)")

    def bwd(inp, out, w, b):
        layer = cls(w, b)
        layer.args, layer.out = (inp,), out  # what Module.__call__ would have kept: no reliance on their Module
        layer.bwd(out, inp)

    for k in range(len(CASES)):
        funcs.lin_grad_case(bwd, ctx, k)


def relu(cls, ctx: Ctx) -> None:
    """Relu(): forward against clamp_min(0), bwd against the mask rule."""
    funcs.relu(lambda x: cls().forward(x), ctx, "Relu().forward(x)")

    def bwd(inp, out):
        layer = cls()
        layer.args, layer.out = (inp,), out
        layer.bwd(out, inp)

    funcs.relu_grad(bwd, ctx)


def mse(cls, ctx: Ctx) -> None:
    """Mse(): forward against the lesson's loss, bwd against 2 (inp - targ) / bs."""
    funcs.mse(lambda inp, targ: cls().forward(inp, targ), ctx, "Mse().forward(inp, targ)")

    def bwd(inp, targ):
        layer = cls()
        loss = (inp[:, 0] - targ).pow(2).mean()
        layer.args, layer.out = (inp, targ), loss
        layer.bwd(loss, inp, targ)

    funcs.mse_grad(bwd, ctx)
