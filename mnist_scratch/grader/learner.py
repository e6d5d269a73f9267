"""Where the learner's code runs: in this process (a notebook's own check()), or in a child process (check FILE).

Both answer the same two questions: what each name is, and what an adapter operation returns on given inputs (with
the gradients it left on them). The child is started fresh, in its own PID namespace where the system allows it (so
every process it starts dies with it), with limits on memory, CPU time and output; on a timeout it is killed with
everything it started and a fresh one reloads the file for the next rule.
"""

import functools
import os
import shutil
import subprocess
import time
from pathlib import Path

import torch

from mnist_scratch.grader import adapters, spawn, wire
from mnist_scratch.grader.sandbox import Bounded, Ran, learner_frames, run_op
from mnist_scratch.grader.spawn import MEMORY_MB, OUTPUT_BYTES

GRACE = 1.0  # seconds past a rule's limit before the child is killed (its own alarm usually stops it first)


class LocalLearner:
    """The learner's namespace in this process: fast, for a notebook grading its own globals."""

    def __init__(self, ns: dict, filenames: "frozenset[str] | None" = None):
        self.ns, self.is_theirs = ns, learner_frames(filenames)

    def kinds(self, names) -> dict:
        return adapters.kinds(self.ns, names)

    def run(self, op: str, args: tuple, *, seconds: float, stdout=None) -> Ran:
        return run_op(functools.partial(adapters.OPS[op], self.ns), *args, seconds=seconds, is_theirs=self.is_theirs,
                      stdout=stdout if stdout is not None else Bounded())


class RemoteLearner:
    """The learner's file loaded in a child process; every operation is a request over a pipe, under a deadline."""

    def __init__(self, path: Path, *, seconds: float, file_seconds: float, names: tuple[str, ...],
                 memory_mb: int = MEMORY_MB, output_bytes: int = OUTPUT_BYTES, pidns: "bool | None" = None,
                 child: "spawn.Child | None" = None):
        self.path, self.seconds, self.names = path, seconds, names
        self.deadline = time.monotonic() + file_seconds
        self.file_seconds, self.memory_mb, self.output_bytes = file_seconds, memory_mb, output_bytes
        self.pidns = pidns
        self.proc, self.drains, self.notes = None, [], []
        self.loaded: dict = {}
        self.ready = child  # a child started earlier (check starts it before importing torch)
        if child is not None:
            self.deadline = child.started + file_seconds

    # process management

    def _spawn(self) -> bool:
        """Start a child (or take the one started earlier); True when it is loading the file already."""
        child, self.ready = self.ready, None
        if child is None:
            child = spawn.spawn(memory_mb=self.memory_mb, cpu_seconds=int(self._left()) + 1,
                                output_bytes=self.output_bytes, use_pidns=self.pidns)
        self.proc, self.fd_out, self.fd_in, self.pidns = child.proc, child.fd_out, child.fd_in, child.pidns
        self.workdir = child.workdir
        self.drains.append(child.drain)
        return child.loading

    def kill(self) -> None:
        """The child and everything it started, gone (its namespace torn down, or its reaper told to clean up)."""
        p, self.proc = self.proc, None
        if p is None:
            return
        for fd in (self.fd_out, self.fd_in):
            try:
                os.close(fd)
            except OSError:
                pass
        if not self.pidns and p.poll() is None:
            p.terminate()  # the reaper kills every descendant, then exits
            try:
                p.wait(0.5)
            except subprocess.TimeoutExpired:
                pass
        if p.poll() is None:
            p.kill()
        try:
            os.killpg(p.pid, 9)  # what is left in its session, in case the reaper itself was killed
        except (ProcessLookupError, PermissionError):
            pass
        p.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)  # what the file wrote in its cwd and TMPDIR
        for d in self.drains:
            d.join(0.2)

    def close(self) -> list[str]:
        """Kill the child (and one started but never used); the notes about its output."""
        if self.ready is not None:
            self._spawn()
        self.kill()
        dropped = sum(d.dropped for d in self.drains)
        if dropped:
            kept = sum(len(d.kept) for d in self.drains)
            self.notes.append(f"the file printed {kept + dropped:,} bytes; the grader kept the first {kept:,}")
        return self.notes

    def output(self) -> str:
        return b"".join(bytes(d.kept) for d in self.drains).decode("utf-8", "replace")

    def _left(self) -> float:
        return self.deadline - time.monotonic()

    def _request(self, frame: bytes, wait: float) -> tuple[dict, bytes]:
        """Send one request and read its reply within `wait` seconds (and the file's limit)."""
        deadline = time.monotonic() + min(wait, max(self._left(), 0.0))
        try:
            wire.write_frame(self.fd_out, frame)
            return wire.read_frame(self.fd_in, deadline)
        except (OSError, wire.WireError) as e:
            raise wire.WireError(str(e)) from None

    def _died(self) -> str:
        p = self.proc
        code = p.poll() if p is not None else None
        if code is None:
            return ""
        return f"exit code {code}" if code >= 0 else f"signal {-code}"

    def start(self) -> dict:
        """Spawn the child and load the file: {"syntax_error", "notes", "kinds"}."""
        loading = self._spawn()
        frame = b"" if loading else spawn.load_frame(str(self.path), self.seconds, self.names)
        try:
            header, _ = self._request(frame, self._left())
        except wire.WireError as e:
            why = self._died()
            self.kill()
            if str(e) == "timeout":
                msg = f"loading the file ran past the file's limit ({self.file_seconds:g} s)"
            else:
                msg = "the Python process loading the file died" + (f" ({why})" if why else "")
            return {"syntax_error": msg, "notes": [], "kinds": {}, "fatal": True}
        if header.get("usage_error"):
            return {"usage_error": str(header["usage_error"])[:2000], "syntax_error": "", "notes": [], "kinds": {}}
        kinds, defined = _field(header, "kinds", dict), _field(header, "defined", dict)
        self.loaded = {"syntax_error": str(header.get("syntax_error") or "")[:2000],
                       "notes": [str(n)[:4000] for n in _field(header, "notes", list)][:200],
                       "kinds": {n: str(kinds.get(n, "missing")) for n in self.names},
                       "defined": {n: str(defined.get(n, ""))[:500] for n in self.names}}
        return self.loaded

    def kinds(self, names) -> dict:
        return {n: self.loaded.get("kinds", {}).get(n, "missing") for n in names}

    def run(self, op: str, args: tuple, *, seconds: float, stdout=None) -> Ran:
        """adapters.OPS[op](ns, *args) in the child; the gradients it set are copied onto args' tensors here."""
        if self._left() <= 0:
            return Ran(outcome="timeout", message=f"the file's time limit ({self.file_seconds:g} s) ran out")
        if self.proc is None:
            fresh = self.start()
            if fresh.get("fatal"):
                return Ran(outcome="error", message=fresh["syntax_error"])
        enc = wire.Encoder()
        frame = wire.encode({"op": op, "seconds": seconds}, {"args": args}, enc)
        mine = list(enc.keep)
        try:
            header, data = self._request(frame, seconds + GRACE)
            dec = wire.Decoder(header, data, known=dict(enumerate(mine)))
            if len(dec.tensors) < len(mine):
                raise wire.WireError("the reply lacks the tensors sent")
            value = dec.value(_field(header, "values", dict).get("value"))
            _apply(dec, mine)
        except wire.WireError as e:
            why = self._died()
            self.kill()
            if str(e) == "timeout" and self._left() <= 0:
                return Ran(outcome="timeout", message=f"the file's time limit ({self.file_seconds:g} s) ran out")
            if str(e) == "timeout":
                return Ran(outcome="timeout", message=f"timed out after {seconds:g}s (an endless loop?)")
            return Ran(outcome="error", message="the Python process running your code died"
                                                + (f" ({why})" if why else f": {e}"))
        outcome = str(header.get("outcome"))
        tb = tuple(str(s) for s in _field(header, "traceback", list))
        notes = tuple(str(n) for n in _field(header, "notes", list))
        return Ran(value, outcome, tb, str(header.get("message", "")), notes)


def _field(header: dict, key: str, kind: type):
    """header[key] when it is a kind (a dict or a list), else an empty one: the child's reply is not trusted."""
    v = header.get(key)
    return v if isinstance(v, kind) else kind()


def _apply(dec: wire.Decoder, mine: list) -> None:
    """The child's post-call state of each tensor we sent, onto ours: values written in place, then .g."""
    for n, t in enumerate(mine):
        new = dec.tensors[n]
        if new.shape != t.shape or new.dtype != t.dtype or not torch.equal(new, t):
            with torch.no_grad():
                t.set_(new.to(t.dtype).clone())
    for n, t in enumerate(mine):
        attrs = dec.attrs(n)
        if "g" in attrs:
            t.g = attrs["g"]
        elif "g" in t.__dict__:
            del t.g
