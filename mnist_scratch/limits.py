"""Limits on sizes that are each within range but whose product is not: checked before anything is allocated."""

import os

from mnist_scratch.errors import ConfigError

MAX_LAYERS = 64  # hidden layers
MAX_PARAMS = 1 << 26  # 67M parameters (256 MiB in float32, and as much again for each gradient and momentum)
MAX_ACTIVATIONS = 1 << 28  # batch rows x widest layer: 1 GiB in float32 per activation buffer
THREADS_PER_CORE = 4  # more torch threads than this per core only waits on the scheduler


def n_params(nh: tuple[int, ...], loss: str, n_in: int = 784) -> int:
    """Weights and biases of the model nh and loss describe (a Python int: never allocated)."""
    sizes = [n_in, *nh, 10 if loss == "ce" else 1]
    return sum((a + 1) * b for a, b in zip(sizes, sizes[1:], strict=False))


def check_sizes(nh: tuple[int, ...], loss: str, bs: int, where: "str | None" = None) -> None:
    """ConfigError when the model or one batch's activations would need more memory than the limits allow."""
    nh_name, bs_name = ("--nh", "--bs") if where is None else (f"nh in {where}", f"bs in {where}")
    params = n_params(nh, loss)
    if params > MAX_PARAMS:
        raise ConfigError(f"{nh_name} {','.join(map(str, nh))} makes {params:,} parameters, more than "
                          f"{MAX_PARAMS:,}; use fewer or narrower layers")
    if bs * max(nh) > MAX_ACTIVATIONS:
        raise ConfigError(f"{bs_name} {bs} with a layer of width {max(nh)} makes {bs * max(nh):,} activations per "
                          f"batch, more than {MAX_ACTIVATIONS:,}; use a smaller --bs or --nh")


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_threads(n: "int | None", label: str = "--threads") -> None:
    """ConfigError when n torch threads is far beyond this machine's cores (a typo, or a config from elsewhere).

    Not part of a config's validation: a run resumed on a smaller machine is told here, not refused as broken.
    """
    limit = THREADS_PER_CORE * cores()
    if n is not None and n > limit:
        raise ConfigError(f"{label} {n} is far beyond this machine's {cores()} cores; use at most {limit}")
