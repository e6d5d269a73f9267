"""Local files (`--from PATH`): idx raw or .gz, or mnist.pkl.gz; official MNIST or a custom dataset."""

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mnist_scratch.atomic import kind, read_bounded, shown
from mnist_scratch.data.check import Canonical, FileFact, from_idx
from mnist_scratch.data.classic import classic_splits, restricted_loads
from mnist_scratch.data.formats import read_capped
from mnist_scratch.data.pins import ROLES, Pins
from mnist_scratch.data.sources import Fetched
from mnist_scratch.errors import DataError, PathError

IDX_NAME = re.compile(r"^(train|t10k|test)-(images|labels)[.-]idx[13]-ubyte(\.gz)?$")
EXPECTED = ("mnist.pkl.gz, or the four idx files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (raw or .gz)")


@dataclass
class LocalSet:
    """Recognized local files, their digests, and the decompressed idx bytes."""

    kind: str  # "idx" or "pickle"
    paths: dict[str, Path]  # role (or "pickle") -> file
    files: list[FileFact]
    data: dict[str, bytes]
    origin: str

    @property
    def verified(self) -> bool:
        """Every file matches the official MNIST digests."""
        return all(f.verified for f in self.files)

    @property
    def key(self) -> str:
        """A short name for this file set, to cache a custom dataset apart."""
        return hashlib.sha256("\n".join(sorted(f.digest for f in self.files)).encode()).hexdigest()[:16]


def _candidates(from_path: Path | Sequence[Path]) -> list[Path]:
    """The files named, or the files inside the folders named."""
    paths = [Path(from_path)] if isinstance(from_path, str | Path) else [Path(p) for p in from_path]
    if not paths:
        raise DataError("--from needs a file or folder")
    out = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file())
        elif p.is_file():
            out.append(p)
        elif os.path.lexists(p):  # a FIFO, a device, a broken link or a link loop: refused, never opened
            try:
                what = kind(os.stat(p).st_mode)
            except OSError:
                what = "a broken symbolic link or a link loop"
            raise PathError(f"--from {shown(p)} is {what}; give a file or folder")
        else:
            raise DataError(f"--from {shown(p)}: no such file or folder")
    return out


def scan_local(from_path: Path | Sequence[Path], pins: Pins) -> LocalSet:
    """Find MNIST-format files under from_path and digest them; DataError if there are none."""
    files = _candidates(from_path)
    origin = ", ".join(str(p) for p in ([from_path] if isinstance(from_path, str | Path) else from_path))
    idx: dict[str, Path] = {}
    pickles = [f for f in files if f.name.endswith((".pkl.gz", ".pkl"))]
    for f in files:
        m = IDX_NAME.match(f.name)
        if m:
            role = ("train" if m[1] == "train" else "test") + "_" + m[2]
            if role not in idx or idx[role].suffix == ".gz":  # prefer the raw file over its .gz
                idx[role] = f
    if len(idx) == len(ROLES):
        data = {role: read_capped(idx[role], pins.idx_cap) for role in ROLES}
        digests = {role: hashlib.md5(data[role]).hexdigest() for role in ROLES}
        facts = [FileFact(idx[r].name, f"md5:{digests[r]}", digests[r] == pins.idx_md5[r]) for r in ROLES]
        return LocalSet("idx", idx, facts, data, origin)
    if pickles:
        named = [f for f in pickles if f.name == pins.pickle_name]
        if len(pickles) > 1 and len(named) != 1:
            raise DataError(f"--from {origin}: several pickles ({', '.join(f.name for f in pickles)}); name one")
        f = named[0] if named else pickles[0]
        data = read_bounded(f, pins.pickle_cap)
        md5 = hashlib.md5(data).hexdigest() if data is not None else "too-large"
        fact = FileFact(f.name, f"md5:{md5}", md5 == pins.pickle_md5)
        return LocalSet("pickle", {"pickle": f}, [fact], {}, origin)
    found = ", ".join(sorted(p.name for p in idx.values())) or "none"
    raise DataError(f"--from {origin}: no complete MNIST-format set (found: {found}); expected {EXPECTED}")


def read_local(s: LocalSet, pins: Pins) -> Fetched:
    """Parse and check the scanned files into the canonical dataset."""
    if s.kind == "idx":
        canonical = from_idx(s.data, {role: s.paths[role].name for role in ROLES}, pins)
    else:
        path = s.paths["pickle"]
        obj = restricted_loads(read_capped(path, pins.pickle_cap), path.name)
        canonical = Canonical(*classic_splits(obj, pins.n_train, pins.n_valid, pins.n_test, path.name))
    return Fetched("local", s.origin, s.files, canonical)
