"""The plain hand-written loop: what a careful user writes for one hidden layer, with nothing else per step.

The bench's yardstick for the project's trainer ("never slower than this"): the batch gathered into preallocated
buffers with index_select, the five GEMMs, fused elementwise ops, plain SGD; no callbacks, no loss read-back until
the end, no statistics, no non-finite checks. The same rules as mnist_scratch.lesson.nn in the lesson's layout.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

relu_bwd = torch.ops.aten.threshold_backward.grad_input  # g * (inp > 0) into a buffer


class PlainLoop:
    """784 -> nh -> 10 with softmax cross-entropy, trained by SGD without momentum or decay (the bench's recipe)."""

    def __init__(self, params: dict[str, Tensor], bs: int):
        self.w1, self.b1 = params["lin1.w"].clone(), params["lin1.b"].clone()  # (784, nh), (nh,)
        self.w2, self.b2 = params["lin2.w"].clone(), params["lin2.b"].clone()  # (nh, 10), (10,)
        new = lambda *s: torch.empty(*s, dtype=self.w1.dtype, device=self.w1.device)  # noqa: E731
        nh, n_out = self.w2.shape
        self.xb, self.yb = new(bs, self.w1.shape[0]), torch.empty(bs, dtype=torch.long, device=self.w1.device)
        self.h, self.g, self.dh = new(bs, nh), new(bs, n_out), new(bs, nh)  # (bs, nh), (bs, 10), (bs, nh)
        self.neg = torch.full((bs, 1), -1.0, dtype=self.w1.dtype, device=self.w1.device)

    def run(self, x: Tensor, y: Tensor, batches: list[Tensor], steps: int, lr: float) -> Tensor:
        """`steps` SGD steps over batches (cycled); every step's loss, read back once at the end."""
        xb, yb, h, g, dh = self.xb, self.yb, self.h, self.g, self.dh
        a = -lr / len(xb)
        losses = []
        for k in range(steps):
            idx = batches[k % len(batches)]
            torch.index_select(x, 0, idx, out=xb), torch.index_select(y, 0, idx, out=yb)
            torch.addmm(self.b1, xb, self.w1, out=h).relu_()  # (bs, nh)
            torch.addmm(self.b2, h, self.w2, out=g)  # (bs, 10)
            torch.log_softmax(g, 1, out=g)
            losses.append(F.nll_loss(g, yb))
            g.exp_().scatter_add_(1, yb[:, None], self.neg)  # softmax - onehot: d loss / d out, times bs
            torch.mm(g, self.w2.T, out=dh)  # before w2 moves
            relu_bwd(dh, h, 0, grad_input=dh)
            self.w2.addmm_(h.T, g, alpha=a)
            self.b2.add_(g.sum(0), alpha=a)
            self.w1.addmm_(xb.T, dh, alpha=a)
            self.b1.add_(dh.sum(0), alpha=a)
        return torch.stack(losses)
