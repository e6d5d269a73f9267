"""Checkpoints of every kind of run for the use tests, and images drawn with PIL strokes."""

import dataclasses
import io

import pytest
import torch
from PIL import Image, ImageDraw
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from mnist_scratch.config import TrainConfig
from mnist_scratch.lesson.nn import make_model
from mnist_scratch.training import checkpoint


def save_run(folder, nh=(50,), loss="ce", seed=0, mean=0.13, std=0.31, **meta) -> "checkpoint.Checkpoint":
    """A run folder holding a checkpoint of a freshly initialised model (extra metadata keys added as given)."""
    cfg = dataclasses.replace(TrainConfig(), nh=tuple(nh), loss=loss)
    model = make_model(cfg.nh, loss, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # biases non-zero too, so a transposed or skipped bias shows
        for k, p in model.params():
            if k.endswith(".b"):
                p.normal_(0, 0.1, generator=torch.Generator().manual_seed(seed + 1))
    path = folder / checkpoint.WEIGHTS
    checkpoint.save(path, dict(model.params()), cfg, 5, mean, std)
    if meta:  # keys another version may write (a dataset name, class names): added to the metadata as they are
        with safe_open(path, "pt") as f:
            old = f.metadata()
        save_file(load_file(path), path, metadata={**old, **meta})
    return checkpoint.load(folder)


@pytest.fixture
def ce_run(tmp_path):
    return save_run(tmp_path / "ce")


def digit_image(size=(200, 160), ink=0, paper=255, at=(40, 20), scale=1.0, mode="L") -> Image.Image:
    """A '7' drawn with PIL strokes: a top bar and a slanted stem, dark on light by default."""
    img = Image.new(mode, size, paper)
    d = ImageDraw.Draw(img)
    x, y = at
    s = scale
    d.line([(x, y), (x + 80 * s, y), (x + 40 * s, y + 110 * s)], fill=ink, width=max(1, int(12 * s)),
           joint="curve")
    return img


def png_bytes(img: Image.Image, fmt="PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


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
