"""Inputs for the lesson commands: normalized MNIST images, or random ones of the same shape (--synthetic)."""

from pathlib import Path
from typing import Annotated

import typer

from mnist_scratch.config import TrainConfig, merge
from mnist_scratch.errors import DataError

Synthetic = Annotated[
    bool, typer.Option("--synthetic", help="Use standard-normal random inputs, not MNIST (no download).")
]
Seed = Annotated[int, typer.Option("--seed", help="Seed for the random weights (and synthetic inputs).")]


def check_seed(seed: int) -> None:
    """UsageError unless --seed is one TrainConfig accepts (the one rule for seeds, in config.py)."""
    merge(TrainConfig(), {"seed": seed})


def lesson_images(data_dir: "Path | None", *, synthetic: bool, split: str, n: int, seed: int):
    """(n, 784) normalized images of split and a description; standard-normal ones when synthetic."""
    import torch

    if synthetic:
        g = torch.Generator().manual_seed(seed + 1)  # not the weights' stream
        return torch.randn(n, 784, generator=g), f"synthetic randn({n}, 784)"
    from mnist_scratch.data import load_dataset

    try:
        ds = load_dataset(data_dir)
    except DataError as e:
        raise DataError(f"{e} (or pass --synthetic to use random inputs)") from None
    x = getattr(ds, f"x_{split}")[:n]
    return x, f"x_{split}[:{len(x)}], normalized"
