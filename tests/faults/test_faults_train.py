"""Fault matrix, training group: non-finite loss or weights, a checkpoint save failing half-way, a run killed
mid-epoch, corrupted / truncated / foreign checkpoints, and checkpoints that do not fit --nh.
"""

import errno
import json
import re

import pytest
from faultkit import cli, one_line, snapshot, temp_files
from trainfakes import small_data

import mnist_scratch.data
import mnist_scratch.training.engines
from mnist_scratch.training import checkpoint, runs

FAST = ["--nh", "16", "--bs", "100", "--lr", "0.05", "--lr-schedule", "constant", "--momentum", "0",
        "--weight-decay", "0", "--no-progress"]


@pytest.fixture(autouse=True)
def data(monkeypatch):
    d = small_data(n_train=400, n_valid=100, n_test=100)
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: d)
    return d


@pytest.fixture
def run(tmp_path):
    """A finished one-epoch run folder."""
    out = tmp_path / "run"
    res = cli("train", *FAST, "--epochs", "1", "--out", out)
    assert res.exit_code == 0, res.output
    return out


LOSS_RE = r"error: loss became (nan|inf) at epoch {e}, batch \d+ \(step \d+\) with lr {lr}: " \
          r"\S.* (overflowed to inf|became nan) (in the (forward|backward) pass|in the SGD update) at step \d+; " \
          r"\S.*; the learning rate is likely too high, try a smaller --lr"  # the sentinel names the op


# --- non-finite loss / weights ---

def test_non_finite_loss_stops_and_saves_no_weights(tmp_path):
    out = tmp_path / "run"
    res = cli("train", "--nh", "32", "--loss", "mse", "--lr", "50", "--lr-schedule", "constant", "--epochs", "2",
              "--no-progress", "--out", out)
    assert res.exit_code == 1
    assert re.fullmatch(LOSS_RE.format(e=1, lr=50), one_line(res.stderr))
    kept = sorted(n for n in snapshot(out) if n not in ("stats.jsonl", "losses.jsonl"))  # statistics stay, for plot
    assert kept == ["config.json", "metrics.jsonl"] and runs.read_metrics(out) == []


def test_non_finite_loss_on_resume_keeps_the_last_good_checkpoint(run):
    before = snapshot(run)
    res = cli("train", "--resume", run, "--epochs", "2", "--lr", "1e30", "--no-progress")
    assert res.exit_code == 1
    assert re.fullmatch(LOSS_RE.format(e=2, lr="1e\\+30"), one_line(res.stderr))
    assert snapshot(run) == before and temp_files(run) == []


def test_nan_in_the_inputs_names_the_first_step(tmp_path, data):
    data.x_train[:] = float("nan")
    res = cli("train", *FAST, "--epochs", "1", "--out", tmp_path / "run")
    assert res.exit_code == 1
    assert one_line(res.stderr) == ("error: loss became nan at epoch 1, batch 1 (step 1) with lr 0.05: the input "
                                    "batch at step 1 already held nan: 100 of its 100 rows hold non-finite pixels; "
                                    "check the data")


def test_non_finite_weights_with_a_finite_loss(tmp_path, monkeypatch):
    """A gradient that poisons the weights on the epoch's last step (its loss was still finite)."""
    real = mnist_scratch.training.engines.ENGINES["manual"]

    class Poisoned:
        def __init__(self, model, cfg):
            self.inner, self.n = real(model, cfg), 0

        def step(self, xb, yb, lr):
            loss = self.inner.step(xb, yb, lr)
            self.n += 1
            if self.n == 4:  # 400 rows / bs 100: the last step of epoch 1
                state = self.inner.state()
                state["lin1.w"][0, 0] = float("inf")
                self.inner.load_state(state)
            return loss

        def __getattr__(self, name):
            return getattr(self.inner, name)

    monkeypatch.setitem(mnist_scratch.training.engines.ENGINES, "manual", Poisoned)
    out = tmp_path / "run"
    res = cli("train", *FAST, "--epochs", "1", "--no-stats", "--out", out)  # every step through Poisoned.step
    assert res.exit_code == 1
    assert one_line(res.stderr) == ("error: non-finite values in lin1.w after epoch 1: the replay through the "
                                    "reference rules stayed finite (the engine's own ops broke it, or rounded "
                                    "differently); try a smaller --lr or --engine reference")  # the rules did not
    assert not (out / checkpoint.WEIGHTS).exists()


# --- a checkpoint save failing half-way ---

@pytest.mark.parametrize(("how", "reason"), [
    ("half-written-enospc", "No space left on device"),
    ("refused-erofs", "Read-only file system"),
])
def test_checkpoint_save_failing_half_way_keeps_the_previous_one(how, reason, tmp_path, monkeypatch):
    out, real, seen = tmp_path / "run", checkpoint.write_bytes, {}

    def failing(filename, data):
        if not (out / checkpoint.WEIGHTS).exists():
            return real(filename, data)  # epoch 1 saves fine
        seen["before"] = {k: v for k, v in snapshot(out).items() if k not in temp_files(out)}
        if how.startswith("half"):
            real(filename, data)
            with open(filename, "r+b") as f:
                f.truncate(f.seek(0, 2) // 2)
            raise OSError(errno.ENOSPC, reason)
        raise OSError(errno.EROFS, reason)

    monkeypatch.setattr(checkpoint, "write_bytes", failing)
    res = cli("train", *FAST, "--epochs", "3", "--out", out)
    assert res.exit_code == 1
    assert one_line(res.stderr) == f"error: cannot save the checkpoint in {out}: {reason}"
    assert snapshot(out) == seen["before"] and temp_files(out) == []
    assert checkpoint.load(out).epoch == 1 and [m["epoch"] for m in runs.read_metrics(out)] == [1]
    assert "1 " in res.stdout  # the table so far: epoch 1's row


# --- a run killed mid-epoch: a torn metrics line and a stale temp file, then --resume ---

def test_resume_after_a_kill_ignores_a_torn_metrics_line_and_stale_temp_files(run):
    with open(run / runs.METRICS, "a") as f:
        f.write('{"epoch": 2, "train_lo')  # the append a kill -9 cut short
    (run / ".model.safetensors.k1ll3d00.tmp").write_bytes(b"\0" * 10)
    res = cli("train", "--resume", run, "--epochs", "2", "--json", "--no-progress")
    assert res.exit_code == 0, res.output
    assert [e["epoch"] for e in json.loads(res.stdout)["epochs"]] == [2]
    assert [m["epoch"] for m in runs.read_metrics(run)] == [1, 2] and temp_files(run) == []


def test_fresh_run_into_an_existing_run_folder_is_refused(run):
    before = snapshot(run)
    res = cli("train", *FAST, "--epochs", "1", "--out", run)
    assert res.exit_code == 2
    assert one_line(res.stderr) == (f"error: --out {run} already holds a run (model.safetensors, metrics.jsonl); "
                                    f"continue it with --resume {run} or choose another --out")
    assert snapshot(run) == before


@pytest.mark.parametrize("bs", ["401", "50000"])
def test_batch_larger_than_the_train_split_is_a_usage_error(bs, tmp_path):
    res = cli("train", "--nh", "8", "--bs", bs, "--epochs", "1", "--no-progress", "--out", tmp_path / "run")
    assert res.exit_code == 2
    assert one_line(res.stderr) == f"error: --bs {bs} is larger than the train split (400 rows); use at most 400"
    assert not (tmp_path / "run").exists()
