"""Fault matrix, ownership group (issue classes 2, 3, 4): special files are never blocked on, replaced or followed;
sweeps delete only the tool's own temp files; run folders are locked and owned; paths of any shape give one line.

Cases that would block forever on a FIFO run in a subprocess with a timeout.
"""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakemnist import classic_splits, make_arrays, py2_pickle, tiny_pins
from fakeserver import MirrorServer, Route
from faultkit import cli, one_line, snapshot, use_pins
from trainfakes import small_data

import mnist_scratch.data
from mnist_scratch.data import prepare_dataset
from mnist_scratch.errors import SourceError
from mnist_scratch.training import runs

SUPPORT = Path(__file__).resolve().parent.parent / "support"
TRAIN = ["--nh", "8", "--bs", "10", "--epochs", "1", "--no-progress"]
LONG = "x" * 300  # longer than any file name may be (255 bytes)


@pytest.fixture
def world(monkeypatch):
    """A tiny pickle on a 127.0.0.1 mirror, and every command's data from it."""
    arrays = make_arrays()
    pkl = gzip.compress(py2_pickle(classic_splits(arrays)), mtime=0)
    with MirrorServer({"/a/mnist.pkl.gz": Route(pkl)}) as s:
        pins = tiny_pins(arrays, pickle=pkl, pickle_urls=[s.url("/a/mnist.pkl.gz")])
        use_pins(monkeypatch, pins)
        yield pins, pkl, s


def driver(url: str, *args, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    """The CLI in a subprocess (its data from the tiny pickle at url); args may be bytes (names not in UTF-8)."""
    env = dict(os.environ, PYTHONPATH=str(SUPPORT), HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
               NO_PROXY="127.0.0.1,localhost")
    spec = json.dumps({"pickle_urls": [url]})
    return subprocess.run([sys.executable, str(SUPPORT / "faultdriver.py"), spec, *args], capture_output=True,
                          env=env, timeout=timeout, **kw)


def _special(path: Path, kind: str) -> None:
    """Make path a FIFO, a character device (like /dev/null) or a symlink to a file outside."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        try:
            os.mknod(path, 0o600 | 0o020000, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("mknod needs root")
    else:
        (path.parent / "outside.txt").write_text("not the tool's")
        path.symlink_to(path.parent / "outside.txt")


def _unchanged(path: Path, kind: str) -> bool:
    if kind == "fifo":
        return path.is_fifo()
    if kind == "device":
        return path.is_char_device()
    return path.is_symlink() and (path.parent / "outside.txt").read_text() == "not the tool's"


WHAT = {"fifo": "a FIFO (named pipe)", "device": "a character device", "link": "a symbolic link"}


# --- class 2: special files where a file belongs ---

@pytest.mark.parametrize("kind", list(WHAT))
def test_show_png_never_replaces_a_special_file(kind, world, tmp_path):
    target = tmp_path / "n.png"
    _special(target, kind)
    res = cli("show", "--index", "0", "--png", target, "--data-dir", tmp_path / "cache")
    assert (res.exit_code, one_line(res.stderr)) == (
        2, f"error: {target} is {WHAT[kind]}, not a regular file; it was left alone")
    assert _unchanged(target, kind)


@pytest.mark.parametrize("kind", list(WHAT))
def test_train_plot_onto_a_special_file_is_refused_before_training(kind, world, tmp_path):
    target = tmp_path / "p.png"
    _special(target, kind)
    res = cli("train", *TRAIN, "--plot", target, "--out", tmp_path / "run", "--data-dir", tmp_path / "cache")
    assert (res.exit_code, one_line(res.stderr)) == (
        2, f"error: {target} is {WHAT[kind]}, not a regular file; it was left alone")
    assert _unchanged(target, kind) and not (tmp_path / "run").exists()


def test_from_a_fifo_is_refused_unopened(world, tmp_path):
    os.mkfifo(tmp_path / "f")
    res = cli("download", "--from", tmp_path / "f", "--data-dir", tmp_path / "cache")
    assert (res.exit_code, one_line(res.stderr)) == (
        2, f"error: --from {tmp_path / 'f'} is a FIFO (named pipe); give a file or folder")


@pytest.mark.parametrize("case", ["config", "manifest", "metrics"])
def test_a_fifo_the_tool_reads_is_never_waited_on(case, world, tmp_path):
    pins, _, s = world
    cache, run = tmp_path / "cache", tmp_path / "run"
    if case == "config":
        os.mkfifo(tmp_path / "c.toml")
        args = ["train", "--config", tmp_path / "c.toml", *TRAIN, "--out", run]
        code, want = 2, f"error: config file {tmp_path / 'c.toml'} is a FIFO (named pipe), not a regular file"
    elif case == "manifest":
        (cache / "mnist").mkdir(parents=True)
        os.mkfifo(cache / "mnist" / "manifest.json")
        args = ["download"]
        code, want = 2, f"error: {cache / 'mnist' / 'manifest.json'} is a FIFO (named pipe), not a regular file; " \
                        "it was left alone"
    else:
        assert driver(s.url("/a/mnist.pkl.gz"), "train", *TRAIN, "--out", run, "--data-dir", cache).returncode == 0
        (run / runs.METRICS).unlink()
        os.mkfifo(run / runs.METRICS)
        args = ["train", "--resume", run, "--epochs", "2", "--no-progress"]
        code, want = 1, f"error: {run / runs.METRICS} is a FIFO (named pipe), not a regular file; refused"
    res = driver(s.url("/a/mnist.pkl.gz"), *map(str, args), "--data-dir", str(cache), timeout=60, text=True)
    assert (res.returncode, one_line(res.stderr)) == (code, want)


def test_a_link_in_the_cache_is_never_followed_out_of_it(world, tmp_path):
    pins, pkl, _ = world
    (tmp_path / "outside.pkl.gz").write_bytes(pkl)  # the right bytes, but not in the folder the tool owns
    (tmp_path / "cache" / "raw").mkdir(parents=True)
    (tmp_path / "cache" / "raw" / "mnist.pkl.gz").symlink_to(tmp_path / "outside.pkl.gz")
    with pytest.raises(SourceError, match="mnist.pkl.gz is a symbolic link, not a regular file; it was left alone"):
        prepare_dataset(tmp_path / "cache", pins=pins, net=mnist_scratch.data.Net(2, 5))
    assert (tmp_path / "cache" / "raw" / "mnist.pkl.gz").is_symlink()


def test_sweeps_delete_only_the_tool_own_temp_files(world, tmp_path):
    cache, outside = tmp_path / "cache", tmp_path / "elsewhere"
    outside.mkdir()
    (outside / ".f.k1ll3d00.tmp").write_text("someone else's")
    (cache / "custom").mkdir(parents=True)
    (cache / "custom" / "k").symlink_to(outside)  # a link out of the cache: never entered
    (cache / "mnist").mkdir()
    (cache / "mnist" / ".manifest.json.old.tmp").write_text("a user's backup")  # not a name mkstemp makes
    (cache / "mnist" / ".canonical.safetensors.k1ll3d00.tmp").write_text("a killed write")
    assert cli("download", "--data-dir", cache).exit_code == 0
    assert (outside / ".f.k1ll3d00.tmp").exists() and (cache / "mnist" / ".manifest.json.old.tmp").exists()
    assert not (cache / "mnist" / ".canonical.safetensors.k1ll3d00.tmp").exists()


# --- class 3: run folders are owned and locked ---

@pytest.fixture
def data(monkeypatch):
    d = small_data(n_train=200, n_valid=100, n_test=100)
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: d)


@pytest.mark.parametrize("name", ["config.json", "metrics.jsonl", "model.safetensors"])
def test_a_fresh_run_never_overwrites_files_that_are_not_a_run(name, data, tmp_path):
    out = tmp_path / "p"
    out.mkdir()
    (out / name).write_text("{}\n" if name == "config.json" else "")  # empty: not "a run" by the older rule
    before = snapshot(out)
    res = cli("train", *TRAIN, "--out", out)
    assert (res.exit_code, one_line(res.stderr)) == (
        2, f"error: --out {out} holds files no mnist-scratch run wrote ({name}); nothing was touched: choose "
           "another --out")
    assert snapshot(out) == before


@pytest.mark.parametrize("how", ["resume", "fresh"])
def test_a_run_folder_another_run_writes_to_is_refused(how, data, tmp_path):
    from filelock import FileLock

    out = tmp_path / "run"
    assert cli("train", *TRAIN, "--out", out).exit_code == 0
    if how == "fresh":  # a run that started here and has not finished an epoch yet
        for name in ("model.safetensors", "metrics.jsonl"):
            (out / name).unlink()
    before = snapshot(out)
    with FileLock(out / runs.LOCK, timeout=5):  # what a running `train` holds
        args = ["--resume", out, "--epochs", "3"] if how == "resume" else [*TRAIN, "--out", out]
        res = cli("train", *args, "--no-progress")
    assert (res.exit_code, one_line(res.stderr)) == (
        1, f"error: another mnist-scratch process is writing the run in {out} (it holds {runs.LOCK}); wait for it "
           "to finish or choose another --out")
    assert snapshot(out) == before


# --- class 4: paths of any shape ---

@pytest.mark.parametrize("args", [
    ["download", "--from", "{t}/" + LONG], ["download", "--data-dir", "{t}/" + LONG + "/c"],
    ["download", "--data-dir", "{t}/loop/c"], ["train", "--resume", "{t}/" + LONG], ["evaluate", "{t}/" + LONG],
    ["show", "--checkpoint", "{t}/" + LONG], ["show", "--index", "0", "--png", "{t}/" + LONG + ".png"],
    ["show", "--index", "0", "--png", "{t}/loop/x.png"], ["train", "--out", "{t}/" + LONG, *TRAIN],
    ["train", "--out", "{t}/loop/run", *TRAIN], ["train", *TRAIN, "--out", "{t}/r", "--plot", "{t}/loop/x.png"],
])
def test_paths_too_long_or_inside_a_link_loop_give_one_line(args, world, tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    args = [a.format(t=tmp_path) for a in args]
    if "--data-dir" not in args:
        args += ["--data-dir", str(tmp_path / "cache")]
    res = cli(*args)
    line = one_line(res.stderr)
    assert res.exit_code in (1, 2) and line.startswith("error: ") and "unexpected" not in line, line


def test_a_run_written_under_a_name_that_is_not_utf8_can_be_read_back(world, tmp_path):
    _, _, s = world
    url, cache = s.url("/a/mnist.pkl.gz"), str(tmp_path / "cache")
    out = os.fsencode(tmp_path) + b"/run-\xff"
    res = driver(url, "train", *TRAIN, "--out", out, "--data-dir", cache)
    assert res.returncode == 0 and res.stderr == b"", res.stderr
    assert b"run-\\xff" in res.stdout  # shown escaped, never a crash after the work
    res = driver(url, "evaluate", out, "--data-dir", cache)
    assert res.returncode == 0 and res.stderr == b"" and b"run-\\xff" in res.stdout, res.stderr
    res = driver(url, "train", "--resume", out, "--epochs", "2", "--no-progress", "--data-dir", cache)
    assert res.returncode == 0 and res.stderr == b"", res.stderr
