"""Strict idx parsing/writing and gzip with a cap on the decompressed size."""

import gzip
import io
import math
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mnist_scratch.atomic import open_regular
from mnist_scratch.errors import FormatError

# idx type code -> big-endian numpy dtype
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MAX_NDIM = 8


def parse_idx(data: bytes | bytearray | memoryview, name: str = "idx") -> np.ndarray:
    """Parse idx bytes into an array; raise FormatError unless the header matches the payload exactly."""
    n = len(data)
    if n < 4:
        raise FormatError(f"{name}: {n} bytes is too short for an idx header")
    if data[0] != 0 or data[1] != 0:
        raise FormatError(f"{name}: bad idx magic {bytes(data[:4]).hex()} (must start with 0000)")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise FormatError(f"{name}: unknown idx type code 0x{code:02x}")
    if not 1 <= ndim <= MAX_NDIM:
        raise FormatError(f"{name}: idx with {ndim} dimensions (1..{MAX_NDIM} allowed)")
    header = 4 + 4 * ndim
    if n < header:
        raise FormatError(f"{name}: idx header truncated ({n} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", bytes(data[4:header]))
    dtype = np.dtype(IDX_DTYPES[code])
    count = math.prod(dims)  # Python int: huge declared sizes are compared, never allocated
    expected = header + count * dtype.itemsize
    if n != expected:
        raise FormatError(f"{name}: idx header declares shape {dims} ({expected} bytes) but the file has {n}")
    try:
        arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    except ValueError:  # found by fuzzing: a zero dimension beside others whose product overflows numpy's intp
        raise FormatError(f"{name}: idx shape {dims} is too large for an array") from None
    return arr if dtype.itemsize == 1 else arr.astype(dtype.newbyteorder("="))


def gunzip(src: BinaryIO | bytes, cap: int, name: str = "gzip") -> bytes:
    """Decompress a whole gzip stream; FormatError if it is not gzip, is truncated or exceeds cap bytes."""
    fileobj = io.BytesIO(src) if isinstance(src, bytes | bytearray) else src
    try:
        with gzip.GzipFile(fileobj=fileobj, mode="rb") as f:
            out = f.read(cap + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise FormatError(f"{name}: not a valid gzip file ({e})") from None
    if len(out) > cap:
        raise FormatError(f"{name}: decompresses to more than {cap:,} bytes (the cap)")
    return out


def read_capped(path: Path, cap: int) -> bytes:
    """Read a file (gunzip it when it ends in .gz), refusing more than cap bytes."""
    name = path.name
    with open_regular(path) as f:  # a FIFO or device is refused, never waited on
        if path.suffix == ".gz":
            return gunzip(f, cap, name)
        data = f.read(cap + 1)
    if len(data) > cap:
        raise FormatError(f"{name}: larger than {cap:,} bytes (the cap)")
    return data
