"""--from PATH: idx raw and .gz, the classic pickle, file lists, custom datasets kept apart, bad paths."""

import gzip

import numpy as np
import pytest
from fakemnist import (
    IDX_NAMES,
    classic_splits,
    make_arrays,
    py2_pickle,
    tiny_pins,
    write_classic_pickle,
    write_idx_folder,
    write_idx_images,
)

from mnist_scratch.data import load_dataset, prepare_dataset
from mnist_scratch.errors import DataError, FormatError


@pytest.fixture
def arrays():
    return make_arrays()


@pytest.fixture
def pins(arrays):
    pkl = gzip.compress(py2_pickle(classic_splits(arrays)), mtime=0)
    return tiny_pins(arrays, pickle=pkl)


@pytest.mark.parametrize("gz", [False, True])
def test_official_idx_folder(tmp_path, arrays, pins, gz):
    write_idx_folder(tmp_path / "in", arrays, gz=gz)
    ds, rep = prepare_dataset(tmp_path / "cache", from_path=tmp_path / "in", pins=pins)
    assert (rep.source, rep.verified, ds.verified, ds.source) == ("local", True, True, "local")
    assert [f.name for f in rep.files] == [IDX_NAMES[r] + (".gz" if gz else "") for r in IDX_NAMES]
    assert ds.y_test.tolist() == arrays["test_labels"].tolist()
    assert load_dataset(tmp_path / "cache", pins=pins, download=False).verified  # the official slot


def test_classic_pickle_file(tmp_path, arrays, pins):
    path = write_classic_pickle(tmp_path / "mnist.pkl.gz", arrays)
    pins = tiny_pins(arrays, pickle=path.read_bytes())
    ds, rep = prepare_dataset(tmp_path / "cache", from_path=path, source="local", pins=pins)
    assert rep.verified and [f.name for f in rep.files] == ["mnist.pkl.gz"]
    assert ds.y_train.tolist() == arrays["train_labels"][:50].tolist()


def test_list_of_files_and_dotted_names(tmp_path, arrays, pins):
    paths = write_idx_folder(tmp_path, arrays)
    dotted = paths["train_images"].rename(tmp_path / "train-images.idx3-ubyte")
    files = [dotted, paths["train_labels"], paths["test_images"], paths["test_labels"]]
    _, rep = prepare_dataset(tmp_path / "cache", from_path=files, pins=pins)
    assert rep.verified and rep.files[0].name == "train-images.idx3-ubyte"


def test_custom_dataset_is_flagged_and_cached_apart(tmp_path, pins):
    other = make_arrays(seed=7)
    write_idx_folder(tmp_path / "in", other)
    ds, rep = prepare_dataset(tmp_path / "cache", from_path=tmp_path / "in", pins=pins)
    assert (rep.verified, ds.verified) == (False, False) and not any(f.verified for f in rep.files)
    assert not (tmp_path / "cache" / "mnist").exists()
    assert len(list((tmp_path / "cache" / "custom").iterdir())) == 1
    _, again = prepare_dataset(tmp_path / "cache", from_path=tmp_path / "in", pins=pins)
    assert again.cached and not again.verified
    with pytest.raises(DataError, match="no intact dataset"):
        load_dataset(tmp_path / "cache", pins=pins, download=False)  # never mixed with official MNIST


def test_missing_path(tmp_path, pins):
    with pytest.raises(DataError, match=f"--from {tmp_path / 'nope'}: no such file or folder"):
        prepare_dataset(tmp_path / "cache", from_path=tmp_path / "nope", pins=pins)


def test_empty_folder_and_partial_set(tmp_path, arrays, pins):
    (tmp_path / "in").mkdir()
    with pytest.raises(DataError, match="no complete MNIST-format set \\(found: none\\); expected mnist.pkl.gz"):
        prepare_dataset(tmp_path / "cache", from_path=tmp_path / "in", pins=pins)
    write_idx_images(tmp_path / "in" / IDX_NAMES["train_images"], arrays["train_images"])
    with pytest.raises(DataError, match="found: train-images-idx3-ubyte"):
        prepare_dataset(tmp_path / "cache", from_path=tmp_path / "in", pins=pins)


def test_wrong_shape_dataset(tmp_path, arrays, pins):
    arrays = dict(arrays, train_images=np.zeros((60, 32, 32), np.uint8))
    write_idx_folder(tmp_path / "in", arrays)
    with pytest.raises(FormatError, match=r"train-images-idx3-ubyte: expected uint8 images \(60, 28, 28\)"):
        prepare_dataset(tmp_path / "cache", from_path=tmp_path / "in", pins=pins)
    assert not (tmp_path / "cache" / "custom").exists()


def test_malformed_idx_and_truncated_gzip(tmp_path, arrays, pins):
    paths = write_idx_folder(tmp_path / "in", arrays, gz=True)
    data = paths["test_labels"].read_bytes()
    paths["test_labels"].write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="t10k-labels-idx1-ubyte.gz: not a valid gzip file"):
        prepare_dataset(tmp_path / "cache", from_path=tmp_path / "in", pins=pins)
    paths["test_labels"].write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x0a" + b"\x01" * 9))
    with pytest.raises(FormatError, match="declares shape \\(10,\\)"):
        prepare_dataset(tmp_path / "cache", from_path=tmp_path / "in", pins=pins)


def test_pickle_that_would_run_code(tmp_path, pins):
    sentinel = tmp_path / "sentinel"
    evil = b"\x80\x02cos\nsystem\nU" + bytes([len(f"touch {sentinel}")]) + f"touch {sentinel}".encode() + b"\x85R."
    (tmp_path / "mnist.pkl.gz").write_bytes(gzip.compress(evil))
    with pytest.raises(FormatError, match="names os.system, which is not allowed"):
        prepare_dataset(tmp_path / "cache", from_path=tmp_path / "mnist.pkl.gz", pins=pins)
    assert not sentinel.exists()
