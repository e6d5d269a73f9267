"""Writes that fail say so: a file-size limit (RLIMIT_FSIZE, failing writes as a full disk does) while a checkpoint,
statistics, TensorBoard events or a PNG are written ends in one line `error: cannot save ...`, exit 1, no traceback;
the last good checkpoint is intact and resuming from it reproduces the uninterrupted run."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mnist_scratch.training import checkpoint

SUPPORT = Path(__file__).resolve().parents[1] / "support"
TRAIN = ["train", "--nh", "16", "--bs", "100", "--no-progress", "--threads", "1", "--no-stats"]


def drive(*args, fsize=None):
    spec = json.dumps({"small": 1500, **({"fsize": fsize} if fsize else {})})
    return subprocess.run([sys.executable, str(SUPPORT / "faultdriver.py"), spec, *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_checkpoint_that_cannot_be_written_keeps_the_last_good_one_and_resume_is_exact(tmp_path):
    control, cut = tmp_path / "control", tmp_path / "cut"
    assert drive(*TRAIN, "--epochs", "1", "--out", cut).returncode == 0
    shutil.copytree(cut, control)
    assert drive(*TRAIN, "--epochs", "2", "--resume", control).returncode == 0  # the resume with nothing failing
    good = sha(cut / checkpoint.WEIGHTS)
    size = (cut / checkpoint.WEIGHTS).stat().st_size
    r = drive(*TRAIN, "--epochs", "2", "--resume", cut, fsize=size // 2)
    assert r.returncode == 1, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"error: cannot save the checkpoint in {cut}: File too large")
    assert sha(cut / checkpoint.WEIGHTS) == good and checkpoint.load(cut).epoch == 1
    assert not [p.name for p in cut.iterdir() if ".tmp" in p.name]
    assert drive(*TRAIN, "--epochs", "2", "--resume", cut).returncode == 0
    a, b = checkpoint.load(control).state, checkpoint.load(cut).state
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_png_that_cannot_be_written_is_one_line(tmp_path):
    r = drive(*TRAIN, "--epochs", "1", "--out", tmp_path / "run", "--plot", tmp_path / "run.png", fsize=60_000)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert lines[0].startswith("error: cannot save ") and lines[0].endswith(": File too large")


@pytest.mark.parametrize("what", ["stats", "tensorboard"])
def test_statistics_or_events_that_cannot_be_written_are_one_line(tmp_path, what):
    pytest.importorskip("tensorboard") if what == "tensorboard" else None
    extra = ["--stats-every", "1"] if what == "stats" else ["--tensorboard", tmp_path / "tb"]
    r = drive(*TRAIN[:-1], "--nh", "1", "--epochs", "3", *extra, "--out", tmp_path / "run", fsize=12_000)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("error: cannot save ") and lines[0].endswith(": File too large")
