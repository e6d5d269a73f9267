"""Fixtures of the training tests."""

import pytest
from trainfakes import small_data

import mnist_scratch.data


@pytest.fixture
def fake_dataset(monkeypatch):
    """A small synthetic dataset (1,500 train rows) served to every command instead of MNIST."""
    data = small_data(n_train=1500)
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: data)
    return data
