"""A default run trained on real MNIST reads real handwriting that is not MNIST (the UCI digits as image files)."""

import re

import pytest
from handwriting import write_uci
from realdata import real_mnist
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.training import checkpoint
from mnist_scratch.use.files import predict_files
from mnist_scratch.use.predict import Predictor

N = 500


@pytest.mark.slow
def test_a_default_run_reads_most_uci_digits(tmp_path_factory):
    real_mnist(tmp_path_factory)  # skips, saying why, without the dataset
    tmp = tmp_path_factory.mktemp("hand")
    labels = write_uci(tmp / "uci", N)
    r = CliRunner().invoke(app, ["train", "--out", str(tmp / "run"), "--no-progress", "--threads", "1", "--json"])
    assert r.exit_code == 0, r.output
    rows = predict_files(Predictor(checkpoint.load(tmp / "run")), [tmp / "uci"])
    assert all(r.error is None for r in rows)
    assert [int(re.search(r"label(\d)", r.path.name).group(1)) for r in rows] == labels
    acc = sum(r.guess.top[0][0] == y for r, y in zip(rows, labels, strict=True)) / N
    print(f"UCI digits read right: {acc:.1%} of {N}")
    assert acc >= 0.7  # 8x8 digits blown up are blockier than any MNIST digit; chance is 10 %
