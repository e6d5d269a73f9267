"""Checkpoints of every kind of run, a digit drawn with PIL strokes, and a run's outputs computed by hand."""

import dataclasses
import io

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
    if meta:  # keys another version may write (a dataset name, class names): added to the metadata, sealed again
        with safe_open(path, "pt") as f:
            old = f.metadata()
        tensors, new = load_file(path), {**old, **meta}
        new["sha256"] = checkpoint.sealed(tensors, new)
        save_file(tensors, path, metadata=new)
    return checkpoint.load(folder)


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


def by_hand(ckpt, images):
    """The run's outputs on images (n, 28, 28) or (n, 784), computed here from the checkpoint's tensors."""
    x = (images.reshape(len(images), -1) - ckpt.mean) / ckpt.std
    n = len(ckpt.cfg.nh) + 1
    for i in range(1, n + 1):
        x = x @ ckpt.state[f"lin{i}.w"] + ckpt.state[f"lin{i}.b"]
        if i < n:
            x = x.clamp(min=0)
    return x
