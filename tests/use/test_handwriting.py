"""A default run trained on real MNIST reads handwriting that is not MNIST: the UCI digits as image files, and
digits drawn with PIL strokes (slanted, jittered, any pen, size and place)."""

import re

import pytest
from handwriting import write_strokes, write_uci

from mnist_scratch.use.files import predict_files
from mnist_scratch.use.predict import Predictor

N = 500


@pytest.mark.slow
def test_a_default_run_reads_most_uci_digits(trained_run, tmp_path):
    labels = write_uci(tmp_path / "uci", N)
    rows = predict_files(Predictor(trained_run), [tmp_path / "uci"])
    assert all(r.error is None for r in rows)
    assert [int(re.search(r"label(\d)", r.path.name).group(1)) for r in rows] == labels
    acc = sum(r.guess.top[0][0] == y for r, y in zip(rows, labels, strict=True)) / N
    print(f"UCI digits read right: {acc:.1%} of {N}")
    assert acc >= 0.7  # 8x8 digits blown up are blockier than any MNIST digit; chance is 10 %


@pytest.mark.slow
def test_a_default_run_reads_digits_drawn_with_strokes(trained_run, tmp_path):
    labels = write_strokes(tmp_path / "drawn", 20)
    rows = predict_files(Predictor(trained_run), [tmp_path / "drawn"])
    acc = sum(r.guess.top[0][0] == y for r, y in zip(rows, labels, strict=True)) / len(labels)
    print(f"drawn digits read right: {acc:.1%} of {len(labels)}")
    assert acc >= 0.9  # clean strokes: easier than the UCI scans
