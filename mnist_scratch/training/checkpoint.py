"""Run folders and safetensors checkpoints: config in the metadata, written atomically, checked on load."""

import hashlib
import json
import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save_file

from mnist_scratch.atomic import atomic_write, read_bounded, shown
from mnist_scratch.config import TrainConfig, merge
from mnist_scratch.errors import CheckpointError, ConfigError
from mnist_scratch.limits import MAX_PARAMS

FORMAT = "mnist-scratch/1"
WEIGHTS = "model.safetensors"
MAX_HEADER = 16 << 20  # a checkpoint's JSON header: names, shapes, the config
CAP = 2 * 4 * MAX_PARAMS + MAX_HEADER  # float32 parameters and momentum buffers of the largest model, and the header


@dataclass
class Checkpoint:
    """A loaded checkpoint: tensors (parameters, momentum buffers), the run's config and how far it got."""

    state: dict[str, torch.Tensor]
    cfg: TrainConfig
    epoch: int
    mean: float
    std: float
    path: Path
    meta: dict[str, str] = field(default_factory=dict)  # the raw metadata: keys other versions may add


def digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order (safetensors has no checksum)."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].detach().to("cpu").contiguous()
        h.update(f"{k}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def save(path: Path, state: dict[str, torch.Tensor], cfg: TrainConfig, epoch: int, mean: float, std: float) -> None:
    """Write state to path as safetensors with the config, progress and a digest of the tensors in the metadata."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    meta = {"format": FORMAT, "config": json.dumps(cfg.to_dict()), "epoch": str(epoch),
            "mean": repr(mean), "std": repr(std), "sha256": digest(tensors)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))  # a Path: any name, UTF-8 or not


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
        raise CheckpointError(f"no checkpoint at {shown(path)}")
    return path


def load(path: Path) -> Checkpoint:
    """Read and check a checkpoint (file or run folder); CheckpointError when it is not one of ours or broken."""
    path = resolve_path(Path(path))
    data = read_bounded(path, CAP)  # bytes read by Python: any file name, a FIFO refused, the size bounded
    if data is None:
        raise CheckpointError(f"{shown(path)} is larger than {CAP:,} bytes, more than any model this tool builds")
    try:
        meta = _header_metadata(data)
        state = st_load(data)
    except (SafetensorError, OSError, ValueError, RuntimeError, struct.error, RecursionError) as e:
        why = (str(e).splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"{shown(path)} is not a readable safetensors checkpoint ({why})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{shown(path)} is not an mnist-scratch checkpoint (metadata format "
                              f"{meta.get('format')!r})")
    cfg, epoch, mean, std = _metadata(meta, path)
    if "sha256" in meta and digest(state) != meta["sha256"]:  # checkpoints of older versions carry no digest
        raise CheckpointError(f"{shown(path)} is corrupted: its tensors do not match the sha256 in its metadata")
    shapes = expected_shapes(cfg)
    for k, shape in [*shapes.items(), *((f"momentum.{k}", s) for k, s in shapes.items())]:
        if k not in state:
            if k.startswith("momentum."):  # momentum buffers are optional
                continue
            raise CheckpointError(f"{shown(path)} lacks tensor {k}")
        if tuple(state[k].shape) != shape:
            raise CheckpointError(f"{shown(path)}: {k} has shape {tuple(state[k].shape)}, the config needs {shape}")
        if not state[k].is_floating_point():
            raise CheckpointError(f"{shown(path)}: {k} is {str(state[k].dtype).removeprefix('torch.')}, "
                                  "not a floating-point tensor")
        if not bool(torch.isfinite(state[k]).all()):
            raise CheckpointError(f"{shown(path)}: {k} holds non-finite values")
    return Checkpoint(state, cfg, epoch, mean, std, path, meta)


def _header_metadata(data: bytes) -> dict[str, str]:
    """The __metadata__ table of safetensors bytes (an 8-byte little-endian header length, then a JSON header)."""
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER:
        raise ValueError(f"header of {n:,} bytes")
    header = json.loads(data[8 : 8 + n])
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def _metadata(meta: dict[str, str], path: Path) -> tuple[TrainConfig, int, float, float]:
    """The config, epoch, mean and std a checkpoint's metadata holds; CheckpointError on anything malformed."""
    broken = f"{shown(path)} has broken metadata"
    try:
        values = json.loads(meta.get("config", ""))
    except (ValueError, RecursionError):
        raise CheckpointError(f"{broken}: config is not JSON") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{broken}: config is not a JSON object")
    try:
        cfg = merge(TrainConfig(), values, f"{shown(path)} metadata")
    except ConfigError as e:
        raise CheckpointError(f"{broken}: {e}") from None
    epoch = meta.get("epoch")
    if not re.fullmatch(r"[0-9]{1,9}", epoch or ""):
        raise CheckpointError(f"{broken}: epoch {epoch!r} is not a whole number >= 0")
    try:
        mean, std = float(meta["mean"]), float(meta["std"])
    except (KeyError, ValueError):
        mean = std = math.nan
    if not (math.isfinite(mean) and math.isfinite(std)):
        raise CheckpointError(f"{broken}: mean {meta.get('mean')!r} and std {meta.get('std')!r} must be numbers")
    return cfg, int(epoch), mean, std
