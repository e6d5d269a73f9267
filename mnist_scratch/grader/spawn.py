"""Starting the child that runs a learner's file: pipes, limits, its own PID namespace. Imports no torch.

Kept light so `check` can start the child first and import torch in both processes at once.
"""

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

MEMORY_MB = 2048  # address space the learner's code may map on top of torch
OUTPUT_BYTES = 65536  # what the learner's prints may leave; the rest is counted and dropped
ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding this mnist_scratch: the child imports the same


@functools.cache
def pidns() -> bool:
    """Whether `unshare` can give the child its own PID namespace here (unprivileged user namespaces allowed)."""
    exe = shutil.which("unshare")
    if not exe:
        return False
    try:
        return subprocess.run([exe, "-Upf", "--kill-child", "true"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


class Drain(threading.Thread):
    """Reads the child's stdout and stderr as they come, keeping the first bytes and counting the rest."""

    def __init__(self, fd: int, limit: int):
        super().__init__(daemon=True)
        self.fd, self.limit, self.kept, self.dropped = fd, limit, bytearray(), 0

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            room = self.limit - len(self.kept)
            self.kept += chunk[:max(room, 0)]
            self.dropped += max(0, len(chunk) - max(room, 0))
        os.close(self.fd)


@dataclass
class Child:
    """A started child: the process, the request and reply pipes, and its output drain."""

    proc: subprocess.Popen
    fd_out: int  # requests go here
    fd_in: int  # replies come from here
    drain: Drain
    pidns: bool
    workdir: str  # the child's cwd and TMPDIR, removed with it
    started: float = field(default_factory=time.monotonic)  # the file's time limit counts from here
    loading: bool = False  # the load request is sent already


def load_frame(path: str, seconds: float, names) -> bytes:
    """The request that loads a file (plain JSON, no tensors: wire.py's frame format, built without torch)."""
    body = json.dumps({"op": "load", "path": os.path.abspath(path), "seconds": seconds, "names": list(names),
                       "values": {}, "tensors": []}).encode()
    return len(body).to_bytes(4, "big") + (0).to_bytes(4, "big") + body


def spawn(*, memory_mb: int, cpu_seconds: int, output_bytes: int, use_pidns: "bool | None" = None) -> Child:
    """Start `python -P -m mnist_scratch.grader.child` in its own PID namespace (or under its reaper).

    Its cwd is a fresh empty folder (also its TMPDIR), so nothing it writes there shadows a package or outlives it,
    and -P keeps that folder off sys.path.
    """
    ns = pidns() if use_pidns is None else use_pidns
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    out_r, out_w = os.pipe()
    cmd = [sys.executable, "-P", "-m", "mnist_scratch.grader.child", *([] if ns else ["--reaper"]),
           str(req_r), str(rep_w), str(memory_mb), str(max(1, cpu_seconds))]
    if ns:
        cmd = [shutil.which("unshare"), "-Upf", "--kill-child", *cmd]
    work = tempfile.mkdtemp(prefix="mnist-scratch-check-")
    os.mkdir(os.path.join(work, "tmp"))
    # absolute entries only: an empty or relative one would name the child's cwd, where the file can plant modules
    theirs = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if os.path.isabs(p)]
    path = os.pathsep.join([ROOT, *theirs])
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1", PYTHONSAFEPATH="1",
               PYTHONPATH=path, TMPDIR=os.path.join(work, "tmp"))
    env.pop("PYTHONSTARTUP", None)
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w, pass_fds=(req_r, rep_w),
                                env=env, cwd=work, start_new_session=True)
    except BaseException:
        for fd in (req_w, rep_r, out_r):
            os.close(fd)
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        for fd in (req_r, rep_w, out_w):
            os.close(fd)
    drain = Drain(out_r, output_bytes)
    drain.start()
    return Child(proc, req_w, rep_r, drain, ns, work)


def spawn_loading(path: str, *, seconds: float, names, **kw) -> Child:
    """spawn(), then ask it to load path at once: the file loads while this process is still importing torch."""
    child = spawn(**kw)
    try:
        os.write(child.fd_out, load_frame(path, seconds, names))  # a few hundred bytes: fits the pipe buffer
        child.loading = True
    except OSError:
        pass
    return child
