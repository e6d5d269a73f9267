"""Timing training steps: the fused manual engine beside PyTorch autograd, the readable reference and two floors.

Pure measuring code: returns dataclasses, prints nothing. Every engine trains the same model (same init) on the
same batches for the same number of steps, gathered and checked as fit() does; the engines are interleaved and
repeated, and each figure is seconds per epoch (ceil(50000 / bs) full batches). The floors: "floor" is the step's
matmuls alone; "gather_floor" runs them in fit's own step loop, after the batch gather every trainer pays (random
rows of the training set copied into a buffer, mostly from main memory), so what lies between it and an engine is
the engine's own work outside its matmuls.
"""

import math
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from mnist_scratch.bench.plain import PlainLoop
from mnist_scratch.config import TrainConfig
from mnist_scratch.errors import TrainingError
from mnist_scratch.lesson.nn import make_model
from mnist_scratch.training.engines import ENGINES
from mnist_scratch.training.fit import Stepper, sync_every

N_TRAIN = 50_000
# "wall": seconds on the wall clock, what a user waits. "cpu": CPU seconds of this process (all its threads), which
# other processes on a shared machine barely disturb; with one thread it is the step's own work, with more it also
# counts the time the thread pool spends spinning. Only for the CPU: a GPU's work is not this process's CPU time.
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
# timed rows: (engine, batching). "fit": gathered into reused buffers as fit() does; "plain": x[idx], y[idx] as a
# PyTorch user writes it. "autograd" is that user's loop, the reference for the targets; "twin" isolates the engine.
ROWS = {"manual": ("manual", "fit"), "autograd": ("autograd", "plain"), "twin": ("autograd", "fit"),
        "reference": ("reference", "fit")}


@dataclass(frozen=True)
class Setting:
    """One benchmarked configuration."""

    name: str
    nh: tuple[int, ...]
    bs: int


STATS_EVERY = TrainConfig().stats_every  # train's default statistics interval
SETTINGS = (Setting("nh50-bs64", (50,), 64), Setting("nh50-bs256", (50,), 256), Setting("nh1000-bs256", (1000,), 256))
QUICK = (Setting("quick-nh20-bs32", (20,), 32),)


@dataclass
class Timing:
    """Seconds per epoch, one per repeat."""

    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def min(self) -> float:
        return min(self.runs)

    @property
    def max(self) -> float:
        return max(self.runs)


@dataclass
class Case:
    """One setting's timings; flops is the matmul work of one training step."""

    setting: Setting
    steps: int  # timed steps per repeat (scaled to an epoch)
    epoch_steps: int
    flops: float
    timings: dict[str, Timing]  # the ROWS, "floor" and "gather_floor"

    def ratio(self, a: str, b: str, stat: str = "median") -> float:
        """a over b, by median (or by min: the least disturbed runs, robust when other work slows some down)."""
        return getattr(self.timings[a], stat) / getattr(self.timings[b], stat)

    def gflops(self, name: str) -> float:
        """The step's matmul FLOPs over the median step time of `name`, in GFLOP/s."""
        return self.flops * self.epoch_steps / self.timings[name].median / 1e9


def gemm_shapes(nh: tuple[int, ...], bs: int, n_out: int = 10, n_in: int = 784) -> list[tuple[int, int, int]]:
    """(m, k, n) of each matmul of a training step: forward, weight gradient, input gradient (not of layer 1)."""
    sizes, out = (n_in, *nh, n_out), []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        out += [(bs, a, b), (a, bs, b)] + ([(bs, b, a)] if i > 0 else [])
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn: Callable[[], None], n: int, device: torch.device, clock=time.perf_counter) -> float:
    """Seconds (by `clock`) of n calls of fn, the device drained before and after."""
    _sync(device)
    t0 = clock()
    for _ in range(n):
        fn()
    _sync(device)
    return clock() - t0


def floor_step(shapes, device, dtype=torch.float32, trials: int = 20, clock=time.perf_counter) -> Callable[[], None]:
    """A step of just the matmuls, each in whichever orientation (C = A @ B or C.T = B.T @ A.T) runs faster."""
    g, calls = torch.Generator().manual_seed(0), []
    for m, k, n in shapes:
        options = []
        for rows, cols in ((m, n), (n, m)):
            a, b = torch.randn(rows, k, generator=g), torch.randn(k, cols, generator=g)
            c = torch.empty(rows, cols, device=device, dtype=dtype)
            options.append((a.to(device, dtype), b.to(device, dtype), c))
        times = [seconds(lambda o=o: torch.mm(o[0], o[1], out=o[2]), trials, device, clock) for o in options]
        calls.append(options[times.index(min(times))])

    def step():
        for a, b, c in calls:
            torch.mm(a, b, out=c)
    return step


class FloorEngine:
    """The GEMM floor as an engine, so fit's Stepper drives it: its batch gathered, the step's matmuls, a loss read."""

    name = "floor"

    def __init__(self, floor: Callable[[], None], device: torch.device):
        self.floor, self.loss = floor, torch.zeros((), device=device)

    def step(self, xb: torch.Tensor, yb: torch.Tensor, lr: float) -> torch.Tensor:
        self.floor()
        return self.loss


def run_steps(engine, x, y, batches, steps: int, lr: float, every: int, plain: bool = False,
              clock=time.perf_counter) -> float:
    """Seconds for `steps` training steps as fit() runs them (fit's Stepper); plain: x[idx] batches instead."""
    step = Stepper(engine, x, y, len(batches[0]), every, plain)
    _sync(x.device)
    t0 = clock()
    for k in range(steps):
        if not all(math.isfinite(v) for v in step(batches[k % len(batches)], lr, flush=k == steps - 1)):
            raise TrainingError(f"{engine.name}: non-finite loss while benchmarking")
    _sync(x.device)
    return clock() - t0


def _time_fit(x, y, cfg: TrainConfig, steps: int, k: int, clock: str) -> float:
    """Seconds of fit() over the first steps * bs rows (one epoch; statistics every k steps, 0: off)."""
    from mnist_scratch.bench.stats_cost import time_fit

    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time_fit(x[: steps * cfg.bs], y[: steps * cfg.bs], replace(cfg, epochs=1), k, Path(tmp))
    return cpu if clock == "cpu" else wall


def bench_case(s: Setting, x, y, *, steps: "int | None", repeats: int, lr: float = 0.1, clock: str = "wall") -> Case:
    """Time one setting: warm up, then `repeats` rounds of every engine and the floors, in rotating order."""
    tick = CLOCKS[clock]
    device = x.device
    epoch_steps = math.ceil(N_TRAIN / s.bs)
    steps = min(steps or epoch_steps, epoch_steps)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0)).to(device)
    batches = order[: len(x) // s.bs * s.bs].split(s.bs)
    cfg = TrainConfig(nh=s.nh, bs=s.bs, lr=lr, momentum=0.0, weight_decay=0.0, lr_schedule="constant")  # plain SGD
    every = sync_every(device)
    runs: dict[str, Callable[[int], float]] = {}
    for row, (name, batching) in ROWS.items():
        model = make_model(s.nh, "ce", generator=torch.Generator().manual_seed(0), dtype=x.dtype, device=device)
        engine = ENGINES[name](model, cfg)
        runs[row] = lambda n, e=engine, p=batching == "plain": run_steps(e, x, y, batches, n, lr, every, p, tick)
    if len(s.nh) == 1:  # the yardstick: a hand-written loop for one hidden layer, nothing else per step
        init = make_model(s.nh, "ce", generator=torch.Generator().manual_seed(0), dtype=x.dtype, device=device)
        plain = PlainLoop(dict(init.params()), s.bs)

        def run_plain(n: int) -> float:
            _sync(device)
            t0 = tick()
            plain.run(x, y, batches, n, lr).tolist()
            return tick() - t0
        runs["plain"] = run_plain
    for row, k in (("fit", 0), ("fit_stats", STATS_EVERY)):  # fit() itself: statistics off, then train's default
        runs[row] = lambda n, k=k: _time_fit(x, y, cfg, n, k, clock)
    shapes = gemm_shapes(s.nh, s.bs)
    floor = floor_step(shapes, device, x.dtype, clock=tick)
    runs["floor"] = lambda n: seconds(floor, n, device, tick)
    gather_floor = FloorEngine(floor, device)  # everything fit's loop does but the engine's work outside its GEMMs
    runs["gather_floor"] = lambda n: run_steps(gather_floor, x, y, batches, n, lr, every, clock=tick)
    for run in runs.values():  # warm-up
        run(min(steps, 30))
    times: dict[str, list[float]] = {k: [] for k in runs}
    names = list(runs)
    for r in range(repeats):
        for k in names[r % len(names):] + names[: r % len(names)]:
            times[k].append(runs[k](steps) * epoch_steps / steps)
    flops = float(sum(2 * m * k * n for m, k, n in shapes))
    return Case(s, steps, epoch_steps, flops, {k: Timing(v) for k, v in times.items()})
