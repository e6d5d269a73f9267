"""The images `predict` was given: files and folders -> one row each, a bad file a row with its reason."""

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from mnist_scratch.atomic import read_bounded, shown
from mnist_scratch.errors import PathError, UsageError
from mnist_scratch.use.image import MAX_BYTES, ImageError, Prepared, prepare
from mnist_scratch.use.predict import Guess, Predictor

MAX_FILES = 10_000  # one command's images: more is a whole dataset, not a person's handwriting


@dataclass(frozen=True)
class Loaded:
    """One image file: the digit found in it and the network's guess, or why there is none."""

    path: Path
    digit: "Prepared | None" = None
    error: "str | None" = None
    guess: "Guess | None" = None


def gather(paths: list[Path]) -> list[Path]:
    """The files named, and the files directly inside the folders named (sorted, hidden ones skipped)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            try:
                out += sorted(Path(e.path) for e in os.scandir(p) if not e.name.startswith(".") and e.is_file())
            except OSError as e:
                raise PathError(f"cannot list {shown(p)}: {e.strerror or e}") from None
        else:
            out.append(p)
        if len(out) > MAX_FILES:
            raise UsageError(f"more than {MAX_FILES:,} images; predict a smaller folder")
    return out


def load(path: Path) -> Loaded:
    """path read (bounded) and prepared; any failure becomes the row's error, never an exception."""
    try:
        data = read_bounded(path, MAX_BYTES)
        if data is None:
            return Loaded(path, error=f"larger than {MAX_BYTES:,} bytes")
        return Loaded(path, digit=prepare(data))
    except ImageError as e:
        return Loaded(path, error=str(e))
    except PathError as e:
        return Loaded(path, error=str(e).removeprefix(f"{shown(path)} "))
    except OSError as e:
        return Loaded(path, error=e.strerror or str(e))


def predict_files(predictor: Predictor, paths: list[Path]) -> list[Loaded]:
    """Every file of paths (folders opened) loaded and, when it holds a digit, guessed; in the order given."""
    rows = [load(p) for p in gather(paths)]
    good = [k for k, r in enumerate(rows) if r.digit is not None]
    if good:
        guesses = predictor(torch.stack([rows[k].digit.image for k in good]))  # (n, 28, 28) in one pass
        for k, g in zip(good, guesses, strict=True):
            rows[k] = Loaded(rows[k].path, rows[k].digit, guess=g)
    return rows
