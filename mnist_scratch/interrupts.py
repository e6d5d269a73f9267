"""Ctrl-C and SIGTERM handled alike: the signals the tool stops on, their exit codes, and their two handlers."""

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# 128 + the signal's number, as a shell reports a process killed by it; batch schedulers, containers and `kill`
# send SIGTERM where a person presses Ctrl-C
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
NAMES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}  # the word each is reported with


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt, so every cleanup for one serves the other."""

    exit_code = EXIT_CODES[signal.SIGTERM]


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def raise_on_sigterm() -> None:
    """From now on SIGTERM raises Terminated in the main thread (the CLI's entry point calls this once)."""
    signal.signal(signal.SIGTERM, _raise_terminated)


def exit_code(e: BaseException) -> int:
    """130 for Ctrl-C's KeyboardInterrupt, 143 for Terminated."""
    return getattr(e, "exit_code", EXIT_CODES[signal.SIGINT])


@contextmanager
def deferred(stop: Callable[[int], None]) -> Iterator[None]:
    """While active, SIGINT and SIGTERM call stop(signum) (a loop then stops at a safe point) instead of raising.

    Outside the main thread handlers cannot be set: the signals then keep their usual effect.
    """
    old = {}
    try:
        for s in EXIT_CODES:
            old[s] = signal.signal(s, lambda signum, frame: stop(signum))
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
