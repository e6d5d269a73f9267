"""Digits to look at: chosen by index or as the most confidently wrong, with a model's predictions. Pure."""

import re
from dataclasses import dataclass

import torch
from torch import Tensor

from mnist_scratch.config import SPLITS
from mnist_scratch.errors import UsageError
from mnist_scratch.training.fit import classify, predict_all

MAX_DIGITS = 200
_PART = re.compile(r"^(\d+)(?:\.\.(\d+))?$")


def parse_indices(spec: str, n: int) -> list[int]:
    """'0..9' (inclusive), '3,5,7' or '0..4,10' -> indices below n; UsageError when malformed or out of range."""
    out: list[int] = []
    for part in spec.replace(" ", "").split(","):
        m = _PART.match(part)
        if not m:
            raise UsageError(f"--index must be like 0..9, 3,5,7 or 0..4,10; got {spec!r}")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise UsageError(f"--index range {part} runs backwards")
        if hi >= n:
            raise UsageError(f"--index {hi} is out of range: the split has {n} digits (0..{n - 1})")
        if len(out) + hi - lo + 1 > MAX_DIGITS:
            raise UsageError(f"--index selects more than {MAX_DIGITS} digits")
        out.extend(range(lo, hi + 1))
    return out


@dataclass(frozen=True)
class Digit:
    """One image (28, 28) with pixels in [0, 1], its label and, with a model, the prediction."""

    index: int
    label: int
    image: Tensor
    pred: "int | None" = None
    confidence: "float | None" = None  # softmax probability of pred; None for the one-output MSE model


@dataclass(frozen=True)
class DigitGrid:
    """The digits to show, from which split, and why."""

    split: str
    digits: list[Digit]
    title: str


def pixels(x: Tensor, mean: float, std: float) -> Tensor:
    """Normalized rows (bs, 784) back to images (bs, 28, 28) in [0, 1]."""
    return (x.float() * std + mean).clamp(0.0, 1.0).reshape(-1, 28, 28)


def predict(model, x: Tensor) -> tuple[Tensor, "Tensor | None", Tensor]:
    """(pred, confidence or None, error score) of model on x: softmax for 10 outputs, rounding for one."""
    out = predict_all(model.predict, x)  # (n, n_out)
    if out.shape[1] == 1:  # the lesson's regression onto the digit value: no confidence, the value is the score
        return classify(out), None, out[:, 0]
    conf = out.softmax(dim=1).max(dim=1).values
    return classify(out), conf, conf


def split_of(ds, split: str) -> tuple[Tensor, Tensor]:
    """(x, y) of one split of a Dataset."""
    if split not in SPLITS:
        raise UsageError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    return getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")


def _grid(ds, split: str, idx: list[int], title: str, pred=None, conf=None) -> DigitGrid:
    x, y = split_of(ds, split)
    ix = torch.tensor(idx, dtype=torch.long)
    images = pixels(x[ix], ds.mean, ds.std)
    digits = [Digit(i, int(y[i]), images[k],
                    None if pred is None else int(pred[i]), None if conf is None else float(conf[i]))
              for k, i in enumerate(idx)]
    return DigitGrid(split, digits, title)


def select(ds, split: str, idx: list[int], model=None) -> DigitGrid:
    """The digits at idx of split, with the model's predictions when a model is given."""
    pred = conf = None
    if model is not None:
        x, _ = split_of(ds, split)
        pred, conf, _ = predict(model, x[torch.tensor(idx, dtype=torch.long)])
        pred = dict(zip(idx, pred.tolist(), strict=True))
        conf = None if conf is None else dict(zip(idx, conf.tolist(), strict=True))
    return _grid(ds, split, idx, f"{split} {', '.join(map(str, idx[:12]))}{' ...' if len(idx) > 12 else ''}",
                 pred, conf)


def worst(ds, split: str, model, n: int) -> DigitGrid:
    """The n wrong predictions on split the model is most sure of (for MSE: furthest from the label)."""
    x, y = split_of(ds, split)
    pred, conf, score = predict(model, x)
    wrong = (pred != y).nonzero()[:, 0]
    if conf is None:
        score = (score - y.float()).abs()
    order = score[wrong].argsort(descending=True)[:n]
    idx = wrong[order].tolist()
    title = f"the {len(idx)} most confidently wrong of {len(wrong)} wrong on {split} ({len(y)} digits)"
    return _grid(ds, split, idx, title, pred, conf)
