"""The per-user cache: raw verified files, one processed split that cannot run code, atomic writes, a lock."""

import hashlib
import json
import mmap
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save as st_save

from mnist_scratch.atomic import atomic_write_bytes, check_target, open_regular, read_bounded, sweep
from mnist_scratch.config import check_dataset
from mnist_scratch.data.diskio import disk_errors, read_safetensors
from mnist_scratch.data.pins import Pins
from mnist_scratch.errors import ConfigError, DataError, PathError, UsageError

ENV = "MNIST_SCRATCH_DATA"
FORMAT = 1
LOCK_TIMEOUT = 900.0
MANIFEST_CAP = 1 << 20  # a manifest is a few hundred bytes
MAX_CUSTOM = 1000  # custom dataset folders swept at most
MNIST = "mnist"  # the official dataset's name, the default of every --dataset


def check_name(name: str) -> str:
    """A dataset name (see config.check_dataset); UsageError naming the option otherwise."""
    try:
        return check_dataset(name)
    except ConfigError as e:
        raise UsageError(f"--dataset / --name {e}") from None


def cache_root(data_dir: Path | str | None = None) -> Path:
    """--data-dir, else $MNIST_SCRATCH_DATA, else the per-user cache folder of this platform."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("mnist-scratch")


DONTNEED = getattr(mmap, "MADV_DONTNEED", None)  # Linux and macOS; elsewhere pages simply stay mapped

@dataclass
class Stored:
    """A processed split read back from the cache and checked."""

    tensors: dict[str, torch.Tensor]  # images (N, 784) u8, labels (N,) u8, hist_train, hist_valid (256,) i64
    manifest: dict
    release: Callable[[torch.Tensor], None] | None = None  # drops a read chunk's mapped pages from memory


class Slot:
    """One cached dataset: canonical.safetensors plus manifest.json (its digest, source and files)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.processed = folder / "canonical.safetensors"
        self.manifest = folder / "manifest.json"

    def load(self, pins: Pins) -> tuple[Stored | None, str]:
        """The stored split when present and intact, else (None, why not)."""
        try:
            text = read_bounded(self.manifest, MANIFEST_CAP, follow=False)
            if text is None:
                return None, f"{self.manifest.name} is larger than {MANIFEST_CAP:,} bytes"
            manifest = json.loads(text)
            with open_regular(self.processed, follow=False) as f:  # mapped, not copied: hashed and read as one
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        except FileNotFoundError:
            return None, "not cached"
        except PathError as e:  # a FIFO, device or link in the cache: never opened, never followed
            return None, f"unreadable cache ({e})"
        except (OSError, ValueError, RecursionError) as e:  # RecursionError: a manifest nested absurdly deep
            return None, f"unreadable cache ({type(e).__name__})"
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            return None, "unknown cache format"
        if manifest.get("processed") != "sha256:" + hashlib.sha256(mm).hexdigest():
            return None, f"{self.processed.name} does not match its recorded digest (corrupted)"
        if DONTNEED:  # hashing paged in the whole file; pages come back from disk as read
            mm.madvise(DONTNEED)
        split = {"train": pins.n_train, "valid": pins.n_valid, "test": pins.n_test}
        if manifest.get("split") != split:
            return None, "cached split has other sizes"
        t = read_safetensors(mm)
        if t is None:
            return None, f"{self.processed.name} is unreadable"
        n = pins.n_rows
        want = {"images": ((n, 784), torch.uint8), "labels": ((n,), torch.uint8),
                "hist_train": ((256,), torch.int64), "hist_valid": ((256,), torch.int64)}
        if any(k not in t or (tuple(t[k].shape), t[k].dtype) != v for k, v in want.items()):
            return None, f"{self.processed.name} holds unexpected tensors"
        return Stored(t, manifest, _pages_dropper(mm)), "cached"

    def save(self, tensors: dict[str, torch.Tensor], manifest: dict) -> Stored:
        """Write the processed file, then the manifest naming its digest (each atomically)."""
        with disk_errors(self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
            data = st_save(tensors)
            manifest = {**manifest, "format": FORMAT, "processed": "sha256:" + hashlib.sha256(data).hexdigest()}
            atomic_write_bytes(self.processed, data)
            atomic_write_bytes(self.manifest, json.dumps(manifest, indent=1).encode())
        return Stored(tensors, manifest)


class Cache:
    """The cache folder: raw/ (downloads), mnist/ (official), custom/<key>/ (unnamed other datasets), sets/<name>/
    (datasets the user named with `download --name`), .lock."""

    def __init__(self, root: Path):
        self.root, self.raw = root, root / "raw"

    def slot(self, key: str | None = None) -> Slot:
        """The official dataset's slot, or an unnamed custom dataset's, kept apart."""
        return Slot(self.root / "mnist") if key is None else Slot(self.root / "custom" / key)

    def named(self, name: str) -> Slot:
        """The slot of a dataset the user named (`download --from DIR --name NAME`); mnist is the official one."""
        return self.slot() if name == MNIST else Slot(self.root / "sets" / check_name(name))

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the cache's lock (another process waits), after sweeping temp files a crash left."""
        from filelock import FileLock, Timeout

        with disk_errors(self.root):
            self.raw.mkdir(parents=True, exist_ok=True)
            check_target(self.root / ".lock")  # a link there would have the lock truncate the file it names
            lock = FileLock(self.root / ".lock", timeout=LOCK_TIMEOUT)
            try:
                lock.acquire()
            except Timeout:
                raise DataError(f"another process holds {self.root / '.lock'} for over {LOCK_TIMEOUT:.0f} s") from None
        try:
            self._sweep()
            yield
        finally:
            lock.release()

    def _sweep(self) -> None:
        """Remove temp files of interrupted writes (only ever done while holding the lock): atomic_write's, and
        pooch's `tmpXXXXXXXX` in raw/ (what versions that downloaded through pooch left)."""
        sweep(self.raw, extra=r"tmp[a-z0-9_]{8}")
        sweep(self.root / "mnist")
        for group in (self.root / "custom", self.root / "sets"):
            if group.is_dir() and not group.is_symlink():
                for key in sorted(os.listdir(group))[:MAX_CUSTOM]:
                    sweep(group / key)


def _pages_dropper(mm: mmap.mmap) -> Callable[[torch.Tensor], None]:
    """release(t) for tensors viewing mm: the whole pages under t leave memory (a private, unwritten mapping
    re-reads them from the file if touched again, so nothing is lost)."""
    base, page = torch.frombuffer(mm, dtype=torch.uint8, count=1).data_ptr(), mmap.PAGESIZE

    def release(t: torch.Tensor) -> None:
        start = t.data_ptr() - base
        lo, hi = -(-start // page) * page, (start + t.numel() * t.element_size()) // page * page
        if DONTNEED and 0 <= lo < hi <= len(mm):
            mm.madvise(DONTNEED, lo, hi - lo)

    return release
