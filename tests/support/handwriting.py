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


def _arc(cx, cy, rx, ry, a0, a1, n=12):
    """Points on an ellipse from angle a0 to a1 (degrees, clockwise on screen from 3 o'clock)."""
    return [(cx + rx * np.cos(np.radians(a)), cy + ry * np.sin(np.radians(a))) for a in np.linspace(a0, a1, n)]


STROKES = {  # each digit as pen strokes in a 100 x 140 box (y down), the way a person writes it
    0: [_arc(50, 70, 35, 60, -90, 270, 24)],
    1: [[(35, 25), (55, 5), (55, 135)]],
    2: [_arc(50, 40, 32, 32, 200, 360) + [(80, 55), (15, 135), (88, 135)]],
    3: [_arc(48, 36, 30, 30, 200, 450) + _arc(48, 100, 34, 34, 270, 520)],
    4: [[(60, 5), (10, 95), (90, 95)], [(65, 45), (65, 135)]],
    5: [[(82, 8), (25, 8), (20, 62)] + _arc(50, 95, 36, 38, 230, 500)],
    6: [[(72, 5), (50, 25), (32, 50), (22, 80)] + _arc(50, 105, 30, 30, 180, 520, 20)],
    7: [[(10, 8), (90, 8), (40, 135)]],
    8: [_arc(50, 36, 28, 30, 90, 450, 20) + _arc(50, 102, 34, 34, -90, 270, 20)],
    9: [_arc(50, 42, 32, 34, 0, 360, 22) + [(82, 42), (75, 135)]],
}


def draw_digit(d: int, rng: np.random.Generator) -> Image.Image:
    """Digit d drawn with PIL strokes as a person might: jittered, slanted, any pen width, size and place."""
    from PIL import ImageDraw

    scale, slant = rng.uniform(0.4, 2.5), rng.uniform(-0.25, 0.25)
    strokes = [[(scale * (x + slant * (140 - y) + rng.normal(0, 2)), scale * (y + rng.normal(0, 2))) for x, y in st]
               for st in STROKES[d]]
    xs, ys = [x for st in strokes for x, _ in st], [y for st in strokes for _, y in st]
    ml, mt = rng.uniform(10, 150, 2)  # the margins left and above: the digit anywhere on the page
    w, h = int(max(xs) - min(xs) + ml + rng.uniform(10, 150)), int(max(ys) - min(ys) + mt + rng.uniform(10, 150))
    dark = rng.random() < 0.7  # most people write dark on light
    img = Image.new("L", (w, h), int(rng.integers(200, 256)) if dark else int(rng.integers(0, 50)))
    pen = int(rng.integers(0, 70)) if dark else int(rng.integers(200, 256))
    draw = ImageDraw.Draw(img)
    for st in strokes:
        draw.line([(x - min(xs) + ml, y - min(ys) + mt) for x, y in st], fill=pen,
                  width=max(1, int(scale * rng.uniform(6, 16))), joint="curve")
    return img


def write_strokes(folder: Path, per_digit: int, seed: int = 0) -> list[int]:
    """per_digit drawings of each digit as PNG files in folder; their labels in file-name order."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = []
    for i in range(per_digit * 10):
        d = i % 10
        draw_digit(d, rng).save(folder / f"{i:04d}-label{d}.png")
        labels.append(d)
    return labels
