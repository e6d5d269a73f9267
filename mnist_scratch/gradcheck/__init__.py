"""The hand-written gradients checked against autograd (every tensor) and finite differences (sampled entries)."""

import torch
from torch import Tensor

from mnist_scratch.gradcheck.autograd import (
    FD_ATOL,
    FD_H,
    FD_RTOL,
    TOLERANCES,
    GradCheck,
    GradRow,
    autograd_grads,
    compare,
    diffs,
    manual_grads,
    perturb,
    twin,
)
from mnist_scratch.gradcheck.finitediff import fd_rows
from mnist_scratch.gradcheck.order import backward_order, first_wrong, settle_float32
from mnist_scratch.lesson.nn import make_model

__all__ = [
    "FD_ATOL",
    "FD_H",
    "FD_RTOL",
    "TOLERANCES",
    "GradCheck",
    "GradRow",
    "autograd_grads",
    "backward_order",
    "compare",
    "diffs",
    "fd_rows",
    "gradcheck",
    "manual_grads",
    "perturb",
    "sample_batch",
    "synthetic_batch",
    "twin",
]


def synthetic_batch(bs: int, *, generator: torch.Generator, n_in: int = 784) -> tuple[Tensor, Tensor]:
    """Random normalized-looking inputs (bs, n_in) and labels 0..9 (bs,): no dataset needed."""
    return torch.randn(bs, n_in, generator=generator), torch.randint(0, 10, (bs,), generator=generator)


def sample_batch(x: Tensor, y: Tensor, bs: int, *, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """bs random rows of (x, y)."""
    idx = torch.randperm(x.shape[0], generator=generator)[:bs].to(x.device)
    return x[idx], y[idx]


def gradcheck(
    x: Tensor,
    targ: Tensor,
    *,
    nh: tuple[int, ...],
    loss: str,
    seed: int,
    dtype: torch.dtype = torch.float32,
    fd: bool = False,
    samples: int = 20,
) -> GradCheck:
    """Build the model (perturbed so no rule hides behind zeros) and check every gradient of one batch."""
    g = torch.Generator().manual_seed(seed)
    model = make_model(nh, loss, generator=g, device=x.device, n_in=x.shape[1])
    perturb(model, g)
    model = twin(model, dtype=dtype)  # drawn in float32 either way: one seed, one model, whatever the dtype
    x, (rtol, atol) = x.to(dtype), TOLERANCES[dtype]
    loss_value, man = manual_grads(model, x, targ)
    ref = autograd_grads(model, x, targ)
    rows = [compare(n, man[n], ref.get(n), rtol=rtol, atol=atol) for n in man]
    if dtype == torch.float32:  # a failure may be round-off: the same model in float64 tells
        rows = settle_float32(model, x, targ, rows)
    if fd:
        rows += fd_rows(model, x, targ, generator=g, samples=samples)
    wrong, before = first_wrong(rows, backward_order(model))
    return GradCheck(rows, loss_value, str(dtype).removeprefix("torch."), rtol, atol, first_wrong=wrong,
                     right_before=before)
