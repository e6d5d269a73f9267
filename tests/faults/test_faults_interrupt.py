"""Fault matrix, training group: a real SIGINT (Ctrl-C) to a `mnist-scratch train` subprocess training on a
full-size synthetic dataset (60,000 + 10,000 rows, cached through --from and read back with --data-dir).
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fakemnist import full_size_cache
from faultkit import signal_when, temp_files

from mnist_scratch.training import checkpoint, runs


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache whose official slot holds the synthetic full-size set (pinned as if it were MNIST, here only)."""
    root, rep = full_size_cache(tmp_path_factory)
    assert rep.verified and rep.split == {"train": 50_000, "valid": 10_000, "test": 10_000}
    return root


def _command() -> list[str]:
    script = Path(sys.executable).parent / "mnist-scratch"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mnist_scratch"]


def test_ctrl_c_stops_after_the_batch_prints_the_table_and_keeps_the_checkpoint(cache, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")  # no way out
    proc = subprocess.Popen([*_command(), "train", "--data-dir", str(cache), "--nh", "16", "--bs", "500",
                             "--epochs", "1000", "--no-progress", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    stdout, stderr = signal_when(proc, lambda: runs.read_metrics(out), signal.SIGINT,  # the first epoch is saved
                                 within=240, what="no epoch finished", timeout=120, poll=0.1)
    assert proc.returncode == 130, stderr
    assert stderr == ""
    rows = runs.read_metrics(out)
    ckpt = checkpoint.load(out)  # loads, and its tensors match their recorded sha256
    assert ckpt.epoch == len(rows) >= 1 and ckpt.epoch < 1000
    lines = stdout.splitlines()
    assert any("train loss" in ln and "valid acc" in ln for ln in lines)  # the table so far: header...
    assert [ln.split()[0] for ln in lines if ln.strip()[:1].isdigit()][: len(rows)] == [
        str(r["epoch"]) for r in rows]  # ...and one row per saved epoch
    assert any(ln.startswith("interrupted:") for ln in lines)
    assert temp_files(out) == []
