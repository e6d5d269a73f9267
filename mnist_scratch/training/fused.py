"""FusedEngine: the model of mnist_scratch.lesson.nn and ReferenceEngine's SGD step, rewritten for speed.

Same rules as nn.py (the readable reference), fused and reordered:
- every activation and gradient lives in a buffer allocated once per batch size and refilled with `out=` ops;
- the loss gradient is kept unscaled (softmax - onehot, or out - targ) and its factor (1 or 2) / bs rides along
  as the `alpha` of the weight-gradient GEMMs, so no op spends time scaling it;
- without momentum the SGD update is folded into the weight-gradient GEMM (in the lesson's layout
  `w.addmm_(inp.T, out.g, alpha=-lr/bs)`): no gradient buffer at all; with momentum that GEMM accumulates into
  the momentum buffer instead (`buf.addmm_(inp.T, out.g, beta=momentum, alpha=1/bs)`);
- everything is computed transposed: weights stored as w.T (n_out, n_in), activations as (features, bs), so
  out.T = w.T @ inp.T. In this orientation MKL runs the thin GEMMs (the 10-wide output layer, the input
  gradient through it) several times faster, and the softmax over dim 0 of (10, bs) is faster too;
- all parameters are views into one flat tensor (and the momentum buffers into another), so weight decay and
  the momentum step are one elementwise op each over the whole model.

Measured and left out (1 thread, nh 50, bs 64; microseconds, minimum of interleaved repeats): every bias gradient in
one matrix-vector product (biases side by side after the weights, every out.g a block of one buffer) with no
closure per step: new/old step time 0.96-1.02 in paired runs, inside the noise, so the simpler layout stays; the
bias of layer 1 folded into its GEMMs needs the batch gathered into a (bs, 785) buffer with a ones column, and
index_select into that strided view took 12.4 against 6.9 for the plain gather, more than the 1.8 of the bias op it
saves; torch._fused_sgd_ for weight decay and momentum took 8.8 against 9.0 for the two elementwise ops; the loss in
the (bs, 10) layout (log_softmax over dim 1 of the transposed output, then a contiguous nll_loss) took 26.6 against
15.4 for the four loss ops here; private bindings (torch._C._nn.nll_loss_nd, the threshold_backward OpOverload's _op,
torch._addmm_activation for the ReLU) changed the step by less than its run-to-run noise.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from mnist_scratch.config import TrainConfig
from mnist_scratch.lesson.nn import Model
from mnist_scratch.training.stats import Probe

relu_bwd = torch.ops.aten.threshold_backward.grad_input  # g * (inp > 0) into a buffer, no mask tensor


class Buffers:
    """The activations and gradients of one batch size, all transposed: (features, bs)."""

    def __init__(self, n: int, widths: list[int], dtype: torch.dtype, device):
        new = lambda *shape: torch.empty(*shape, dtype=dtype, device=device)  # noqa: E731
        self.out = [new(k, n) for k in widths]  # layer i's output; ReLU runs in place on hidden ones: (n_i, bs)
        self.g = [new(k, n) for k in widths]  # d loss / d layer i's output, times bs / factor: (n_i, bs)
        self.out_rows = [t.T for t in self.out]  # the same memory seen as (bs, n_i), made once
        self.g_rows = self.g[-1].T  # the loss gradient as (bs, n_out)
        self.ones = torch.ones(n, dtype=dtype, device=device)  # b.g = g @ ones: the sum over the batch
        self.neg = torch.full((1, n), -1.0, dtype=dtype, device=device)  # the "- onehot" of softmax - onehot


class FusedEngine:
    """Hand-written backward pass and SGD with fused, preallocated ops; numerically ReferenceEngine's step."""

    name = "manual"

    def __init__(self, model: Model, cfg: TrainConfig):
        params = dict(model.params())
        self.cfg, self.depth = cfg, len(params) // 2
        w1 = params["lin1.w"]
        self.dtype, self.device = w1.dtype, w1.device
        self.factor = 1.0 if cfg.loss == "ce" else 2.0  # d loss / d out = factor / bs * (unscaled gradient)
        shapes = [tuple(params[f"lin{i}.w"].shape) for i in range(1, self.depth + 1)]  # (n_in, n_out) each
        self.widths = [b for _, b in shapes]
        self.flat = torch.empty(sum(a * b + b for a, b in shapes), dtype=self.dtype, device=self.device)
        self.mom = torch.zeros_like(self.flat) if cfg.momentum else None
        self.wt, self.b = self._views(self.flat, shapes)
        self.mwt, self.mb = self._views(self.mom, shapes) if self.mom is not None else ([], [])
        self.bcol = [b[:, None] for b in self.b]  # (n_out, 1): the bias broadcast over the batch columns
        self.w = [wt.T for wt in self.wt]  # the lesson's w (n_in, n_out): views of the same memory
        self.load_state(params)
        self.bufs: dict[int, Buffers] = {}

    @staticmethod
    def _views(flat: Tensor, shapes) -> tuple[list[Tensor], list[Tensor]]:
        """Each layer's w.T (n_out, n_in) and b (n_out,) as views into flat."""
        wts, bs, at = [], [], 0
        for a, b in shapes:
            wts.append(flat[at : at + a * b].view(b, a))
            bs.append(flat[at + a * b : at + a * b + b])
            at += a * b + b
        return wts, bs

    def _buffers(self, n: int) -> Buffers:
        if n not in self.bufs:
            self.bufs[n] = Buffers(n, self.widths, self.dtype, self.device)
        return self.bufs[n]

    def _forward(self, xb: Tensor, yb: Tensor, buf: Buffers) -> Tensor:
        """Forward and loss; leaves the unscaled loss gradient in buf.g[-1]. Returns the batch loss."""
        inp = xb.T  # (784, bs)
        for i in range(self.depth):
            out = torch.addmm(self.bcol[i], self.wt[i], inp, out=buf.out[i])  # Lin.forward, transposed: (n_out, bs)
            inp = out.relu_() if i < self.depth - 1 else out  # Relu.forward, in place
        g = buf.g[-1]
        if self.cfg.loss == "ce":
            torch.log_softmax(out, 0, out=g)  # log p: CrossEntropy.forward's inp - logsumexp(inp)
            loss = F.nll_loss(buf.g_rows, yb)  # mean of -log p[targ]
            g.exp_()  # softmax: CrossEntropy.bwd's exp(inp - logsumexp)
            g.scatter_add_(0, yb[None], buf.neg)  # softmax - onehot (CrossEntropy.bwd without the / bs)
        else:
            d = torch.sub(out[0], yb, out=g[0])  # out - targ (Mse.bwd without the 2 / bs)
            loss = torch.dot(d, d) / len(yb)  # Mse.forward: mean of squares
        return loss

    @staticmethod
    def _wgrad(g: Tensor, inp: Tensor, wt: Tensor, b: Tensor, ones: Tensor, beta: float, alpha: float) -> None:
        """Lin.bwd's w.g = inp.T @ out.g and b.g = out.g.sum(0), transposed, as wt = beta * wt + alpha * g @ inp
        and b = beta * b + alpha * g @ ones: the one weight-gradient GEMM, into whatever wt and b each caller needs."""
        wt.addmm_(g, inp, beta=beta, alpha=alpha)
        b.addmv_(g, ones, beta=beta, alpha=alpha)

    def _backward(self, xb: Tensor, buf: Buffers, wts: list[Tensor], bs: list[Tensor], beta: float, alpha: float
                  ) -> None:
        """Lin.bwd and Relu.bwd from the top layer down; layer i's gradients (g (n_out, bs) @ inp (bs, n_in), times
        factor / bs in alpha) land in wts[i] and bs[i] through _wgrad, after its input gradient used w[i]."""
        for i in reversed(range(self.depth)):
            if i > 0:  # the first layer skips the input gradient: nobody needs d loss / d images
                gi = torch.mm(self.w[i], buf.g[i], out=buf.g[i - 1])  # Lin.bwd's inp.g = out.g @ w.T, transposed
                relu_bwd(gi, buf.out[i - 1], 0, grad_input=gi)  # Relu.bwd: * (inp > 0); out > 0 iff inp > 0
            self._wgrad(buf.g[i], buf.out_rows[i - 1] if i > 0 else xb, wts[i], bs[i], buf.ones, beta, alpha)

    def step(self, xb: Tensor, yb: Tensor, lr: float) -> Tensor:
        """Forward, backward, update; returns the batch loss (before the update)."""
        buf = self._buffers(len(xb))
        loss = self._forward(xb, yb, buf)
        s, wd, mu = self.factor / len(xb), self.cfg.weight_decay, self.cfg.momentum
        if self.mom is None:  # sgd_: p -= lr * (p.g + wd * p), the gradient GEMM writing straight into p
            self._backward(xb, buf, self.wt, self.b, 1 - lr * wd, -lr * s)
        else:  # sgd_: buf = mu * buf + p.g + wd * p; p -= lr * buf
            self._backward(xb, buf, self.mwt, self.mb, mu, s)  # buf = mu * buf + p.g
            if wd:
                self.mom.add_(self.flat, alpha=wd)  # buf += wd * p, every parameter at once
            self.flat.add_(self.mom, alpha=-lr)  # p -= lr * buf, every parameter at once
        return loss

    def grads(self, xb: Tensor, yb: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The batch loss and the plain gradients (lin1.w, lin1.b, ... in nn.py's layout), without updating."""
        flat = torch.empty_like(self.flat)
        loss = self.flat_grads(xb, yb, flat)
        return loss, self._lesson_layout(flat)

    def flat_grads(self, xb: Tensor, yb: Tensor, out: Tensor, total: "int | None" = None) -> Tensor:
        """The batch loss; the gradient into `out` (laid out as self.flat), divided by `total` rows, not len(xb).

        The data-parallel step: with total = the global batch, the ranks' `out`s sum to its mean gradient. Unlike
        step() nothing is folded into the GEMMs but the scale: the update waits for the sum.
        """
        buf = self._buffers(len(xb))
        loss = self._forward(xb, yb, buf)
        gwt, gb = self._views(out, self._shapes())
        self._backward(xb, buf, gwt, gb, 0, self.factor / (total or len(xb)))  # beta 0 ignores out's old contents
        return loss

    def step_stats(self, xb: Tensor, yb: Tensor, lr: float) -> tuple[Tensor, Probe]:
        """step(), then a Probe of this batch from the buffers it leaves behind (for training statistics).

        The activations are the step's own (buf.out, seen as (bs, n)); the plain gradients are not materialised
        by step() (it folds them into the update or the momentum buffer), so this redoes the weight-gradient GEMM
        into new tensors on stats steps only: about a third of a step's matmul work, every k steps.
        """
        loss = self.step(xb, yb, lr)
        buf, flat, s = self.bufs[len(xb)], torch.empty_like(self.flat), self.factor / len(xb)
        gwt, gb = self._views(flat, self._shapes())
        for i in range(self.depth):  # the pre-update weights' gradients: buf.g and the activations are the step's
            self._wgrad(buf.g[i], buf.out_rows[i - 1] if i > 0 else xb, gwt[i], gb[i], buf.ones, 0, s)
        params = {k: v for k, v in self._named().items() if not k.startswith("momentum.")}
        return loss, Probe(list(buf.out_rows), self._lesson_layout(flat), params)

    def _shapes(self) -> list[tuple[int, int]]:
        """Each layer's (n_in, n_out), the layout of self.flat."""
        return [tuple(w.shape) for w in self.w]

    def _lesson_layout(self, flat: Tensor) -> dict[str, Tensor]:
        """A tensor laid out as self.flat, as nn.py's named parameters (w as (n_in, n_out)): views of flat."""
        wts, bs = self._views(flat, self._shapes())
        return {k: v for i, (wt, b) in enumerate(zip(wts, bs, strict=True), 1)
                for k, v in ((f"lin{i}.w", wt.T), (f"lin{i}.b", b))}

    def predict(self, x: Tensor) -> Tensor:
        """Model output (n, n_out) for x."""
        for i in range(self.depth):
            x = torch.addmm(self.b[i], x, self.w[i])
            x = x.relu_() if i < self.depth - 1 else x
        return x

    def _named(self) -> dict[str, Tensor]:
        """Parameters and momentum buffers in nn.py's names and layout, as views of the live tensors."""
        d: dict[str, Tensor] = {}
        for prefix, wts, bs in (("", self.wt, self.b), ("momentum.", self.mwt, self.mb)):
            for i, (wt, b) in enumerate(zip(wts, bs, strict=True), 1):
                d[f"{prefix}lin{i}.w"], d[f"{prefix}lin{i}.b"] = wt.T, b  # w.T.T: the lesson's (n_in, n_out)
        return d

    def state(self) -> dict[str, Tensor]:
        """Parameters and momentum buffers, named as in the checkpoint: contiguous copies sharing no memory."""
        return {k: v.clone(memory_format=torch.contiguous_format) for k, v in self._named().items()}

    def load_state(self, state: dict[str, Tensor]) -> None:
        """Copy parameters (and momentum buffers when present) from state in nn.py's layout."""
        for k, v in self._named().items():
            if k in state or not k.startswith("momentum."):  # parameters are required, momentum is optional
                v.copy_(state[k])
