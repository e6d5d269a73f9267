"""Run folders and safetensors checkpoints: config in the metadata, written atomically, checked on load."""

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from mnist_scratch.config import TrainConfig, merge
from mnist_scratch.errors import CheckpointError, ConfigError

FORMAT = "mnist-scratch/1"
WEIGHTS = "model.safetensors"


@dataclass
class Checkpoint:
    """A loaded checkpoint: tensors (parameters, momentum buffers), the run's config and how far it got."""

    state: dict[str, torch.Tensor]
    cfg: TrainConfig
    epoch: int
    mean: float
    std: float
    path: Path


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path) on a temp file beside path, then move it into place; no temp file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(path: Path, state: dict[str, torch.Tensor], cfg: TrainConfig, epoch: int, mean: float, std: float) -> None:
    """Write state to path as safetensors with the config and progress in the metadata."""
    meta = {"format": FORMAT, "config": json.dumps(cfg.to_dict()), "epoch": str(epoch),
            "mean": repr(mean), "std": repr(std)}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))


def expected_shapes(cfg: TrainConfig, n_in: int = 784) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of the model cfg describes."""
    sizes = [n_in, *cfg.nh, 10 if cfg.loss == "ce" else 1]
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False), 1):
        shapes[f"lin{i}.w"], shapes[f"lin{i}.b"] = (a, b), (b,)
    return shapes


def resolve_path(path: Path) -> Path:
    """A run folder or a checkpoint file -> the checkpoint file."""
    if path.is_dir():
        path = path / WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    return path


def load(path: Path) -> Checkpoint:
    """Read and check a checkpoint (file or run folder); CheckpointError when it is not one of ours or broken."""
    path = resolve_path(Path(path))
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        why = (str(e).splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint ({why})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an mnist-scratch checkpoint (metadata format {meta.get('format')!r})")
    try:
        cfg = merge(TrainConfig(), json.loads(meta["config"]), f"{path} metadata")
        epoch, mean, std = int(meta["epoch"]), float(meta["mean"]), float(meta["std"])
    except (KeyError, ValueError, ConfigError) as e:
        raise CheckpointError(f"{path} has broken metadata: {e}") from None
    for k, shape in expected_shapes(cfg).items():
        if k not in state:
            raise CheckpointError(f"{path} lacks tensor {k}")
        if tuple(state[k].shape) != shape:
            raise CheckpointError(f"{path}: {k} has shape {tuple(state[k].shape)}, the config needs {shape}")
        if not bool(torch.isfinite(state[k]).all()):
            raise CheckpointError(f"{path}: {k} holds non-finite values")
    return Checkpoint(state, cfg, epoch, mean, std, path)
