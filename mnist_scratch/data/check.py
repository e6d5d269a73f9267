"""Structural checks that turn parsed files into the canonical uint8 images and labels."""

from dataclasses import dataclass

import numpy as np

from mnist_scratch.data.formats import parse_idx
from mnist_scratch.data.pins import Pins
from mnist_scratch.errors import FormatError


@dataclass(frozen=True)
class FileFact:
    """One file a dataset came from: its name, digest ('md5:...' or 'sha256:...') and whether it is official."""

    name: str
    digest: str
    verified: bool


@dataclass
class Canonical:
    """The canonical dataset as bytes: train file rows then test rows."""

    images: np.ndarray  # (N, 784) uint8
    labels: np.ndarray  # (N,) uint8


def from_idx(raw: dict[str, bytes], names: dict[str, str], pins: Pins) -> Canonical:
    """Parse and check the four idx files (role -> bytes) against the canonical shapes."""
    n_file = pins.n_train + pins.n_valid
    arrays = {role: parse_idx(data, names[role]) for role, data in raw.items()}
    for part, rows in (("train", n_file), ("test", pins.n_test)):
        x, y = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        xname, yname = names[f"{part}_images"], names[f"{part}_labels"]
        if x.dtype != np.uint8 or x.shape != (rows, 28, 28):
            raise FormatError(f"{xname}: expected uint8 images ({rows}, 28, 28), got {x.dtype} {x.shape}")
        if y.dtype != np.uint8 or y.shape != (rows,):
            raise FormatError(f"{yname}: expected uint8 labels ({rows},), got {y.dtype} {y.shape}")
        if rows and y.max() > 9:
            raise FormatError(f"{yname}: labels outside 0..9")
    images = np.concatenate([arrays["train_images"], arrays["test_images"]]).reshape(-1, 784)
    labels = np.concatenate([arrays["train_labels"], arrays["test_labels"]])
    return Canonical(images, labels)
