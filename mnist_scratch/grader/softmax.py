"""Grading the cross-entropy extension: log_softmax, nll and the gradient w.r.t. the logits."""

import torch.nn.functional as F

from mnist_scratch.grader.core import CASES, Ctx, fd_confirm, tensors, vjp
from mnist_scratch.grader.diagnose import Diagnosis


def _g(t):
    return getattr(t, "g", None)


def log_softmax(fn, ctx: Ctx) -> None:
    """Row-wise log-softmax, also on logits large enough to overflow exp."""
    for k, case in enumerate(CASES):
        x = tensors(case, k)["logits"]
        for scale in (1.0, 400.0):
            xs = x * scale
            got = ctx.call_watching(fn, xs, watch={"x": xs})
            dim0 = (F.log_softmax(xs, 0), Diagnosis("softmax_dim", "softmax over the wrong dimension (the batch, "
                                                                   "dim 0): normalize each row, dim -1"))
            ctx.expect("log_softmax(x)" + (" for large logits" if scale > 1 else ""), got, F.log_softmax(xs, -1),
                       bs=case.bs, candidates=(dim0,) if case.bs > 1 else ())


def nll(fn, ctx: Ctx) -> None:
    """Mean of -input[i, target[i]]."""
    for k, case in enumerate(CASES):
        t = tensors(case, k)
        inp, targ = F.log_softmax(t["logits"], -1), t["labels"]
        got = ctx.call_watching(fn, inp, targ, watch={"input": inp, "target": targ})
        bc = (-inp[:, targ].mean(), Diagnosis("broadcast", "input[:, target] picks a (bs, bs) block: take one "
                                                           "entry per row, input[range(bs), target]"))
        ctx.expect("nll(input, target)", got, F.nll_loss(inp, targ), bs=case.bs, candidates=(bc,))


def cross_entropy_grad(fn, ctx: Ctx) -> None:
    """inp.g = (softmax(inp) - onehot(targ)) / bs."""
    for k, case in enumerate(CASES):
        t = tensors(case, k)
        inp, targ = t["logits"], t["labels"]
        ret = ctx.call_watching(fn, inp, targ, watch={"inp": inp, "targ": targ})
        onehot = F.one_hot(targ, 10).double()
        sm, sm0 = inp.softmax(-1), inp.softmax(0)
        dim = Diagnosis("softmax_dim", "softmax over the wrong dimension (the batch, dim 0): each row of logits "
                                       "is normalized on its own, dim -1")
        cands = ((sm / case.bs, Diagnosis("missing_onehot", "missing - onehot: the gradient is "
                                                            "(softmax - onehot) / bs")),
                 ((sm0 - onehot) / case.bs, dim), (sm0 / case.bs, dim)) if case.bs > 1 else (
            (sm / case.bs, Diagnosis("missing_onehot", "missing - onehot: the gradient is (softmax - onehot) / bs")),)
        (want,) = vjp(lambda i, targ=targ: F.cross_entropy(i, targ), (inp,))
        ctx.expect("inp.g", _g(inp), want, bs=case.bs, returned=ret, candidates=cands)
        fd_confirm(lambda inp=inp, targ=targ: F.cross_entropy(inp, targ).item(), {"inp.g": (inp, inp.g)}, seed=k)
