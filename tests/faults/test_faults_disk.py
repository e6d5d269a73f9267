"""Fault matrix, disk group: read-only and full cache folders (simulated: the tests run as root, whom chmod does not
stop), a cache folder deleted between runs or replaced by a file, a read-only run folder.
"""

import errno
import gzip
import json
import shutil

import pytest
from fakemnist import classic_splits, make_arrays, md5, py2_pickle, tiny_pins
from fakeserver import MirrorServer, Route
from faultkit import broken_disk, cli, one_line, snapshot, temp_files, use_pins

HINT = "choose another folder with --data-dir or MNIST_SCRATCH_DATA"


@pytest.fixture
def world(tmp_path, monkeypatch):
    """(cache folder, server, pins, url, pickle bytes) with the tiny pickle served and the CLI using the pins."""
    arrays = make_arrays()
    pkl = gzip.compress(py2_pickle(classic_splits(arrays)), mtime=0)
    with MirrorServer({"/a/mnist.pkl.gz": Route(pkl)}) as s:
        url = s.url("/a/mnist.pkl.gz")
        pins = tiny_pins(arrays, pickle=pkl, pickle_urls=[url])
        use_pins(monkeypatch, pins)
        yield tmp_path / "cache", s, pins, url, pkl


def _fill(cache) -> dict:
    res = cli("download", "--data-dir", cache, "--json")
    assert res.exit_code == 0, res.output
    return snapshot(cache)


ROFS = "Read-only file system"


@pytest.mark.parametrize(("case", "code", "want"), [
    ("empty-erofs", 1, "error: cache folder {cache} is not writable (Read-only file system); " + HINT),
    ("empty-eacces", 1, "error: cache folder {cache} is not writable (Permission denied); " + HINT),
    ("filled-download", 0, None),
    ("filled-show", 0, None),
    ("filled-force", 1, "error: cache folder {cache} is not writable (Read-only file system); " + HINT),
    ("raw-only", 1, "error: cache folder {cache} is not writable (Read-only file system); " + HINT),
])
def test_read_only_cache_folder(case, code, want, world, monkeypatch):
    cache, s, _, _, _ = world
    if case.startswith(("filled", "raw")):
        _fill(cache)
    if case == "raw-only":
        shutil.rmtree(cache / "mnist")
    before, hits = snapshot(cache), s.hits["/a/mnist.pkl.gz"]
    broken_disk(monkeypatch, cache, errno.EACCES if case == "empty-eacces" else errno.EROFS)
    args = {"filled-show": ["show", "--index", "0", "--json"], "filled-force": ["download", "--force"]}.get(
        case, ["download"])
    res = cli(*args, "--data-dir", cache)
    monkeypatch.undo()
    assert res.exit_code == code, res.output
    if want is None:  # a filled cache is only read
        assert res.stderr == ""
    else:
        assert one_line(res.stderr) == want.format(cache=cache) and res.stdout == ""
    assert snapshot(cache) == before and temp_files(cache) == [] if cache.exists() else True
    assert s.hits["/a/mnist.pkl.gz"] == hits  # nothing fetched that could not be kept


@pytest.mark.parametrize(("case", "quota"), [
    ("mid-download", 10_000),  # the pickle is ~45 kB: the disk fills while its bytes arrive
    ("writing-the-split", None),  # room for the download, not for the processed split
    ("rebuild-over-a-good-cache", 0),  # --force with a full disk: the previous split must survive
])
def test_full_disk(case, quota, world, monkeypatch):
    cache, s, _, _, pkl = world
    if case == "rebuild-over-a-good-cache":
        _fill(cache)
    before = snapshot(cache)
    broken_disk(monkeypatch, cache, errno.ENOSPC, quota=len(pkl) + 1000 if quota is None else quota)
    res = cli("download", "--data-dir", cache, *(["--force"] if case.startswith("rebuild") else []))
    monkeypatch.undo()
    assert res.exit_code == 1
    folder = cache / "mnist" if case != "mid-download" else cache
    assert one_line(res.stderr) == (f"error: no space left in the cache folder {folder} (No space left on device); "
                                    f"free some or {HINT}")
    assert temp_files(cache) == []
    after = snapshot(cache)
    if case == "writing-the-split":
        assert after == {"raw/mnist.pkl.gz": before.get("raw/mnist.pkl.gz", after["raw/mnist.pkl.gz"])}
        assert md5((cache / "raw" / "mnist.pkl.gz").read_bytes()) == md5(pkl)  # complete and verified, or absent
    else:
        assert after == before
    res = cli("download", "--data-dir", cache, "--json")  # room again: the next run succeeds
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("mirror", ["up", "gone"])
def test_cache_folder_deleted_between_runs(mirror, world):
    cache, s, pins, url, _ = world
    good = _fill(cache)
    shutil.rmtree(cache)
    if mirror == "gone":
        s.routes.clear()
    res = cli("download", "--data-dir", cache, "--json")
    if mirror == "up":
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["cached"] is False and s.hits["/a/mnist.pkl.gz"] == 2
        assert snapshot(cache)["mnist/canonical.safetensors"] == good["mnist/canonical.safetensors"]
    else:
        assert res.exit_code == 1
        assert one_line(res.stderr) == (f"error: no source served MNIST (web {url}: HTTP 404; index {pins.index_url}: "
                                        "connection refused). Offline? Fetch mnist.pkl.gz or the four idx files "
                                        "elsewhere and run `mnist-scratch download --from PATH`")
        assert snapshot(cache) == {} and temp_files(cache) == []


def test_cache_path_is_a_file(world):
    cache = world[0]
    cache.write_bytes(b"user data")
    res = cli("download", "--data-dir", cache)
    assert res.exit_code == 1
    assert one_line(res.stderr) == f"error: cache folder {cache} is not a folder (Not a directory); {HINT}"
    assert cache.read_bytes() == b"user data"


def test_read_only_run_folder(world, tmp_path, monkeypatch):
    cache = world[0]
    _fill(cache)
    out = tmp_path / "runs" / "r"
    broken_disk(monkeypatch, tmp_path / "runs", errno.EROFS)
    res = cli("train", "--data-dir", cache, "--nh", "8", "--bs", "10", "--epochs", "1", "--no-progress", "--out", out)
    monkeypatch.undo()
    assert res.exit_code == 1
    assert one_line(res.stderr) == f"error: cannot write the run folder {out}: {ROFS}"
    assert not (tmp_path / "runs").exists()
