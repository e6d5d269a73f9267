"""A timer that chooses its own repeats: a slow function runs a few times, a fast one in batches."""

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch


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
    """Seconds per call of one function: median and best of `samples` samples of `number` calls each."""

    seconds: float
    best: float
    samples: int
    number: int


def time_call(fn: Callable[[], object], *, budget: float = 1.0, min_sample: float = 2e-3,
              max_samples: int = 50, clock: Callable[[], float] = time.perf_counter) -> tuple[object, Timing]:
    """fn's first result and its time per call; a slow fn runs a few times, a fast one many times."""
    start = clock()
    result = fn()
    first = clock() - start
    if first >= 50 * min_sample:  # slow: warm-up effects are noise, the first call counts as a sample
        per_call, spent = [first], first
        while spent < budget and len(per_call) < max_samples:
            start = clock()
            fn()
            per_call.append(clock() - start)
            spent += per_call[-1]
        return result, Timing(statistics.median(per_call), min(per_call), len(per_call), 1)
    number, sample = 1, 0.0
    while True:  # calls per sample, doubled until a sample outlasts the clock's noise
        start = clock()
        for _ in range(number):
            fn()
        sample = clock() - start
        if sample >= min_sample or number >= 1 << 20:
            break
        number *= 2
    samples = max(3, min(max_samples, int(budget / sample)))
    per_call = []
    for _ in range(samples):
        start = clock()
        for _ in range(number):
            fn()
        per_call.append((clock() - start) / number)
    return result, Timing(statistics.median(per_call), min(per_call), samples, number)
