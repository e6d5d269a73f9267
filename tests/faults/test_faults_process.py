"""Fault matrix, process group (issue classes 5, 7, 8): a standard output that may be anything, child processes
isolated from the working folder, and SIGTERM handled like Ctrl-C. Every case runs the real entry point (main) in a
subprocess with a timeout; data comes from a tiny pickle on 127.0.0.1.
"""

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fakemnist import classic_splits, make_arrays, py2_pickle
from fakeserver import MirrorServer, Route
from faultkit import GatedServer, one_line, signal_when

from mnist_scratch.bench.suite import child_peak_rss, time_help
from mnist_scratch.training import checkpoint, runs

SUPPORT = Path(__file__).resolve().parent.parent / "support"
TRAIN = ["--nh", "8", "--bs", "10", "--no-progress"]
LOST = "error: cannot write standard output (No space left on device); the command's work is done but its report " \
       "was lost"


@pytest.fixture(scope="module")
def pkl() -> bytes:
    return gzip.compress(py2_pickle(classic_splits(make_arrays())), mtime=0)


@pytest.fixture
def mirror(pkl):
    with MirrorServer({"/a/mnist.pkl.gz": Route(pkl)}) as s:
        yield s.url("/a/mnist.pkl.gz")


def _env(**extra) -> dict:
    return dict(os.environ, PYTHONPATH=str(SUPPORT), HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
                NO_PROXY="127.0.0.1,localhost", **extra)


def start(url: str, *args, env: "dict | None" = None, **kw) -> subprocess.Popen:
    """The CLI's entry point in a subprocess, its data from the tiny pickle at url."""
    spec = json.dumps({"pickle_urls": [url]})
    kw.setdefault("stdout", subprocess.PIPE)
    return subprocess.Popen([sys.executable, str(SUPPORT / "faultdriver.py"), spec, *map(str, args)],
                            stderr=subprocess.PIPE, env=env or _env(), **kw)


def run(url: str, *args, timeout: float = 90, **kw) -> tuple[int, bytes, str]:
    proc = start(url, *args, **kw)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out or b"", err.decode(errors="replace")


# --- class 5: standard output may be anything ---

COMMANDS = {"show": ["show", "--index", "0..2"], "train": ["train", *TRAIN, "--epochs", "1", "--out", "{t}/run"],
            "download": ["download"], "help": ["--help"]}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_closed_stdout_is_not_an_error_and_never_a_file_of_the_tool(name, mirror, tmp_path):
    args = [a.format(t=tmp_path) for a in COMMANDS[name]] + (["--data-dir", tmp_path / "c"] if name != "help" else [])
    code, _, err = run(mirror, *args, stdout=None, preexec_fn=lambda: os.close(1))
    assert (code, err) == (0, "")
    if name == "train":  # fd 1 was free: without a guard, the first file opened would have been stdout
        assert json.loads((tmp_path / "run" / runs.CONFIG).read_text())["nh"] == [8]
        assert checkpoint.load(tmp_path / "run").epoch == 1


@pytest.mark.parametrize("name", ["show", "train", "download"])
def test_a_full_stdout_gives_one_line_after_the_work_is_done(name, mirror, tmp_path):
    args = [a.format(t=tmp_path) for a in COMMANDS[name]] + ["--data-dir", tmp_path / "c"]
    with open("/dev/full", "wb") as full:
        code, _, err = run(mirror, *args, stdout=full)
    assert (code, one_line(err)) == (1, LOST)
    if name == "train":
        assert checkpoint.load(tmp_path / "run").epoch == 1


@pytest.mark.parametrize("name", ["show", "train", "download"])
def test_a_pipe_closed_early_exits_quietly(name, mirror, tmp_path):
    args = [a.format(t=tmp_path) for a in COMMANDS[name]] + ["--data-dir", tmp_path / "c"]
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first line is written: `| head -0`, the sure case of `| head -1`
    try:
        code, _, err = run(mirror, *args, stdout=w)
    finally:
        os.close(w)
    assert (code, err) == (141, "")  # as a SIGPIPE would have it: stopped, quietly, 128 + 13


@pytest.mark.parametrize("name", list(COMMANDS))
def test_an_ascii_only_stdout_never_crashes(name, mirror, tmp_path):
    args = [a.format(t=tmp_path) for a in COMMANDS[name]] + (["--data-dir", tmp_path / "c"] if name != "help" else [])
    code, out, err = run(mirror, *args, env=_env(PYTHONIOENCODING="ascii"))
    assert (code, err) == (0, "")
    assert out and max(out) < 128  # every character either ASCII or escaped


# --- class 7: child processes never import from the working folder ---

def test_bench_children_never_import_from_the_working_folder(tmp_path, monkeypatch):
    sentinel = tmp_path / "ran"
    (tmp_path / "typer.py").write_text(f"open({str(sentinel)!r}, 'a').close()\n")
    (tmp_path / "mnist_scratch.py").write_text(f"open({str(sentinel)!r}, 'a').close()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # and not from PYTHONPATH either
    (seconds,) = time_help(1)
    code, _, out = child_peak_rss(["--version"])
    assert code == 0 and out.startswith("mnist-scratch ") and seconds > 0
    assert not sentinel.exists()


# --- class 8: SIGTERM is handled like Ctrl-C ---

def test_sigterm_stops_training_after_the_batch_keeps_the_epoch_and_exits_143(mirror, tmp_path):
    out = tmp_path / "run"
    proc = start(mirror, "train", *TRAIN, "--epochs", "100000", "--out", out, "--data-dir", tmp_path / "c")
    stdout, stderr = signal_when(proc, lambda: runs.read_metrics(out), signal.SIGTERM,  # the first epoch is saved
                                 within=120, what="no epoch finished", timeout=90)
    assert (proc.returncode, stderr) == (143, b"")
    assert b"terminated: stopped after the current batch; the checkpoint holds the last full" in stdout
    rows = runs.read_metrics(out)
    assert checkpoint.load(out).epoch == len(rows) >= 1


def test_sigterm_outside_training_is_one_line_and_143(pkl, tmp_path):
    cache = tmp_path / "c"
    with GatedServer("mnist.pkl.gz", pkl) as gate:
        proc = start(gate.url(), "download", "--data-dir", cache)
        stdout, stderr = signal_when(proc, gate.started.is_set, signal.SIGTERM, within=120,
                                     what="the download did not start", timeout=90)
    assert (proc.returncode, stdout, one_line(stderr.decode())) == (143, b"", "terminated")
    assert not (cache / "raw" / "mnist.pkl.gz").exists()
