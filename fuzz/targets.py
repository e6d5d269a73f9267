"""The fuzzed entry points: each takes arbitrary bytes and may raise only the project's own error type.

Anything else escaping (another exception, a crash) is a bug. Used by the atheris harness (fuzz.py) and
replayed over fuzz/corpus/ by tests/test_fuzz_corpus.py without atheris.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from mnist_scratch.config import TrainConfig, resolve
from mnist_scratch.data.classic import ALLOWED, restricted_loads
from mnist_scratch.data.formats import parse_idx
from mnist_scratch.errors import CheckpointError, ConfigError, FormatError
from mnist_scratch.training.checkpoint import Checkpoint, expected_shapes, load

_DIR = Path(tempfile.mkdtemp(prefix="mnist-scratch-fuzz-"))
atexit.register(shutil.rmtree, _DIR, True)


def _file(name: str, data: bytes) -> Path:
    """data written to a scratch file (the config and checkpoint loaders read paths)."""
    path = _DIR / f"{os.getpid()}-{name}"
    path.write_bytes(data)
    return path


def idx(data: bytes) -> None:
    """parse_idx: an array whose bytes the header accounts for exactly, or FormatError."""
    try:
        arr = parse_idx(data, "fuzz")
    except FormatError:
        return
    assert arr.nbytes == len(data) - 4 - 4 * arr.ndim


PLAIN = (type(None), bool, int, float, complex, str, bytes, bytearray, tuple, list, dict, set, frozenset)


def unpickle(data: bytes) -> None:
    """restricted_loads: plain values, numeric arrays, or FormatError; nothing else can be built.

    The allow-list's own inert stand-ins (the ndarray marker, the checked constructors) may appear as leaves:
    fuzzing found `(ndarray, 0, 1)` returned as a tuple; calling them builds only what they check.
    """
    try:
        obj = restricted_loads(data, "fuzz")
    except FormatError:
        return
    todo, seen = [obj], set()
    while todo:  # iterative: a fuzzed pickle may nest deeper than the recursion limit
        x = todo.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if any(x is v for v in ALLOWED.values()):
            continue
        if isinstance(x, np.ndarray):
            assert type(x) is np.ndarray and x.dtype.kind in "biuf", (type(x), x.dtype)
        elif isinstance(x, np.dtype):
            assert x.kind in "biuf", x
        else:
            assert type(x) in PLAIN, type(x)
            if isinstance(x, dict):
                todo += [*x.keys(), *x.values()]
            elif isinstance(x, tuple | list | set | frozenset):
                todo += list(x)


def config(data: bytes) -> None:
    """The config loader: TOML bytes -> TrainConfig, or ConfigError."""
    try:
        cfg = resolve(_file("c.toml", data), {})
    except ConfigError:
        return
    assert isinstance(cfg, TrainConfig)


def checkpoint(data: bytes) -> None:
    """The checkpoint loader: bytes -> Checkpoint whose tensors fit its config, or CheckpointError."""
    try:
        ckpt = load(_file("model.safetensors", data))
    except CheckpointError:
        return
    assert isinstance(ckpt, Checkpoint)
    assert all(tuple(ckpt.state[k].shape) == s for k, s in expected_shapes(ckpt.cfg).items())


TARGETS = {"idx": idx, "unpickle": unpickle, "config": config, "checkpoint": checkpoint}
