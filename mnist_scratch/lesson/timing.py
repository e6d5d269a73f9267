"""Timing torch code: a thread-count context and torch.utils.benchmark's auto-ranging timer."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch.utils import benchmark


@contextmanager
def threads(n: "int | None") -> Iterator[int]:
    """Run the block with torch using n intra-op threads (None: as it is); restore the count afterwards."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one function: median, best and interquartile range of `samples` blocks of `number`
    calls each."""

    seconds: float
    best: float
    samples: int
    number: int
    iqr: float


def time_call(fn: Callable[[], object], *, budget: float = 1.0,
              clock: Callable[[], float] = time.perf_counter) -> tuple[object, Timing]:
    """fn's first result (its call is also the warm-up) and its time per call.

    torch.utils.benchmark's blocked_autorange does the measuring: it sizes blocks of calls so each outlasts the
    clock's noise, runs blocks for at least `budget` seconds, and keeps the per-call time of every block; a slow
    fn runs a few times, a fast one in large blocks. It times on the current torch thread count.
    """
    result = fn()
    timer = benchmark.Timer("fn()", globals={"fn": fn}, timer=clock, num_threads=torch.get_num_threads())
    m = timer.blocked_autorange(min_run_time=budget)
    return result, Timing(m.median, min(m.times), len(m.times), m.number_per_run, m.iqr)
