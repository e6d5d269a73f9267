"""The use tests' fixture: a run trained on the real MNIST."""

import pytest

from mnist_scratch.training import checkpoint


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A default run trained on the real MNIST (5 epochs, a few seconds); skipped, saying why, without the data."""
    from realdata import real_mnist
    from typer.testing import CliRunner

    from mnist_scratch.cli import app

    real_mnist(tmp_path_factory)
    out = tmp_path_factory.mktemp("trained") / "run"
    r = CliRunner().invoke(app, ["train", "--out", str(out), "--no-progress", "--threads", "1", "--json"])
    assert r.exit_code == 0, r.output
    return checkpoint.load(out)
