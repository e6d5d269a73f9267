"""The lesson's model with a hand-written backward pass: each layer's forward and its gradient rule side by side.

Manual gradients live in `.g` (never autograd's `.grad`); nothing here needs autograd, so the training path runs
under `torch.no_grad()`. He init sits here too: it is what makes this stack of layers trainable.
"""

import math

import torch
from torch import Tensor

__all__ = ["Module", "Lin", "Relu", "Mse", "CrossEntropy", "Model", "kaiming_normal", "make_model"]


def kaiming_normal(
    n_in: int, n_out: int, *, generator: torch.Generator, dtype: torch.dtype = torch.float32, device="cpu"
) -> Tensor:
    """An (n_in, n_out) weight drawn from N(0, 2/n_in): keeps a ReLU layer's output variance at its input's.

    Same draws as torch.nn.init.kaiming_normal_(w, mode="fan_out", generator=generator) on an (n_in, n_out)
    tensor (torch calls size(0) the fan-out; here it is the fan-in). The numbers are drawn on the generator's
    device and then moved, so one seed gives the same weights wherever the model lives.
    """
    std = math.sqrt(2.0) / math.sqrt(n_in)  # sqrt(2 / n_in), rounded as torch rounds it
    w = torch.empty(n_in, n_out, dtype=dtype, device=generator.device)
    return w.normal_(0.0, std, generator=generator).to(device)


class Module:
    """A layer: calling it keeps its inputs (`.args`) and output (`.out`) for the backward pass."""

    def __call__(self, *args):
        self.args = args
        self.out = self.forward(*args)
        return self.out

    def forward(self, *args) -> Tensor:
        """The layer's output from its inputs."""
        raise NotImplementedError

    def backward(self, inp_g: bool = True):
        """Fill `.g` of the inputs (the first one only when inp_g) and of the parameters from `self.out.g`."""
        self.bwd(self.out, *self.args, inp_g=inp_g)

    def bwd(self, out: Tensor, *args, inp_g: bool = True):
        """The backward rule: from out.g to the inputs' (and parameters') .g."""
        raise NotImplementedError


class Lin(Module):
    """Affine layer out = inp @ w + b, with w stored (n_in, n_out) as in the lesson."""

    def __init__(self, w: Tensor, b: Tensor):
        self.w, self.b = w, b  # (n_in, n_out), (n_out,)

    def forward(self, inp):
        return torch.addmm(self.b, inp, self.w)  # (bs, n_out) = inp @ w + b in one kernel

    def bwd(self, out, inp, inp_g=True):
        if inp_g:  # the first layer skips this in training: nobody needs d loss / d images
            inp.g = out.g @ self.w.T  # (bs, n_in)
        self.w.g = inp.T @ out.g  # (n_in, n_out): the sum over the batch of outer products, as one matmul
        self.b.g = out.g.sum(0)  # (n_out,)


class Relu(Module):
    """max(inp, 0); the gradient passes where inp > 0 (at exactly 0 it is 0, as in torch.relu's rule)."""

    def forward(self, inp):
        return torch.relu(inp)

    def bwd(self, out, inp, inp_g=True):
        if inp_g:
            inp.g = out.g * (inp > 0)


class Mse(Module):
    """The lesson's loss: one output regressed onto the digit value, mean over the batch."""

    def forward(self, inp, targ):
        return (inp[:, 0] - targ.to(inp.dtype)).pow(2).mean()  # inp (bs, 1), targ (bs,)

    def bwd(self, out, inp, targ, inp_g=True):
        inp.g = 2.0 * (inp - targ.to(inp.dtype)[:, None]) / inp.shape[0]  # (bs, 1)


class CrossEntropy(Module):
    """Softmax cross-entropy on logits (bs, 10) and integer labels (bs,); log-softmax through logsumexp."""

    def forward(self, inp, targ):
        lse = inp.logsumexp(-1)  # (bs,): stable log of the softmax denominator
        return (lse - inp.gather(1, targ[:, None])[:, 0]).mean()

    def bwd(self, out, inp, targ, inp_g=True):
        g = (inp - inp.logsumexp(-1, keepdim=True)).exp()  # (bs, 10) softmax
        g[torch.arange(inp.shape[0], device=inp.device), targ] -= 1.0  # softmax - onehot
        inp.g = g / inp.shape[0]


class Model:
    """Layers then a loss; calling it returns the loss, backward() runs every rule in reverse."""

    def __init__(self, layers: list[Module], loss: Module):
        self.layers, self.loss = layers, loss
        counts: dict[str, int] = {}
        for l in layers:  # lin1, relu1, lin2, ...: the names params() and intermediates() use
            kind = type(l).__name__.lower()
            counts[kind] = counts.get(kind, 0) + 1
            l.name = f"{kind}{counts[kind]}"

    def predict(self, x: Tensor) -> Tensor:
        """The model output (bs, n_out) without the loss."""
        self.x = x
        for l in self.layers:
            x = l(x)
        return x

    def __call__(self, x: Tensor, targ: Tensor) -> Tensor:
        return self.loss(self.predict(x), targ)

    def backward(self, input_grad: bool = False):
        """Gradients of the last call's loss into `.g` of params and intermediates; of x only when input_grad."""
        self.loss.backward()
        for i in reversed(range(len(self.layers))):
            self.layers[i].backward(inp_g=i > 0 or input_grad)

    def params(self) -> list[tuple[str, Tensor]]:
        """Named parameters in layer order: lin1.w, lin1.b, lin2.w, ..."""
        return [(f"{l.name}.{k}", getattr(l, k)) for l in self.layers if isinstance(l, Lin) for k in ("w", "b")]

    def intermediates(self) -> list[tuple[str, Tensor]]:
        """The last call's input and every layer's output: x, lin1.out, relu1.out, ..., the model output."""
        return [("x", self.x)] + [(f"{l.name}.out", l.out) for l in self.layers]


def make_model(
    nh: tuple[int, ...],
    loss: str,
    *,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    device="cpu",
    n_in: int = 784,
) -> Model:
    """Lin -> Relu -> ... -> Lin with He-normal weights and zero biases; "ce" has 10 outputs, "mse" one."""
    if loss not in ("ce", "mse"):
        raise ValueError(f"loss must be 'ce' or 'mse', got {loss!r}")
    sizes = (n_in, *nh, 10 if loss == "ce" else 1)
    layers: list[Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if i > 0:
            layers.append(Relu())
        w = kaiming_normal(a, b, generator=generator, dtype=dtype, device=device)
        layers.append(Lin(w, torch.zeros(b, dtype=dtype, device=device)))
    return Model(layers, CrossEntropy() if loss == "ce" else Mse())
