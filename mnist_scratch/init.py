"""He (Kaiming) normal initialization for weights stored (n_in, n_out) as in the lesson."""

import math

import torch
from torch import Tensor


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
