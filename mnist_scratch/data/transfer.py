"""Hash-verified downloads through pooch (temp file, then rename), with a progress hook and short reasons."""

import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from mnist_scratch.data.pins import Net
from mnist_scratch.errors import DigestError, MnistScratchError, SourceError

# progress(name, bytes_done, bytes_total or None), called as bytes flow
Progress = Callable[[str, int, "int | None"], None]
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR}
CHUNK = 64 * 1024


class _Bar:
    """The progress-bar object pooch drives (total, update, reset, close), forwarding to a callback."""

    def __init__(self, name: str, progress: Progress):
        self.name, self.progress, self.total, self.n = name, progress, 0, 0

    def update(self, k: int) -> None:
        """pooch reports CHUNK per chunk; clamp to the declared total."""
        self.n = min(self.n + k, self.total) if self.total else self.n + k
        self.progress(self.name, self.n, self.total or None)

    def reset(self) -> None:
        """pooch resets before its final update(total)."""
        self.n = 0

    def close(self) -> None:
        """Nothing to release."""


def fetch(url: str, name: str, known_hash: str, folder: Path, net: Net, progress: Progress | None) -> Path:
    """Download url to folder/name unless a file with the right digest is already there; return its path."""
    import pooch

    pooch.get_logger().setLevel(logging.WARNING)  # the report says what happened; no log lines
    kwargs = {"timeout": (net.connect_timeout, net.read_timeout), "chunk_size": CHUNK}
    if os.environ.get("PIP_CERT"):
        kwargs["verify"] = os.environ["PIP_CERT"]
    bar = _Bar(name, progress) if progress else False
    downloader = pooch.HTTPDownloader(progressbar=bar, **kwargs)
    try:
        return Path(pooch.retrieve(url, known_hash, fname=name, path=folder, downloader=downloader))
    except ValueError as e:
        if "hash" in str(e):
            raise DigestError(f"wrong bytes: {name} does not match the pinned {known_hash}") from None
        raise SourceError(f"cannot download {redact(url)}: {str(e)[:80]}") from None


def matches(path: Path, known_hash: str) -> bool:
    """True when path exists and its bytes hash to known_hash ('md5:...' or 'sha256:...')."""
    import pooch

    alg, _, digest = known_hash.partition(":")
    return path.is_file() and pooch.file_hash(str(path), alg=alg) == digest.lower()


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
