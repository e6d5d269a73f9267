"""The one rule for the files the tool touches: what it may replace, read or sweep, and atomic writes.

A path is written only when it is absent or a regular file (never a symlink, FIFO, device or folder, which are
left alone); a file the tool reads is opened without blocking and used only when it is a regular file; a sweep
removes only regular files named like atomic_write's own temp files, directly inside a folder the tool owns.
"""

import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from mnist_scratch.errors import PathError

_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
_TEMP_RANDOM = "[a-z0-9_]{8}"  # the random part of atomic_write's temp names (and of tempfile.mkstemp's)


# C0 and C1 control characters and DEL: from a file name or a file's text they could move the cursor, retitle the
# terminal or hide the rest of a line, so messages show them as escapes
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_IN_TEXT = {c: e for c, e in _CONTROLS.items() if c not in (0x09, 0x0A)}  # a message's own tabs and line breaks


def printable(text: str, *, lines: bool = False) -> str:
    """text with every control character (escape sequences, and newlines unless lines) as a \\x.. escape."""
    return text.translate(_IN_TEXT if lines else _CONTROLS)


def shown(path: "Path | str") -> str:
    """path for a message: bytes that are not valid UTF-8 and control characters as \\x.. escapes, so any terminal
    prints it as it is."""
    return printable(os.fsdecode(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))


def kind(mode: int) -> "str | None":
    """What a non-regular file is ('a FIFO (named pipe)', ...); None for a regular file."""
    return next((name for test, name in _KINDS if test(mode)), None) if not stat.S_ISREG(mode) else None


def check_target(path: Path) -> None:
    """PathError unless path may be (re)written: absent, or a regular file that is not a symlink."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    what = kind(st.st_mode)
    if what is not None:
        raise PathError(f"{shown(path)} is {what}, not a regular file; it was left alone")


def temp_glob(name: str = "*") -> str:
    """The glob matching atomic_write's temp files for file `name`."""
    return f".{name}.*.tmp"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call write(tmp) on a temp file in path's folder, fsync it, then move it onto path; no temp file is left.

    PathError (and nothing written) when path is anything but absent or a regular file: see check_target.
    """
    path = Path(path)
    check_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_temp(path)
    try:
        try:  # the file it replaces keeps its permissions; a new one gets what open() would give it
            os.fchmod(fd, stat.S_IMODE(os.stat(path, follow_symlinks=False).st_mode))
        except FileNotFoundError:
            pass
    finally:
        os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        check_target(path)  # again: something may have appeared there while writing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _new_temp(path: Path) -> tuple[int, str]:
    """A new temp file beside path, opened; created with mode 0o666 so the kernel applies the user's umask
    (tempfile.mkstemp's 0o600 would leave every written file private to its owner)."""
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")  # matches temp_glob / _TEMP_RANDOM
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp name beside {shown(path)}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """atomic_write of a bytes object."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def sweep(folder: Path, names: "Iterable[str] | None" = None, extra: "str | None" = None) -> list[Path]:
    """Remove temp files a killed write left directly in folder: regular files named like atomic_write's temp files
    (for these file names, or any), or matching the regex `extra`; a folder that is a symlink is not entered."""
    pats = [rf"\.{re.escape(n)}\.{_TEMP_RANDOM}\.tmp" for n in names] if names is not None \
        else [rf"\..+\.{_TEMP_RANDOM}\.tmp"]
    rx = re.compile("|".join(pats + ([extra] if extra else [])))
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return []
        entries = list(os.scandir(folder))
    except OSError:
        return []
    gone = []
    for e in entries:
        if rx.fullmatch(e.name) and e.is_file(follow_symlinks=False):
            try:
                os.unlink(e.path)
                gone.append(Path(e.path))
            except OSError:
                pass
    return gone


def open_regular(path: Path, *, follow: bool = True):
    """path opened for reading ('rb') without ever blocking: PathError unless it is a regular file.

    follow=False (files inside a folder the tool owns): a symlink is refused, not followed out of the folder.
    """
    st = os.stat(path, follow_symlinks=follow)  # refused before opening: opening a device can have effects
    if stat.S_ISLNK(st.st_mode):
        raise PathError(f"{shown(path)} is a symbolic link; the tool does not follow links in its own folders")
    if kind(st.st_mode) is not None:
        raise PathError(f"{shown(path)} is {kind(st.st_mode)}, not a regular file")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    fd = os.open(path, flags)
    try:
        what = kind(os.fstat(fd).st_mode)
        if what is not None:
            raise PathError(f"{shown(path)} is {what}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: Path, cap: int, *, follow: bool = True) -> "bytes | None":
    """A regular file's bytes, or None when it holds more than cap bytes (then never read); see open_regular.

    The read is sized by the file (a read of n bytes allocates n up front), so a small file costs little.
    """
    with open_regular(path, follow=follow) as f:
        size = os.fstat(f.fileno()).st_size
        data = f.read(min(size, cap) + 1) if size <= cap else None
    return None if data is None or len(data) > cap else data


def append_text(path: Path, text: str) -> None:
    """Append text to path (created if absent), never through a symlink and never to a FIFO, device or folder."""
    check_target(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
    try:
        what = kind(os.fstat(fd).st_mode)
        if what is not None:
            raise PathError(f"{shown(path)} is {what}, not a regular file")
        os.set_blocking(fd, True)
        data = text.encode()
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)
