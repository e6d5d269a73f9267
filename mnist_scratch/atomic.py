"""Atomic file writes: a temp file beside the target, flushed to disk, then renamed over it."""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def temp_glob(name: str = "*") -> str:
    """The glob matching atomic_write's temp files for file `name` (to sweep those a killed process left)."""
    return f".{name}.*.tmp"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call write(tmp) on a temp file in path's folder, fsync it, then move it onto path; no temp file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """atomic_write of a bytes object."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))
