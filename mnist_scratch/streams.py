"""Standard streams that may be anything: closed, full, a pipe closed early, or an encoding lacking most characters."""

import io
import os
import sys


class Output(io.RawIOBase):
    """A standard stream's file descriptor as a raw stream that never fails the command's work.

    A pipe closed early (`| head -1`) raises BrokenPipeError once (the command then stops quietly); any other failed
    write (a full disk, an I/O error) is remembered in .error and the output dropped, so the work goes on and the
    entry point reports it once at the end. Later writes are dropped, so nothing fails again at interpreter exit.
    """

    def __init__(self, fd: int):
        super().__init__()
        self.fd, self.error, self.gone = fd, None, False

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def fileno(self) -> int:
        return self.fd

    def write(self, b) -> int:
        n = len(b)
        if self.gone or self.error is not None:
            return n
        try:
            return os.write(self.fd, b)
        except BrokenPipeError:
            self.gone = True
            raise
        except OSError as e:
            self.error = e
            return n


def _open_std_fds() -> None:
    """Closed fds 0-2 read and write /dev/null: otherwise the next file the tool opens would become its stdout."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def guard() -> Output:
    """Install sys.stdout and sys.stderr over Output streams with errors='backslashreplace' (no UnicodeEncodeError
    under PYTHONIOENCODING=ascii or for a path that is not UTF-8); return stdout's, to ask about errors at the end."""
    _open_std_fds()
    streams = []
    for fd, old in ((1, sys.stdout), (2, sys.stderr)):
        raw = Output(fd)
        enc = getattr(old, "encoding", None) or "utf-8"
        tty = raw.isatty()
        streams.append(io.TextIOWrapper(io.BufferedWriter(raw), encoding=enc, errors="backslashreplace",
                                        line_buffering=tty or fd == 2, write_through=fd == 2))
    sys.stdout, sys.stderr = streams
    return streams[0].buffer.raw
