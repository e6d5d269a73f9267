"""Real handwriting that is not MNIST: scikit-learn's UCI digits (8x8, 43 writers) rendered as image files in
several styles (dark ink on light paper and light on dark, sizes 24..240 px, off-centre, PNG and JPEG)."""

from pathlib import Path

import numpy as np
from PIL import Image


def uci_digits():
    """(images (n, 8, 8) in 0..16, labels (n,)); pytest.skip when scikit-learn is absent."""
    import pytest

    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn (dev extra) ships the UCI digits")
    d = datasets.load_digits()
    return d.images, d.target


def render(img8: np.ndarray, k: int, rng: np.random.Generator) -> Image.Image:
    """One 8x8 digit drawn as a person's image: smooth upscale, a margin, an offset, the k-th style."""
    side = int(rng.integers(24, 241))  # the digit's size in the picture
    ink = Image.fromarray((img8 / 16 * 255).astype(np.uint8)).resize((side, side), Image.Resampling.BICUBIC)
    a = np.asarray(ink, dtype=np.float32) / 255  # (side, side) ink in [0, 1]
    h, w = side + int(rng.integers(side // 4, side + 1)), side + int(rng.integers(side // 4, side + 1))
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    page = np.zeros((h, w), np.float32)
    page[top : top + side, left : left + side] = a
    paper, pen = (rng.uniform(0.75, 1.0), rng.uniform(0.0, 0.3)) if k % 2 == 0 else (rng.uniform(0, 0.2),
                                                                                      rng.uniform(0.8, 1.0))
    g = paper + (pen - paper) * page + rng.normal(0, 0.02, page.shape)  # a little sensor noise
    return Image.fromarray((g.clip(0, 1) * 255).astype(np.uint8)).convert("RGB" if k % 3 == 0 else "L")


def write_uci(folder: Path, n: int, seed: int = 0) -> list[int]:
    """The first n UCI digits as files in folder (every 4th a JPEG); their labels in file-name order."""
    images, labels = uci_digits()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        ext = "jpg" if i % 4 == 3 else "png"
        render(images[i], i, rng).save(folder / f"{i:04d}-label{labels[i]}.{ext}")
    return [int(v) for v in labels[:n]]
