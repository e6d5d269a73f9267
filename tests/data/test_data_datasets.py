"""Datasets by name: another MNIST-format set (Fashion-MNIST) cached with `download --from DIR --name NAME` is what
`--dataset NAME` reads; MNIST is never put in its place; every dataset has a digest of its data."""

import json

import numpy as np
import pytest
import torch
from fakemnist import fashion_arrays, make_arrays, tiny_pins, write_idx_folder
from faultkit import cli, one_line, use_pins

from mnist_scratch.config import TrainConfig
from mnist_scratch.data import load_dataset, prepare_dataset
from mnist_scratch.errors import DataError, UsageError
from mnist_scratch.training import checkpoint


@pytest.fixture
def mnist():
    return make_arrays(seed=0)


@pytest.fixture
def pins(mnist):
    """The tiny layout, with the seed-0 arrays pinned as 'official MNIST'."""
    return tiny_pins(mnist)


@pytest.fixture
def other(tmp_path):
    """A folder of another MNIST-format set (not the pinned one), in the official file names."""
    write_idx_folder(tmp_path / "other", make_arrays(seed=7))
    return tmp_path / "other"


def test_a_named_set_is_cached_apart_and_read_back_by_name(tmp_path, pins, mnist, other):
    write_idx_folder(tmp_path / "mnist", mnist)
    prepare_dataset(tmp_path / "c", from_path=tmp_path / "mnist", pins=pins)
    ds, rep = prepare_dataset(tmp_path / "c", from_path=other, pins=pins, name="fashion")
    assert (rep.name, ds.name, rep.verified) == ("fashion", "fashion", False)
    assert (tmp_path / "c" / "sets" / "fashion" / "canonical.safetensors").is_file()
    back = load_dataset(tmp_path / "c", pins=pins, name="fashion")
    assert back.y_test.tolist() == make_arrays(seed=7)["test_labels"].tolist()
    official = load_dataset(tmp_path / "c", pins=pins)
    assert official.name == "mnist" and official.y_test.tolist() == mnist["test_labels"].tolist()
    assert back.digest.startswith("sha256:") and back.digest != official.digest


def test_a_name_not_cached_is_an_error_never_a_download_of_mnist(tmp_path, pins, monkeypatch):
    import mnist_scratch.data.sources as sources

    monkeypatch.setattr(sources.Fetcher, "fetch", lambda *a: pytest.fail("fetched MNIST in the named set's place"))
    with pytest.raises(DataError, match=r"no dataset named fashion in .* add it with `mnist-scratch download --from "
                                        r"DIR --name fashion`"):
        load_dataset(tmp_path / "c", pins=pins, name="fashion")


@pytest.mark.parametrize("name", ["Fashion", "../x", "", "a/b", "x" * 41, "-x", "f\x1bm"])
def test_names_that_are_not_plain_folder_names_are_refused(tmp_path, pins, other, name):
    with pytest.raises(UsageError, match="dataset name of 1-40 lower-case"):
        prepare_dataset(tmp_path / "c", from_path=other, pins=pins, name=name)
    assert not (tmp_path / "c" / "sets").exists()


def test_a_named_set_comes_only_from_local_files(tmp_path, pins):
    with pytest.raises(UsageError, match="--source web fetches MNIST; the dataset fashion comes from --from DIR"):
        prepare_dataset(tmp_path / "c", source="web", pins=pins, name="fashion")


def test_the_digest_is_of_the_data_whatever_the_file_format(tmp_path, pins, mnist):
    write_idx_folder(tmp_path / "raw", mnist)
    write_idx_folder(tmp_path / "gz", mnist, gz=True)
    a = load_dataset(tmp_path / "c1", from_path=tmp_path / "raw", pins=pins)
    b = load_dataset(tmp_path / "c2", from_path=tmp_path / "gz", pins=pins)
    assert a.digest == b.digest


def test_a_cache_written_before_names_gets_the_same_digest(tmp_path, pins, mnist):
    write_idx_folder(tmp_path / "in", mnist)
    new = load_dataset(tmp_path / "c", from_path=tmp_path / "in", pins=pins)
    manifest = tmp_path / "c" / "mnist" / "manifest.json"
    m = json.loads(manifest.read_text())
    del m["digest"]
    manifest.write_text(json.dumps(m))
    assert load_dataset(tmp_path / "c", pins=pins, download=False).digest == new.digest


def test_download_name_then_show_dataset_on_the_command_line(tmp_path, pins, other, monkeypatch):
    use_pins(monkeypatch, pins)
    r = cli("download", "--from", other, "--name", "fashion", "--data-dir", tmp_path / "c", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["name"] == "fashion"
    r = cli("show", "--dataset", "fashion", "--index", "0", "--data-dir", tmp_path / "c", "--json")
    assert r.exit_code == 0, r.output
    label = make_arrays(seed=7)["train_labels"][50]  # valid row 0: the first row after the 50 train rows
    assert json.loads(r.stdout)["digits"][0]["label"] == label
    r = cli("show", "--dataset", "nosuch", "--data-dir", tmp_path / "c")
    assert r.exit_code == 1 and "no dataset named nosuch" in one_line(r.stderr)


def _ckpt(path, dataset="mnist", data=""):
    cfg = TrainConfig(nh=(4,), dataset=dataset)
    state = {k: torch.zeros(s) for k, s in checkpoint.expected_shapes(cfg).items()}
    checkpoint.save(path, state, cfg, 1, 0.1, 0.3, best=0.5, data=data)
    return path


def test_evaluate_reads_the_runs_own_dataset_and_refuses_another(tmp_path, pins, other, mnist, monkeypatch):
    use_pins(monkeypatch, pins)
    write_idx_folder(tmp_path / "mnist", mnist)
    fashion = load_dataset(tmp_path / "c", from_path=other, pins=pins, name="fashion")
    official = load_dataset(tmp_path / "c", from_path=tmp_path / "mnist", pins=pins)
    run = _ckpt(tmp_path / "f.safetensors", "fashion", fashion.digest)
    r = cli("evaluate", run, "--data-dir", tmp_path / "c", "--json")
    assert r.exit_code == 0, r.output
    r = cli("evaluate", run, "--dataset", "mnist", "--data-dir", tmp_path / "c")
    assert r.exit_code == 2
    assert one_line(r.stderr).endswith("was trained on the dataset fashion, not mnist: refused (use --dataset fashion)")
    legacy = _ckpt(tmp_path / "old.safetensors")  # no recorded digest: MNIST by name
    assert cli("evaluate", legacy, "--data-dir", tmp_path / "c").exit_code == 0
    r = cli("evaluate", legacy, "--dataset", "fashion", "--data-dir", tmp_path / "c")
    assert r.exit_code == 2 and "trained on the dataset mnist, not fashion" in one_line(r.stderr)
    stale = _ckpt(tmp_path / "stale.safetensors", "mnist", fashion.digest)  # the cache now holds other data
    r = cli("evaluate", stale, "--data-dir", tmp_path / "c")
    assert r.exit_code == 1 and "the cached dataset mnist is not the data" in one_line(r.stderr)
    assert official.digest != fashion.digest


def test_real_fashion_mnist_rows_make_a_named_set(tmp_path, pins):
    arrays = fashion_arrays()
    if arrays is None:
        pytest.skip("Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
    write_idx_folder(tmp_path / "fashion", arrays, gz=True)
    ds, rep = prepare_dataset(tmp_path / "c", from_path=tmp_path / "fashion", pins=pins, name="fashion")
    assert not rep.verified and ds.name == "fashion"
    assert ds.y_train.tolist() == arrays["train_labels"][:50].tolist()
    assert np.isclose(ds.mean, arrays["train_images"][:50].mean() / 256, atol=1e-6)
