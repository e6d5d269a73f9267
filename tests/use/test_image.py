"""A person's image -> the MNIST form: inversion, crop, 20 px box, centre of mass; bad files refused with a reason."""

import io
import zlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from userun import digit_image, png_bytes

from mnist_scratch.use import image
from mnist_scratch.use.image import ImageError, prepare


def ink_box(x: torch.Tensor) -> tuple[int, int]:
    """Height and width of the nonzero part of a 28x28 image."""
    rows, cols = (x > 0).any(1).nonzero()[:, 0], (x > 0).any(0).nonzero()[:, 0]
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def centre(x: torch.Tensor) -> tuple[float, float]:
    i = torch.arange(28.0)
    return float((x.sum(1) * i).sum() / x.sum()), float((x.sum(0) * i).sum() / x.sum())


def test_dark_ink_on_paper_becomes_mnist_form():
    d = prepare(png_bytes(digit_image()))
    x = d.image
    assert d.inverted and x.shape == (28, 28)
    assert x.min() == 0 and abs(x.max() - 1) < 1e-6 and x[0].sum() == 0 and x[:, 0].sum() == 0  # ink high, background 0
    h, w = ink_box(x)
    assert max(h, w) in (20, 21) and h > w  # longer side scaled to 20 (anti-aliasing may spill one pixel)
    cy, cx = centre(x)
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5  # centre of mass at the field's centre, whole-pixel shift


def test_light_on_dark_transparent_and_moved_digits_give_the_same_input():
    base = prepare(png_bytes(digit_image())).image
    light = prepare(png_bytes(digit_image(ink=255, paper=0)))
    assert not light.inverted and torch.allclose(light.image, base, atol=1e-6)
    moved = prepare(png_bytes(digit_image(size=(400, 300), at=(250, 150)))).image
    assert torch.allclose(moved, base, atol=1e-6)  # only where it is on the page differs
    rgba = digit_image(mode="RGBA", ink=(0, 0, 0, 255), paper=(0, 0, 0, 0))  # black strokes on a transparent sheet
    assert torch.allclose(prepare(png_bytes(rgba)).image, base, atol=1e-6)


def test_a_grey_photo_of_paper_and_a_large_jpeg_still_read():
    grey = prepare(png_bytes(digit_image(ink=60, paper=170))).image  # a dim photo: the ink still reaches 1
    assert abs(grey.max() - 1) < 1e-6 and ink_box(grey)[0] in (20, 21)
    big = digit_image(size=(3000, 2400), at=(800, 600), scale=12, mode="RGB", ink=(20, 20, 90), paper=(240, 235, 220))
    d = prepare(png_bytes(big, "JPEG"))
    assert d.inverted
    assert (d.image - prepare(png_bytes(digit_image())).image).abs().mean() < 0.05  # the same '7' at a larger scale


def test_wide_digit_scaled_on_its_width():
    img = Image.new("L", (300, 100), 255)
    img.paste(0, (50, 40, 250, 60))  # a horizontal bar, 200 x 20
    x = prepare(png_bytes(img)).image
    h, w = ink_box(x)
    assert w == 20 and h == 2


def bomb_png(w: int, h: int) -> bytes:
    """A PNG header claiming w x h pixels (a few hundred bytes; decoding it would need w*h bytes)."""
    def chunk(kind, data):
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])  # 1-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("data, why", [
    (b"", "empty file"),
    (b"this is not an image\n" * 10, "not an image"),
    (png_bytes(Image.new("L", (1, 1), 0)), "1x1 pixels: too small"),
    (png_bytes(Image.new("L", (400, 300), 255)), "one flat colour"),
    (png_bytes(Image.new("RGB", (50, 50), (30, 90, 200))), "one flat colour"),
    (bomb_png(100_000, 100_000), "decompression bomb"),  # past twice the limit: Pillow raises
    (bomb_png(6_000, 6_000), "decompression bomb"),  # between the limit and twice it: Pillow only warns
    (png_bytes(digit_image())[:300], "broken image"),  # truncated
])
def test_bad_files_are_refused_with_a_reason(data, why):
    with pytest.raises(ImageError, match=why):
        prepare(data)


def test_limits_are_what_the_bomb_test_assumes():
    assert 6_000 * 6_000 > image.MAX_PIXELS and 6_000 * 6_000 < 2 * image.MAX_PIXELS
    prepare(png_bytes(digit_image()))  # sets Pillow's limit to ours
    with pytest.warns(Image.DecompressionBombWarning):
        assert Image.open(io.BytesIO(bomb_png(6_000, 6_000))).size == (6_000, 6_000)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.integers(0, 2**32 - 1), st.floats(0, 1))
def test_any_grey_array_gives_a_digit_or_a_reason(h, w, seed, density):
    g = np.random.default_rng(seed)
    gray = np.where(g.random((h, w)) < density, g.random((h, w)), 1.0).astype(np.float32)  # ink specks on white
    try:
        d = image.to_mnist(gray)
    except ImageError as e:
        assert "flat colour" in str(e)
        return
    x = d.image
    assert x.shape == (28, 28) and float(x.min()) >= 0 and float(x.max()) <= 1 and float(x.max()) > 0
    assert max(ink_box(x)) <= 21  # the digit box, plus at most one anti-aliased pixel
