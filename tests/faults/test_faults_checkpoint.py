"""Fault matrix, training group: corrupted, truncated and foreign checkpoints, and checkpoints that do not fit
--nh, through `evaluate`, `train --resume` and `show --checkpoint`. Each: one line, exit 1 (2 for a usage
mistake), the file untouched, and nothing run from its bytes.
"""

import json
import os
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch
from faultkit import cli, flip, one_line, snapshot
from safetensors.torch import save_file
from trainfakes import small_data

import mnist_scratch.data
from mnist_scratch.config import TrainConfig
from mnist_scratch.training import checkpoint


@pytest.fixture(autouse=True)
def data(monkeypatch):
    d = small_data(n_train=200, n_valid=100, n_test=100)
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: d)
    return d


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One trained run folder (with momentum buffers), copied by each test that breaks it."""
    out = tmp_path_factory.mktemp("trained") / "run"
    d = small_data(n_train=200, n_valid=100, n_test=100)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: d)
        res = cli("train", "--nh", "16", "--bs", "50", "--momentum", "0.9", "--epochs", "1", "--no-progress",
                  "--out", out)
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture
def run(trained, tmp_path):
    return Path(shutil.copytree(trained, tmp_path / "run"))


class Reduce:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _meta(cfg=None, **over) -> dict:
    meta = {"format": checkpoint.LEGACY, "config": json.dumps((cfg or TrainConfig(nh=(16,))).to_dict()),
            "epoch": "1", "mean": "0.13", "std": "0.31"}
    return {**meta, **over}


def _state(cfg=None) -> dict:
    return {k: torch.zeros(s) for k, s in checkpoint.expected_shapes(cfg or TrainConfig(nh=(16,))).items()}


def _corrupt(case: str, path, tmp_path) -> str:
    """Damage the checkpoint at path; return the expected message after 'error: {path}'."""
    data = path.read_bytes()
    header = 8 + int.from_bytes(data[:8], "little")
    if case == "truncated-half":
        path.write_bytes(data[: len(data) // 2])
        return " is not a readable safetensors checkpoint ("
    if case == "truncated-8":
        path.write_bytes(data[:8])
        return " is not a readable safetensors checkpoint ("
    if case == "empty":
        path.write_bytes(b"")
        return " is not a readable safetensors checkpoint ("
    if case == "garbage":
        path.write_bytes(os.urandom(256))
        return " is not a readable safetensors checkpoint ("
    if case == "header-byte":
        flip(path, 9)  # inside the JSON header
        return " is not a readable safetensors checkpoint ("
    if case == "payload-byte":
        flip(path, header + 1000)  # a weight's bits: still a well-formed file
        return " is corrupted or edited: its tensors and metadata do not match the sha256 in its metadata"
    if case == "pickle-renamed":  # a pickle (torch.save style) where a checkpoint should be: never unpickled
        path.write_bytes(pickle.dumps(Reduce(os.system, f"touch {tmp_path / 'sentinel'}")))
        return " is not a readable safetensors checkpoint ("
    if case == "torch-save-renamed":
        torch.save({"lin1.w": torch.zeros(2)}, path)
        return " is not a readable safetensors checkpoint ("
    if case == "foreign-no-metadata":
        save_file({"weight": torch.zeros(3)}, str(path))
        return " is not an mnist-scratch checkpoint (metadata format None)"
    if case == "foreign-format":
        save_file(_state(), str(path), metadata=_meta(format="other-project/3"))
        return " is not an mnist-scratch checkpoint (metadata format 'other-project/3')"
    if case == "config-not-json":
        save_file(_state(), str(path), metadata=_meta(config="{nh: 16"))
        return " has broken metadata: config is not JSON"
    if case == "config-a-list":
        save_file(_state(), str(path), metadata=_meta(config="[]"))
        return " has broken metadata: config is not a JSON object"
    if case == "config-a-number":
        save_file(_state(), str(path), metadata=_meta(config="1"))
        return " has broken metadata: config is not a JSON object"
    if case == "config-nested-deep":
        save_file(_state(), str(path), metadata=_meta(config="[" * 100_000 + "]" * 100_000))
        return " has broken metadata: config is not JSON"
    if case == "config-unknown-key":
        save_file(_state(), str(path), metadata=_meta(config=json.dumps({"nh": [16], "dropout": 0.5})))
        return " has broken metadata: unknown key dropout in"
    if case == "config-bad-value":
        save_file(_state(), str(path), metadata=_meta(config=json.dumps({"nh": [0]})))
        return " has broken metadata: nh in"
    if case == "epoch-not-int":
        save_file(_state(), str(path), metadata=_meta(epoch="one"))
        return " has broken metadata: epoch 'one' is not a whole number >= 0"
    if case == "epoch-negative":
        save_file(_state(), str(path), metadata=_meta(epoch="-3"))
        return " has broken metadata: epoch '-3' is not a whole number >= 0"
    if case == "missing-tensor":
        st = _state()
        del st["lin2.b"]
        save_file(st, str(path), metadata=_meta())
        return " lacks tensor lin2.b"
    if case == "shapes-vs-own-config":
        save_file(_state(TrainConfig(nh=(40,))), str(path), metadata=_meta())
        return ": lin1.w has shape (784, 40), the config needs (784, 16)"
    if case == "nan-weights":
        st = _state()
        st["lin1.b"][3] = float("nan")
        save_file(st, str(path), metadata=_meta())
        return ": lin1.b holds non-finite values"
    if case == "momentum-shape":
        st = _state()
        st["momentum.lin1.w"] = torch.zeros(784, 40)
        save_file(st, str(path), metadata=_meta())
        return ": momentum.lin1.w has shape (784, 40), the config needs (784, 16)"
    if case == "int-weights":
        st = {k: v.long() for k, v in _state().items()}
        save_file(st, str(path), metadata=_meta())
        return ": lin1.w is int64, not a floating-point tensor"
    raise AssertionError(case)


CASES = ["truncated-half", "truncated-8", "empty", "garbage", "header-byte", "payload-byte", "pickle-renamed",
         "torch-save-renamed", "foreign-no-metadata", "foreign-format", "config-not-json", "config-a-list",
         "config-a-number", "config-nested-deep", "config-unknown-key", "config-bad-value", "epoch-not-int",
         "epoch-negative", "missing-tensor", "shapes-vs-own-config", "nan-weights", "momentum-shape", "int-weights"]


@pytest.mark.parametrize("command", ["evaluate", "resume", "show"])
@pytest.mark.parametrize("case", CASES)
def test_broken_checkpoint_is_refused_in_one_line(case, command, run, tmp_path):
    path = run / checkpoint.WEIGHTS
    want = _corrupt(case, path, tmp_path)
    before = snapshot(run)
    args = {"evaluate": ["evaluate", run], "resume": ["train", "--resume", run, "--epochs", "2", "--no-progress"],
            "show": ["show", "--checkpoint", run, "--index", "0"]}[command]
    res = cli(*args)
    assert res.exit_code == 1, res.output
    line = one_line(res.stderr)
    assert line.startswith(f"error: {path}{want}"), line
    assert snapshot(run) == before and not (tmp_path / "sentinel").exists()


def test_the_pickle_case_would_run_code(tmp_path):
    """Positive control for pickle-renamed: the standard unpickler runs its payload."""
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x").write_bytes(b"")
    _corrupt("pickle-renamed", tmp_path / "m" / "x", tmp_path)
    pickle.loads((tmp_path / "m" / "x").read_bytes())
    assert (tmp_path / "sentinel").exists()


@pytest.mark.parametrize(("flags", "what"), [
    (["--nh", "32"], "--nh"), (["--nh", "16,8"], "--nh"), (["--loss", "mse"], "--loss")])
def test_resume_with_another_architecture_is_a_usage_error(flags, what, run):
    before = snapshot(run)
    res = cli("train", "--resume", run, "--epochs", "2", *flags, "--no-progress")
    assert res.exit_code == 2
    assert re.fullmatch(rf"error: {re.escape(str(run / checkpoint.WEIGHTS))} holds a model with nh \(16,\) and loss "
                        r"ce; --nh and --loss cannot change on --resume", one_line(res.stderr))
    assert snapshot(run) == before


def test_resume_with_a_config_file_is_a_usage_error(run, tmp_path):
    (tmp_path / "c.toml").write_text("lr = 0.1\n")
    res = cli("train", "--resume", run, "--config", tmp_path / "c.toml")
    assert res.exit_code == 2
    assert one_line(res.stderr) == "error: --resume continues with the run's own config; drop --config"


@pytest.mark.parametrize("target", ["missing-folder", "folder-without-checkpoint"])
def test_no_checkpoint_there(target, tmp_path):
    path = tmp_path / "nope" if target == "missing-folder" else tmp_path
    want = path if target == "missing-folder" else path / checkpoint.WEIGHTS
    for args in (["evaluate", path], ["train", "--resume", path], ["show", "--checkpoint", path]):
        res = cli(*args)
        assert res.exit_code == 1 and one_line(res.stderr) == f"error: no checkpoint at {want}"
