"""Disk helpers: clear errors for full or read-only folders, zero-copy safetensors reads."""

import errno
import json
import math
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from mnist_scratch.errors import DataError


@contextmanager
def disk_errors(folder: Path) -> Iterator[None]:
    """Turn a full, read-only or misplaced cache folder into one clear DataError."""
    try:
        yield
    except OSError as e:
        hint = "choose another folder with --data-dir or MNIST_SCRATCH_DATA"
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DataError(f"no space left in the cache folder {folder} ({e.strerror}); free some or {hint}") from None
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise DataError(f"cache folder {folder} is not writable ({e.strerror}); {hint}") from None
        if e.errno in (errno.ENOTDIR, errno.EEXIST):
            raise DataError(f"cache folder {folder} is not a folder ({e.strerror}); {hint}") from None
        raise


_ST_DTYPES = {"U8": torch.uint8, "I64": torch.int64}


def read_safetensors(buf) -> dict[str, torch.Tensor] | None:
    """Zero-copy tensors from a safetensors buffer (uint8/int64 only); None unless every entry is consistent."""
    try:
        (n,) = struct.unpack("<Q", buf[:8])
        if n > 1 << 20:
            return None
        header = json.loads(bytes(buf[8 : 8 + n]))
        base, size, out = 8 + n, len(buf) - 8 - n, {}
        for name, e in header.items():
            if name == "__metadata__":
                continue
            dtype, shape, (begin, end) = _ST_DTYPES[e["dtype"]], [int(d) for d in e["shape"]], e["data_offsets"]
            itemsize = torch.empty((), dtype=dtype).element_size()
            if not (0 <= begin <= end <= size and end - begin == math.prod(shape) * itemsize):
                return None
            count = (end - begin) // itemsize
            flat = torch.frombuffer(buf, dtype=dtype, count=count, offset=base + begin) if count else \
                torch.empty(0, dtype=dtype)
            out[name] = flat.view(shape)
        return out
    except (ValueError, KeyError, TypeError, struct.error, AttributeError, RuntimeError):
        return None
