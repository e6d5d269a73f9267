"""Helpers for the fault matrix: disk snapshots, simulated read-only/full disks, a gated 127.0.0.1 server."""

import builtins
import errno
import functools
import hashlib
import io
import os
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from typer.testing import CliRunner

import mnist_scratch.data
from mnist_scratch.cli import app
from mnist_scratch.data import Net, api

FAST = Net(connect_timeout=2, read_timeout=5)
TEMP = re.compile(r"^(\.tmp|tmp)|\.tmp$|\.part$")
runner = CliRunner()


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root (relative path -> sha256), except the lock files (cache, run), empty and harmless."""
    root = Path(root)
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name not in (".lock", ".mnist-scratch-run.lock")}


def temp_files(root: Path) -> list[str]:
    """Leftover temp files (atomic writes, downloads) anywhere under root."""
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if TEMP.search(p.name))


def one_line(text: str) -> str:
    """The single non-empty line of text (asserting there is exactly one and no traceback)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got {len(lines)}: {text!r}"
    assert "Traceback" not in text
    return lines[0]


def cli(*args: str):
    """Run the CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    return runner.invoke(app, [str(a) for a in args])


def use_pins(monkeypatch, pins, net: Net = FAST) -> None:
    """Make every command load data with these pins and network settings."""
    prepare = functools.partial(api.prepare_dataset, pins=pins, net=net)
    monkeypatch.setattr(mnist_scratch.data, "prepare_dataset", prepare)
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: prepare(*a, **k)[0])


def flip(path: Path, pos: int) -> None:
    """Flip the lowest bit of one byte of a file (negative pos counts from the end)."""
    data = bytearray(path.read_bytes())
    data[pos] ^= 0x01
    path.write_bytes(bytes(data))


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Silent:
    """A 127.0.0.1 port that accepts connections (the kernel's backlog) but never answers: a read timeout."""

    def __enter__(self) -> "Silent":
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}{path}"

    def __exit__(self, *exc) -> None:
        self.sock.close()


# --- simulated disks: the project's writes under root fail as a read-only or full file system would ---

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class _Quota:
    """Bytes that may still be written under root before ENOSPC."""

    def __init__(self, left: int):
        self.left = left

    def take(self, n: int) -> None:
        if n > self.left:
            self.left = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.left -= n


class _FullFile:
    """A writable file object whose writes draw on a quota."""

    def __init__(self, f, quota: _Quota):
        self._f, self._quota = f, quota

    def write(self, data) -> int:
        self._quota.take(len(data))
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __iter__(self):
        return iter(self._f)


def broken_disk(monkeypatch, root: Path, code: int, *, quota: "int | None" = None) -> None:
    """Writes under root fail with errno code: at once (quota None), or after quota bytes (a disk filling up).

    os.open/mkdir/replace/rename/unlink and builtins/io.open are patched; reads pass through untouched.
    """
    root = os.path.abspath(root)
    full = _Quota(quota) if quota is not None else None
    fds: set[int] = set()
    real = {name: getattr(os, name) for name in ("open", "mkdir", "replace", "rename", "unlink", "remove", "write")}
    real_open = builtins.open

    def under(path) -> bool:
        if isinstance(path, int):
            return path in fds
        p = os.path.abspath(os.fsdecode(path))
        return p == root or p.startswith(root + os.sep)

    def fail(path):
        raise OSError(code, os.strerror(code), os.fsdecode(path) if not isinstance(path, int) else None)

    def os_open(path, flags, *a, **k):
        if under(path) and flags & _WRITE_FLAGS:
            if full is None:
                fail(path)
            fd = real["open"](path, flags, *a, **k)
            fds.add(fd)
            return fd
        return real["open"](path, flags, *a, **k)

    def os_write(fd, data):
        if fd in fds and full is not None:
            full.take(len(data))
        return real["write"](fd, data)

    def changing(name):
        def f(path, *a, **k):
            exists = name == "mkdir" and os.path.exists(path)  # the kernel says EEXIST first
            if under(path) and not exists and (full is None or (name == "mkdir" and full.left == 0)):
                fail(path)
            return real[name](path, *a, **k)
        return f

    def open_(file, mode="r", *a, **k):
        writing = any(c in mode for c in "wax+")
        if writing and under(file):
            if full is None:
                fail(file)
            return _FullFile(real_open(file, mode, *a, **k), full)
        return real_open(file, mode, *a, **k)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(os, "write", os_write)
    for name in ("mkdir", "replace", "rename", "unlink", "remove"):
        monkeypatch.setattr(os, name, changing(name))
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)


# --- a server whose one route sends a first chunk, then waits for the test to let it go on ---

class GatedServer:
    """Serves body at /f/<name> in small chunks: after the first chunk it waits until release() (or a timeout)."""

    def __init__(self, name: str, body: bytes, chunk: int = 1024, delay: float = 0.01):
        self.body, self.hits, self.chunk, self.delay = body, 0, chunk, delay
        self.started, self.released = threading.Event(), threading.Event()
        self.path = f"/f/{name}"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                if self.path != server.path:
                    self.send_error(404)
                    return
                server.hits += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                try:
                    self.wfile.write(server.body[: server.chunk])
                    self.wfile.flush()
                    server.started.set()
                    server.released.wait(120)
                    for i in range(server.chunk, len(server.body), server.chunk):
                        self.wfile.write(server.body[i : i + server.chunk])
                        self.wfile.flush()
                        server.released.wait(server.delay)
                except OSError:  # the client went away (killed): nothing to do
                    pass

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{self.path}"

    def release(self) -> None:
        self.released.set()

    def __enter__(self) -> "GatedServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()


def signal_when(proc, ready, sig, *, within: float, what: str, timeout: float = 120, poll: float = 0.05):
    """Wait (at most `within` s, the process still alive) until ready(), send proc the signal sig, and return its
    (stdout, stderr); the process is killed whatever happens, so no test leaves one behind."""
    import time

    try:
        end = time.monotonic() + within
        while not ready():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < end, f"{what} in time"
            time.sleep(poll)
        proc.send_signal(sig)
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
