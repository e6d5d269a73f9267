"""Take named members out of a .tar.gz by exact name, with size limits, never extracting to disk."""

import gzip
import tarfile
import zlib
from pathlib import Path

from mnist_scratch.errors import FormatError

MAX_MEMBERS = 10_000


class _Capped:
    """A read-only stream that fails once more than cap bytes were read from it."""

    def __init__(self, f, cap: int, name: str):
        self.f, self.cap, self.name, self.seen = f, cap, name, 0

    def read(self, n: int = -1) -> bytes:
        """Read like f.read, counting the decompressed bytes; never asks for more than one byte past the cap, so
        whatever size a header declares, the decompressor builds at most cap + 1 bytes (tarfile's stream reads in
        blocks today; this keeps a read(-1) or a large read bounded too)."""
        room = self.cap - self.seen + 1
        data = self.f.read(room if n is None or n < 0 else min(n, room))
        self.seen += len(data)
        if self.seen > self.cap:
            raise FormatError(f"{self.name}: archive decompresses to more than {self.cap:,} bytes (the cap)")
        return data


def extract_members(path: Path, wanted: dict[str, str], *, member_cap: int, total_cap: int) -> dict[str, bytes]:
    """Return {key: bytes} for wanted = {key: exact member name}; FormatError on anything unexpected."""
    by_name = {v: k for k, v in wanted.items()}
    found: dict[str, bytes] = {}
    name = path.name
    try:
        with open(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as gz:
            with tarfile.open(fileobj=_Capped(gz, total_cap, name), mode="r|") as tar:
                for i, m in enumerate(tar):
                    if i >= MAX_MEMBERS:
                        raise FormatError(f"{name}: more than {MAX_MEMBERS} archive members")
                    key = by_name.get(m.name)
                    if key is None:
                        continue
                    if key in found:
                        raise FormatError(f"{name}: member {m.name} appears twice")
                    if not m.isreg():
                        raise FormatError(f"{name}: member {m.name} is not a regular file")
                    if m.size > member_cap:
                        raise FormatError(f"{name}: member {m.name} is {m.size:,} bytes (cap {member_cap:,})")
                    data = tar.extractfile(m).read()
                    if len(data) != m.size:
                        raise FormatError(f"{name}: member {m.name} is truncated")
                    found[key] = data
    except FormatError:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as e:
        raise FormatError(f"{name}: not a valid .tar.gz ({type(e).__name__}: {e})") from None
    missing = [wanted[k] for k in wanted if k not in found]
    if missing:
        raise FormatError(f"{name}: archive lacks {', '.join(missing)}")
    return found
