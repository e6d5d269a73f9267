"""Running a learner's code: a time limit, their printed output kept aside, and only their traceback lines."""

import contextlib
import ctypes
import io
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

_OURS = (str(Path(__file__).resolve().parents[1]), str(Path(torch.__file__).resolve().parent),
         os.path.dirname(contextlib.__file__))  # the package, torch and the standard library


class RuleTimeout(BaseException):
    """Raised inside the learner's code when its time is up (a BaseException: `except Exception` can't eat it)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Stop the body after `seconds` with RuleTimeout.

    On the main thread (a terminal, and a Jupyter kernel, which runs cells there) a SIGALRM timer interrupts
    pure-Python loops; elsewhere a watchdog thread raises RuleTimeout asynchronously in this thread. Neither
    can cut a single long C call short; it stops at the next Python line.
    """
    if seconds <= 0:
        yield
        return
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        def on_alarm(signum, frame):
            raise RuleTimeout()

        old = signal.signal(signal.SIGALRM, on_alarm)
        t0 = time.monotonic()
        outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)  # a timer someone else set: restored below
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            if outer:
                signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - t0), 1e-3))
        return
    lock, state, tid = threading.Lock(), {"done": False, "fired": False}, threading.get_ident()

    def fire():
        with lock:
            if not state["done"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(RuleTimeout))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            state["done"] = True
        timer.cancel()
        if state["fired"]:  # a late exception may still be pending: let it land here, not in the grader
            try:
                for _ in range(1000):
                    pass
            except RuleTimeout:
                pass


def learner_frames(filenames: "frozenset[str] | None") -> Callable[[str], bool]:
    """Which traceback frames are the learner's: their files when known, else anything outside ours."""
    if filenames:
        return lambda f: f in filenames
    return lambda f: not os.path.abspath(f).startswith(_OURS)


def learner_traceback(exc: BaseException, is_theirs: Callable[[str], bool]) -> tuple[str, ...]:
    """Their frames (file, line, code) and the exception line; the grader's and torch's frames left out."""
    lines = []
    for fr in traceback.extract_tb(exc.__traceback__):
        if is_theirs(fr.filename):
            lines.append(f'File "{fr.filename}", line {fr.lineno}, in {fr.name}')
            if fr.line:
                lines.append(f"    {fr.line.strip()}")
    msg = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return (*lines, *msg.splitlines()[-6:])


@dataclass
class Ran:
    """What one call of learner code did."""

    value: object = None
    outcome: str = "ok"  # ok | not implemented | error | timeout | autograd
    traceback: tuple[str, ...] = ()
    message: str = ""
    notes: tuple[str, ...] = ()  # conventions noticed on the way (a gradient stored in .grad)


class Bounded(io.TextIOBase):
    """A text sink that keeps the first `limit` characters and counts the rest (a learner may print gigabytes)."""

    def __init__(self, limit: int = 65536):
        self.limit, self.parts, self.kept, self.dropped = limit, [], 0, 0

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        s = str(s)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(s[:room])
            self.kept += min(room, len(s))
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def getvalue(self) -> str:
        return "".join(self.parts)


@contextlib.contextmanager
def watch_autograd():
    """A list that gets an entry whenever autograd's engine computes a gradient in the body.

    torch.autograd.grad, Tensor.backward, torch.autograd.functional and torch.func all reach the engine through
    Variable._execution_engine, looked up at each call, so a learner who imported `grad` earlier is still seen.
    """
    from torch.autograd.variable import Variable

    real, used = Variable._execution_engine, []

    class Engine:
        def __getattr__(self, name):
            return getattr(real, name)

        def run_backward(self, *args, **kw):
            used.append("run_backward")
            return real.run_backward(*args, **kw)

    Variable._execution_engine = Engine()
    try:
        yield used
    finally:
        Variable._execution_engine = real


def tensors_in(value, depth: int = 0) -> list:
    """The tensors in value (nested in tuples, lists and dicts a few levels down)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if depth < 4 and isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors_in(v, depth + 1)]
    if depth < 4 and isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v, depth + 1)]
    return []


def adopt_grad(ts: list) -> tuple[str, ...]:
    """Where a rule stored a gradient by hand in .grad instead of the lesson's .g, copy it to .g with a note."""
    noted = False
    for t in ts:
        try:
            g, grad = t.__dict__.get("g"), t.grad
        except Exception:  # noqa: BLE001 - a learner's tensor may raise on any attribute
            continue
        if g is None and grad is not None:
            t.g, noted = grad, True
    return ("gradients are stored in .grad; the lesson's convention is .g (both are graded the same)",) if noted else ()


def run_op(fn: Callable, *args, seconds: float, is_theirs: Callable[[str], bool], stdout) -> Ran:
    """run() with grad mode off and autograd watched: a rule that computes its gradient with autograd is not one."""
    for t in tensors_in(args):  # an upstream gradient on .g is on .grad too, for code written the .grad way
        g = t.__dict__.get("g")
        if isinstance(g, torch.Tensor) and t.grad is None:
            try:
                t.grad = g
            except (RuntimeError, TypeError):
                pass
    with watch_autograd() as used, torch.no_grad():
        ran = run(fn, *args, seconds=seconds, is_theirs=is_theirs, stdout=stdout)
    if used:
        return Ran(outcome="autograd", traceback=ran.traceback)
    ran.notes = adopt_grad(tensors_in(args) + tensors_in(ran.value))
    return ran


def run(fn: Callable, *args, seconds: float, is_theirs: Callable[[str], bool], stdout: io.StringIO) -> Ran:
    """fn(*args) under the time limit with print output captured; never raises the learner's exceptions."""
    try:
        with time_limit(seconds), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stdout):
            return Ran(fn(*args))
    except RuleTimeout:
        return Ran(outcome="timeout", message=f"timed out after {seconds:g}s (an endless loop?)")
    except NotImplementedError as e:
        return Ran(outcome="not implemented", traceback=learner_traceback(e, is_theirs))
    except Exception as e:  # noqa: BLE001 - the learner's code may raise anything: that is the answer to show
        tb = learner_traceback(e, is_theirs)
        return Ran(outcome="error", traceback=tb, message=tb[-1] if tb else type(e).__name__)
    except SystemExit as e:  # sys.exit() in their code must not end the grader
        return Ran(outcome="error", traceback=learner_traceback(e, is_theirs), message=f"SystemExit({e.code})")
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):  # the user's Ctrl-C in a notebook stops the check
            raise
        tb = learner_traceback(e, is_theirs)  # `raise BaseException` is still just their answer
        return Ran(outcome="error", traceback=tb, message=tb[-1] if tb else type(e).__name__)
