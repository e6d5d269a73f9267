"""A small learnable stand-in for the dataset, built in memory, for training tests."""

from dataclasses import dataclass

import torch


@dataclass
class SmallData:
    """The fields of mnist_scratch.data.Dataset that training reads."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_valid: torch.Tensor
    y_valid: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: float = 0.1304
    std: float = 0.3073
    verified: bool = False
    source: str = "test"
    name: str = "mnist"
    digest: str = ""


def small_data(n_train: int = 1200, n_valid: int = 300, n_test: int = 300, seed: int = 0) -> SmallData:
    """784-wide inputs on a 16-dim subspace, labels 0..9 from a fixed linear map of it: learnable from few rows."""
    g = torch.Generator().manual_seed(seed)
    n = n_train + n_valid + n_test
    z = torch.randn(n, 16, generator=g)
    x = z @ torch.randn(16, 784, generator=g) / 28 + 0.05 * torch.randn(n, 784, generator=g)  # well conditioned
    y = (z @ torch.randn(16, 10, generator=g)).argmax(1)
    a, b = n_train, n_train + n_valid
    return SmallData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])
