"""A person's image -> a 28x28 MNIST digit, made the way the dataset's digits were made. Pure: bytes in, tensor out.

MNIST: ink high on a 0 background, the digit scaled so its longer side is 20 px (aspect kept, anti-aliased), then
placed in a 28x28 field with its centre of mass at the centre.
"""

import io
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

MAX_BYTES = 32 << 20  # a photo of a digit is a few MB at most
MAX_PIXELS = 1 << 25  # 33.5M pixels (a 40-megapixel photo is refused): above it PIL's bomb check fires
WORK_SIDE = 560  # larger images are shrunk to this first: 20 times the digit box, fine enough for any stroke
MIN_SIDE = 8  # an image smaller than this on its longer side cannot hold a digit (sklearn's digits are 8x8)
MIN_CONTRAST = 0.1  # ink must differ from the background by this much (of the full 0..1 range)
INK = 0.3  # after stretching to 0..1, pixels above this are ink: they set the bounding box
NOISE = 0.15  # and pixels below this are paper texture: set to 0
BOX, FIELD = 20, 28


class ImageError(ValueError):
    """The file cannot be read as an image of a digit (the message says why, for one line)."""


@dataclass(frozen=True)
class Prepared:
    """A digit as the network sees it: (28, 28) in [0, 1], ink high; and how it was found."""

    image: Tensor  # (28, 28) float32
    inverted: bool  # the background was light (dark ink on paper)


def decode(data: bytes) -> np.ndarray:
    """Image bytes (any format Pillow reads) -> grayscale (h, w) in [0, 1]; ImageError when unusable."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise ImageError("empty file")
    if len(data) > MAX_BYTES:
        raise ImageError(f"larger than {MAX_BYTES:,} bytes")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's bomb check reads this; open() sees only the header
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"{w}x{h} pixels: more than {MAX_PIXELS:,} (a decompression bomb?)")
            if max(w, h) < MIN_SIDE:
                raise ImageError(f"{w}x{h} pixels: too small to hold a digit (at least {MIN_SIDE} px on its "
                                 "longer side)")
            img.seek(0)  # the first frame of an animation
            if max(w, h) > WORK_SIDE:
                img.draft("L", (WORK_SIDE, WORK_SIDE))  # a JPEG decodes at a fraction of its size: cheap
            img = ImageOps.exif_transpose(img)  # a phone photo stored sideways
            img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)  # only ever shrinks
            gray = _gray(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"a decompression bomb ({e})") from None
    except UnidentifiedImageError:
        raise ImageError("not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        if isinstance(e, ImageError):
            raise
        raise ImageError(f"a broken image ({(str(e).splitlines() or [type(e).__name__])[0]})") from None
    return gray


def _gray(img) -> np.ndarray:
    """(h, w) in [0, 1]: the alpha channel when the image has transparency (strokes on nothing), else luminance."""
    if "A" in img.getbands() or "transparency" in img.info:
        alpha = np.asarray(img.convert("RGBA").getchannel("A"), dtype=np.float32)
        if alpha.min() < 255:  # drawn on a transparent sheet: the strokes are where it is opaque
            return alpha / 255
    return np.asarray(img.convert("L"), dtype=np.float32) / 255


def to_mnist(gray: np.ndarray) -> Prepared:
    """Grayscale (h, w) in [0, 1] -> the MNIST form; ImageError when there is no ink to find.

    NumPy, not torch, up to the resize: a few whole-image passes, where torch's thread pool costs more than the work.
    """
    bg = float(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])))
    inverted = bg > 0.5
    x, bg = (1 - gray, 1 - bg) if inverted else (gray, bg)  # ink high
    top = float(x.max())
    if top - bg < MIN_CONTRAST:
        raise ImageError("no digit: the image is one flat colour (blank page?)")
    x = np.clip((x - bg) / (top - bg), 0, 1)  # paper to 0, the darkest ink to 1
    x[x < NOISE] = 0
    ink = x > INK
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    x = x[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # crop to the ink's bounding box
    return Prepared(place(fit_box(torch.from_numpy(np.ascontiguousarray(x)))), inverted)


def fit_box(x: Tensor) -> Tensor:
    """x scaled so its longer side is BOX px, keeping the aspect (anti-aliased when shrinking)."""
    h, w = x.shape
    s = BOX / max(h, w)
    size = (max(1, round(h * s)), max(1, round(w * s)))
    out = F.interpolate(x[None, None], size=size, mode="bilinear", antialias=True, align_corners=False)
    return out[0, 0].clamp(0.0, 1.0)


def place(x: Tensor) -> Tensor:
    """x put in a FIELD x FIELD zero image with its centre of mass at the centre (shifted whole pixels)."""
    h, w = x.shape
    total = x.sum()
    cy = float((x.sum(1) * torch.arange(h)).sum() / total)
    cx = float((x.sum(0) * torch.arange(w)).sum() / total)
    c = (FIELD - 1) / 2  # 13.5: the centre between the two middle pixels
    top = min(max(round(c - cy), 0), FIELD - h)  # never pushed out of the field
    left = min(max(round(c - cx), 0), FIELD - w)
    out = torch.zeros(FIELD, FIELD)
    out[top : top + h, left : left + w] = x
    return out


def prepare(data: bytes) -> Prepared:
    """Image bytes -> the MNIST form (decode, then to_mnist)."""
    return to_mnist(decode(data))
