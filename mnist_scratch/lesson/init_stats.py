"""Why He init: mean and std of the activations through a deep ReLU stack under several initializations."""

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from mnist_scratch.lesson.nn import kaiming_normal

# name -> what it draws; every weight is stored (n_in, n_out) as in the lesson.
SCHEMES = {
    "randn": "w = randn(n_in, n_out)",
    "1/sqrt(n_in)": "w = randn(n_in, n_out) / sqrt(n_in)",
    "He": "w = kaiming_normal(n_in, n_out), std sqrt(2 / n_in) (the project's)",
    "torch fan_out": "init.kaiming_normal_(w, mode='fan_out'): torch's fan_out = size(0) = n_in here",
    "He, relu-0.5": "He weights, activation relu(x) - 0.5 (the lesson's variant)",
}


def init_weight(scheme: str, n_in: int, n_out: int, *, generator: torch.Generator) -> Tensor:
    """An (n_in, n_out) float64 weight drawn the way scheme says."""
    if scheme == "randn":
        return torch.randn(n_in, n_out, generator=generator, dtype=torch.float64)
    if scheme == "1/sqrt(n_in)":
        return torch.randn(n_in, n_out, generator=generator, dtype=torch.float64) / math.sqrt(n_in)
    if scheme in ("He", "He, relu-0.5"):
        return kaiming_normal(n_in, n_out, generator=generator, dtype=torch.float64)
    if scheme == "torch fan_out":
        w = torch.empty(n_in, n_out, dtype=torch.float64)
        return torch.nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=generator)
    raise ValueError(f"unknown init scheme {scheme!r}; known: {', '.join(SCHEMES)}")


@dataclass(frozen=True)
class LayerStat:
    """Mean and std of the activations after one layer (layer 0: the input)."""

    layer: int
    mean: float
    std: float


@dataclass(frozen=True)
class SchemeStats:
    """One initialization's activation statistics, layer by layer, and what happened to the std."""

    name: str
    description: str
    layers: list[LayerStat]
    ratio: float  # std after the last layer / std of the input
    verdict: str  # "explodes", "vanishes" or "keeps"


@dataclass(frozen=True)
class InitStats:
    """Activation statistics of every scheme on the same input."""

    source: str
    n: int
    depth: int
    nh: int
    seed: int
    schemes: list[SchemeStats]


def verdict(ratio: float) -> str:
    """'explodes' beyond 2x the input std, 'vanishes' below half of it, else 'keeps'."""
    if not math.isfinite(ratio) or ratio > 2:
        return "explodes"
    return "vanishes" if ratio < 0.5 else "keeps"


def scheme_stats(x: Tensor, scheme: str, *, depth: int, nh: int, seed: int) -> SchemeStats:
    """Push x through depth layers of relu(x @ w + b), b = 0, recording mean/std after each layer."""
    g = torch.Generator().manual_seed(seed)  # the same stream for every scheme
    x = x.to(torch.float64)
    layers = [LayerStat(0, x.mean().item(), x.std().item())]
    shift = 0.5 if scheme == "He, relu-0.5" else 0.0
    for i in range(1, depth + 1):
        w = init_weight(scheme, x.shape[1], nh, generator=g)  # (n_in, nh)
        b = torch.zeros(nh, dtype=torch.float64)
        x = (x @ w + b).clamp_min(0.0) - shift  # (n, nh)
        layers.append(LayerStat(i, x.mean().item(), x.std().item()))
    ratio = layers[-1].std / layers[0].std if layers[0].std > 0 else math.nan
    return SchemeStats(scheme, SCHEMES[scheme], layers, ratio, verdict(ratio))


def run_init(x: Tensor, *, depth: int = 8, nh: int = 50, seed: int = 0, source: str = "",
             schemes=tuple(SCHEMES)) -> InitStats:
    """Activation statistics of every scheme on input x (n, n_in)."""
    return InitStats(source, x.shape[0], depth, nh, seed,
                     [scheme_stats(x, s, depth=depth, nh=nh, seed=seed) for s in schemes])
