"""Checkpoints: round trip, atomic writes, and every way a file can be wrong."""

import json

import pytest
import torch
from safetensors.torch import save_file

from mnist_scratch.config import TrainConfig
from mnist_scratch.errors import CheckpointError
from mnist_scratch.training import checkpoint


def state_for(cfg: TrainConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g) for k, s in checkpoint.expected_shapes(cfg).items()}


def test_round_trip(tmp_path):
    cfg = TrainConfig(nh=(30, 20), loss="mse", lr=0.01)
    st = state_for(cfg)
    checkpoint.save(tmp_path / "m.safetensors", st, cfg, 3, 0.13, 0.31)
    ck = checkpoint.load(tmp_path / "m.safetensors")
    assert ck.cfg == cfg and ck.epoch == 3 and ck.mean == 0.13 and ck.std == 0.31
    assert all(torch.equal(ck.state[k], st[k]) for k in st)
    assert list(tmp_path.iterdir()) == [tmp_path / "m.safetensors"]


def test_run_folder_is_accepted(tmp_path):
    cfg = TrainConfig()
    checkpoint.save(tmp_path / checkpoint.WEIGHTS, state_for(cfg), cfg, 1, 0.1, 0.3)
    assert checkpoint.load(tmp_path).epoch == 1


def test_failed_save_leaves_the_previous_file_byte_identical(tmp_path, monkeypatch):
    cfg = TrainConfig()
    path = tmp_path / checkpoint.WEIGHTS
    checkpoint.save(path, state_for(cfg), cfg, 1, 0.1, 0.3)
    before = path.read_bytes()

    def half_then_fail(filename, data):
        with open(filename, "wb") as f:
            f.write(b"\x00" * 100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "write_bytes", half_then_fail)
    with pytest.raises(OSError):
        checkpoint.save(path, state_for(cfg, 1), cfg, 2, 0.1, 0.3)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [checkpoint.WEIGHTS]


def test_missing(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        checkpoint.load(tmp_path / "nothing")


def test_truncated_and_garbage(tmp_path):
    cfg = TrainConfig()
    path = tmp_path / "m.safetensors"
    checkpoint.save(path, state_for(cfg), cfg, 1, 0.1, 0.3)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable"):
        checkpoint.load(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        checkpoint.load(path)


def test_foreign_safetensors(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(3)}, str(path))
    with pytest.raises(CheckpointError, match="not an mnist-scratch checkpoint"):
        checkpoint.load(path)


def test_shapes_must_fit_the_config(tmp_path):
    cfg = TrainConfig(nh=(50,))
    st = state_for(TrainConfig(nh=(40,)))
    path = tmp_path / "m.safetensors"
    save_file(st, str(path), metadata={"format": checkpoint.LEGACY, "config": json.dumps(cfg.to_dict()),
                                       "epoch": "1", "mean": "0.1", "std": "0.3"})
    with pytest.raises(CheckpointError, match=r"lin1.w has shape \(784, 40\), the config needs \(784, 50\)"):
        checkpoint.load(path)


def test_broken_metadata_and_nan_weights(tmp_path):
    cfg = TrainConfig()
    path = tmp_path / "m.safetensors"
    save_file(state_for(cfg), str(path), metadata={"format": checkpoint.LEGACY, "config": "{", "epoch": "1"})
    with pytest.raises(CheckpointError, match="broken metadata"):
        checkpoint.load(path)
    st = state_for(cfg)
    st["lin2.b"][0] = float("nan")
    checkpoint.save(path, st, cfg, 1, 0.1, 0.3)
    with pytest.raises(CheckpointError, match="non-finite"):
        checkpoint.load(path)
