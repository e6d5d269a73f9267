"""Fault matrix, `train --procs 2`: Ctrl-C, a killed rank, a hung rank, a NaN, bad values, and --resume with
another number of processes. Real worker processes (gloo on 127.0.0.1) on a full-size synthetic dataset.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakemnist import full_size_cache
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.training import checkpoint, runs

SMALL = ["--nh", "16", "--bs", "500", "--no-progress", "--threads", "1"]
WAIT = 240  # seconds: generous on a busy 2-core machine, never unbounded


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache whose official slot holds the synthetic full-size set (pinned as if it were MNIST, here only)."""
    return full_size_cache(tmp_path_factory)[0]


def start(cache: Path, out: Path, *args: str) -> subprocess.Popen:
    """`mnist-scratch train --procs 2 ...` in its own session (so a Ctrl-C can reach its whole process group)."""
    env = dict(os.environ, HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")  # no way out
    cmd = [sys.executable, "-m", "mnist_scratch", "train", "--data-dir", str(cache), *SMALL, "--procs", "2",
           "--out", str(out), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def workers(parent: int) -> list[int]:
    """The spawned workers' pids, in rank order (the launcher starts rank 0 first)."""
    kids = []
    for f in Path(f"/proc/{parent}/task").glob("*/children"):
        kids += [int(k) for k in f.read_text().split()]
    return sorted(k for k in kids if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes())


def after_first_epoch(proc: subprocess.Popen, out: Path) -> list[int]:
    """Wait (bounded) until epoch 1 is recorded; the worker pids."""
    end = time.monotonic() + WAIT
    while not runs.read_metrics(out):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "no epoch finished in time"
        time.sleep(0.1)
    pids = workers(proc.pid)
    assert len(pids) == 2, pids
    return pids


def finish(proc: subprocess.Popen, pids: list[int]) -> tuple[str, str, float]:
    t0 = time.monotonic()
    try:
        stdout, stderr = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    gone = time.monotonic() - t0
    time.sleep(0.2)
    assert [p for p in pids if Path(f"/proc/{p}").exists() and b"spawn_main" in
            Path(f"/proc/{p}/cmdline").read_bytes()] == []  # no worker left behind
    return stdout, stderr, gone


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the workers through /proc")
def test_ctrl_c_stops_every_rank_prints_the_table_and_exits_130(cache, tmp_path):
    out = tmp_path / "run"
    proc = start(cache, out, "--epochs", "1000")
    pids = after_first_epoch(proc, out)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: every process of the group
    stdout, stderr, _ = finish(proc, pids)
    assert (proc.returncode, stderr) == (130, "")
    rows = runs.read_metrics(out)
    assert checkpoint.load(out).epoch == len(rows) >= 1
    assert "train loss" in stdout and any(ln.startswith("interrupted:") for ln in stdout.splitlines())


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the workers through /proc")
def test_a_killed_rank_stops_the_others_with_one_line_naming_it(cache, tmp_path):
    out = tmp_path / "run"
    proc = start(cache, out, "--epochs", "1000", "--dist-timeout", "30")
    pids = after_first_epoch(proc, out)
    os.kill(pids[0], signal.SIGKILL)  # rank 0, the one that writes: the launcher holds the store, rank 1 notices
    stdout, stderr, gone = finish(proc, pids)
    assert proc.returncode == 1
    assert stderr == f"error: rank 0 (pid {pids[0]}) died (killed by SIGKILL); the other ranks stopped\n"
    assert gone < 30 + 15  # within the process-group timeout and the launcher's slack
    checkpoint.load(out)  # the last saved epoch is intact


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the workers through /proc")
def test_a_hung_rank_is_named_after_the_process_group_timeout(cache, tmp_path):
    out = tmp_path / "run"
    proc = start(cache, out, "--epochs", "1000", "--dist-timeout", "5")
    pids = after_first_epoch(proc, out)
    os.kill(pids[1], signal.SIGSTOP)  # alive, holding its sockets, answering nothing
    try:
        stdout, stderr, gone = finish(proc, pids)
    finally:
        if Path(f"/proc/{pids[1]}").exists():
            os.kill(pids[1], signal.SIGKILL)
    assert proc.returncode == 1
    assert stderr.count("\n") == 1 and stderr.startswith(f"error: rank 1 (pid {pids[1]}) stopped responding"), stderr
    assert "5 s process-group timeout" in stderr
    assert gone < 5 + 15


def test_a_nan_stops_every_rank_with_the_usual_message(cache, tmp_path):
    proc = start(cache, tmp_path / "run", "--epochs", "1", "--lr", "1e4", "--momentum", "0")
    stdout, stderr, _ = finish(proc, [])
    assert proc.returncode == 1
    assert stderr.count("\n") == 1 and stderr.startswith("error: loss became nan at epoch 1, batch "), stderr


def test_resume_with_another_number_of_processes_continues_the_same_run(cache, tmp_path):
    runner, common = CliRunner(), ["--data-dir", str(cache), *SMALL, "--lr-schedule", "constant", "--json"]
    one, two = tmp_path / "one", tmp_path / "two"
    r = runner.invoke(app, ["train", *common, "--epochs", "2", "--out", str(one)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", *common, "--epochs", "1", "--out", str(two)])
    assert r.exit_code == 0, r.output
    proc = subprocess.run([sys.executable, "-m", "mnist_scratch", "train", "--resume", str(two), "--epochs", "2",
                           "--procs", "2", "--no-progress", "--data-dir", str(cache)], capture_output=True, text=True,
                          timeout=WAIT)
    assert proc.returncode == 0, proc.stderr
    a, b = runs.read_metrics(one), runs.read_metrics(two)
    assert [m["epoch"] for m in b] == [1, 2]
    for k in ("train_loss", "valid_loss"):  # float32, 200 steps: the sum of two shares rounds differently
        assert b[1][k] == pytest.approx(a[1][k], rel=1e-4)
    shutil.rmtree(one), shutil.rmtree(two)


@pytest.mark.parametrize("args,needle", [
    (["--procs", "0"], "--procs"), (["--procs", "65", "--bs", "64"], "--procs 65 is more than the 64 rows"),
    (["--procs", "2", "--engine", "autograd"], "--procs 2 needs a hand-written engine"),
    (["--procs", "2", "--dist-timeout", "0"], "--dist-timeout"),
])
def test_bad_values_are_usage_errors_naming_the_option(args, needle, tmp_path):
    r = CliRunner().invoke(app, ["train", *args, "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and needle in r.output, r.output
    assert not (tmp_path / "run").exists()


def test_torchrun_variables_half_set_are_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    r = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "LOCAL_RANK" in r.output and "torchrun" in r.output, r.output
