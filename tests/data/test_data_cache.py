"""The cache: reuse without network, corruption detected and repaired, unwritable/full folders, normalization."""

import errno
import gzip
import os
import pathlib

import pytest
import torch
from fakemnist import classic_splits, make_arrays, py2_pickle, tiny_pins
from fakeserver import MirrorServer, Route

import mnist_scratch.atomic as atomic
from mnist_scratch.data import Net, cache_root, load_dataset, prepare_dataset
from mnist_scratch.errors import DataError

FAST = Net(connect_timeout=2, read_timeout=5)


@pytest.fixture
def served():
    """A server with the tiny classic pickle on one mirror, and pins pointing at it."""
    arrays = make_arrays()
    pkl = gzip.compress(py2_pickle(classic_splits(arrays)), mtime=0)
    with MirrorServer({"/a/mnist.pkl.gz": Route(pkl)}) as s:
        yield s, tiny_pins(arrays, pickle=pkl, pickle_urls=[s.url("/a/mnist.pkl.gz")]), arrays


def _flip(path: pathlib.Path, pos: int) -> None:
    data = bytearray(path.read_bytes())
    data[pos] ^= 0x01
    path.write_bytes(bytes(data))


def test_second_load_uses_cache_without_network(served, tmp_path):
    s, pins, _ = served
    first, rep1 = prepare_dataset(tmp_path, pins=pins, net=FAST)
    s.routes.clear()  # the mirror is gone
    second, rep2 = prepare_dataset(tmp_path, pins=pins, net=FAST)
    assert (rep1.cached, rep2.cached) == (False, True) and s.hits["/a/mnist.pkl.gz"] == 1
    assert rep2.files == rep1.files and rep2.source == "web" and rep2.stats == rep1.stats
    assert torch.equal(first.x_train, second.x_train) and torch.equal(first.y_test, second.y_test)


def test_flipped_byte_in_processed_file_is_rebuilt_from_raw(served, tmp_path):
    s, pins, _ = served
    first, _ = prepare_dataset(tmp_path, pins=pins, net=FAST)
    processed = tmp_path / "mnist" / "canonical.safetensors"
    _flip(processed, processed.stat().st_size - 100)
    with pytest.raises(DataError, match="does not match its recorded digest"):
        load_dataset(tmp_path, pins=pins, download=False)
    again, rep = prepare_dataset(tmp_path, pins=pins, net=FAST)
    assert not rep.cached and s.hits["/a/mnist.pkl.gz"] == 1  # rebuilt from the verified raw file
    assert torch.equal(first.x_train, again.x_train)


def test_flipped_byte_in_raw_file_is_refetched(served, tmp_path):
    s, pins, _ = served
    prepare_dataset(tmp_path, pins=pins, net=FAST)
    _flip(tmp_path / "raw" / "mnist.pkl.gz", 50)
    _, rep = prepare_dataset(tmp_path, pins=pins, net=FAST, verify_raw=True)
    assert not rep.cached and s.hits["/a/mnist.pkl.gz"] == 2
    _, rep = prepare_dataset(tmp_path, pins=pins, net=FAST, verify_raw=True)
    assert rep.cached


@pytest.mark.parametrize("text", ["{not json", "[" * 100_000 + "]" * 100_000])
def test_corrupted_manifest_is_a_cache_miss(served, tmp_path, text):
    _, pins, _ = served
    prepare_dataset(tmp_path, pins=pins, net=FAST)
    (tmp_path / "mnist" / "manifest.json").write_text(text)
    _, rep = prepare_dataset(tmp_path, pins=pins, net=FAST)
    assert not rep.cached and rep.verified


def test_cache_folder_from_environment(served, tmp_path, monkeypatch):
    _, pins, _ = served
    monkeypatch.setenv("MNIST_SCRATCH_DATA", str(tmp_path / "env"))
    assert cache_root(None) == tmp_path / "env" and cache_root(tmp_path / "opt") == tmp_path / "opt"
    load_dataset(pins=pins)
    assert (tmp_path / "env" / "mnist" / "canonical.safetensors").is_file()


def test_default_cache_is_per_user(monkeypatch):
    monkeypatch.delenv("MNIST_SCRATCH_DATA", raising=False)
    assert "mnist-scratch" in str(cache_root(None))


def _read_only(monkeypatch):
    def refuse(self, *a, **k):
        raise PermissionError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(pathlib.Path, "mkdir", refuse)


def test_read_only_cache_folder_is_a_clear_error(served, tmp_path, monkeypatch):
    _, pins, _ = served
    _read_only(monkeypatch)
    with pytest.raises(DataError, match=f"cache folder {tmp_path} is not writable .*--data-dir"):
        prepare_dataset(tmp_path, pins=pins, net=FAST)


def test_read_only_but_filled_cache_still_loads(served, tmp_path, monkeypatch):
    _, pins, _ = served
    prepare_dataset(tmp_path, pins=pins, net=FAST)
    _read_only(monkeypatch)
    assert load_dataset(tmp_path, pins=pins, download=False).verified


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_really_read_only_folder(served, tmp_path):
    _, pins, _ = served
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(DataError, match="is not writable"):
            prepare_dataset(tmp_path, pins=pins, net=FAST)
    finally:
        tmp_path.chmod(0o700)


def test_full_disk_leaves_previous_files_intact(served, tmp_path, monkeypatch):
    _, pins, _ = served
    prepare_dataset(tmp_path, pins=pins, net=FAST)
    before = {p.name: p.read_bytes() for p in (tmp_path / "mnist").iterdir()}

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(DataError, match="no space left in the cache folder"):
        prepare_dataset(tmp_path, pins=pins, net=FAST, force=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "mnist").iterdir()} == before  # no temp file, no damage


def test_normalization_matches_direct_computation(served, tmp_path):
    _, pins, arrays = served
    ds, rep = prepare_dataset(tmp_path, pins=pins, net=FAST)
    raw = torch.from_numpy(arrays["train_images"].reshape(-1, 784)).float() / 256  # (60, 784)
    train, valid = raw[:50], raw[50:]
    assert ds.mean == pytest.approx(train.mean().item(), rel=1e-6)
    assert ds.std == pytest.approx(train.std().item(), rel=1e-6)
    torch.testing.assert_close(ds.x_train, (train - ds.mean) / ds.std, rtol=0, atol=1e-5)
    torch.testing.assert_close(ds.x_valid, (valid - ds.mean) / ds.std, rtol=0, atol=1e-5)
    assert rep.stats["train_mean"] == pytest.approx(ds.x_train.double().mean().item(), abs=1e-7)
    assert rep.stats["train_std"] == pytest.approx(ds.x_train.double().std().item(), rel=1e-7)
    assert rep.stats["valid_mean"] == pytest.approx(ds.x_valid.double().mean().item(), abs=1e-7)
    assert rep.stats["valid_std"] == pytest.approx(ds.x_valid.double().std().item(), rel=1e-7)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert (ds.x_train.shape, ds.x_valid.shape, ds.x_test.shape) == ((50, 784), (10, 784), (10, 784))
    assert rep.split == {"train": 50, "valid": 10, "test": 10}
