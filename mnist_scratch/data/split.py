"""The canonical split and its normalization: pixel = byte / 256, then (x - mean) / std with train stats."""

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Dataset:
    """The normalized canonical split (50,000 / 10,000 / 10,000) and the train statistics used."""

    x_train: Tensor  # (50000, 784) float32, normalized
    y_train: Tensor  # (50000,) int64
    x_valid: Tensor  # (10000, 784)
    y_valid: Tensor  # (10000,)
    x_test: Tensor  # (10000, 784)
    y_test: Tensor  # (10000,)
    mean: float  # train mean at the byte / 256 scale
    std: float  # train std at the byte / 256 scale
    verified: bool  # every file matched the official MNIST digests
    source: str  # "web", "index" or "local"
    name: str = "mnist"  # the name it is cached under: mnist, or one given with `download --name`
    digest: str = ""  # "sha256:..." of the canonical images and labels


def histograms(images: Tensor, n_train: int, n_valid: int) -> tuple[Tensor, Tensor]:
    """256-bin byte histograms of the train and valid rows (int64)."""
    train, valid = images[:n_train], images[n_train : n_train + n_valid]
    return torch.bincount(train.reshape(-1), minlength=256), torch.bincount(valid.reshape(-1), minlength=256)


def hist_stats(hist: Tensor, values: Tensor) -> tuple[float, float]:
    """Mean and std (with Bessel's correction, like Tensor.std) of values[byte] weighted by a histogram."""
    h, v = hist.double(), values.double()
    n = h.sum()
    mean = (h * v).sum() / n
    var = (h * (v - mean) ** 2).sum() / (n - 1)
    return mean.item(), var.sqrt().item()


def scale_shift(mean: float, std: float) -> tuple[float, float]:
    """a, b such that byte * a + b == (byte / 256 - mean) / std."""
    return 1.0 / (256.0 * std), -mean / std


def normalize(u8: Tensor, a: float, b: float, release=None, rows: int = 4096) -> Tensor:
    """float32 byte * a + b, computed in place in one fresh tensor, `rows` rows at a time.

    release(chunk), when given, is called with each uint8 chunk once it is converted (the cache uses it to drop
    the mapped file's pages, so the bytes and the floats are never all resident together).
    """
    x = torch.empty(u8.shape, dtype=torch.float32)
    for xc, uc in zip(x.split(rows), u8.split(rows), strict=True):
        xc.copy_(uc).mul_(a).add_(b)
        if release is not None:
            release(uc)
    return x


def split_stats(hist_train: Tensor, hist_valid: Tensor) -> tuple[float, float, dict[str, float]]:
    """Train mean/std at byte/256 scale, and the report's stats before and after normalizing."""
    bytes_ = torch.arange(256, dtype=torch.uint8)
    mean, std = hist_stats(hist_train, bytes_.double() / 256)
    lut = normalize(bytes_, *scale_shift(mean, std))  # exactly the float32 values the tensors hold
    train_mean, train_std = hist_stats(hist_train, lut)
    valid_mean, valid_std = hist_stats(hist_valid, lut)
    stats = dict(mean=mean, std=std, train_mean=train_mean, train_std=train_std,
                 valid_mean=valid_mean, valid_std=valid_std)
    return mean, std, stats


def make_dataset(images: Tensor, labels: Tensor, n_train: int, n_valid: int, mean: float, std: float, *,
                 verified: bool, source: str, device="cpu", release=None, name: str = "mnist",
                 digest: str = "") -> Dataset:
    """Normalize uint8 images (N, 784) with the given train stats and cut the canonical split."""
    a, b = scale_shift(mean, std)
    cuts = (n_train, n_valid, images.shape[0] - n_train - n_valid)
    xs = [normalize(u8, a, b, release).to(device) for u8 in images.split(cuts)]  # separate tensors, not views
    ys = [y.long().to(device) for y in labels.split(cuts)]
    return Dataset(xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], mean, std, verified, source, name, digest)
