"""The cost of training statistics: fit() with them off beside fit() recording them every k steps, interleaved.

Pure measuring code (the records go to a temporary folder that is removed). Every variant runs fit() itself, the
same code path `train` takes: statistics off (no callbacks), then a StatsRecorder every k steps writing stats.jsonl,
losses.jsonl and histogram chunks. The valid split is one batch, so the figure is the training steps' cost.
Both wall time and the process's CPU time are kept: on a machine shared with other work, the CPU time of a
one-thread run is the steadier measure (time spent waiting for a core is not counted).
"""

import math
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from mnist_scratch.config import TrainConfig
from mnist_scratch.lesson.nn import make_model
from mnist_scratch.training.engines import ENGINES
from mnist_scratch.training.fit import fit, lr_at
from mnist_scratch.training.statslog import StatsRecorder

KS = (0, 10, 25, 50, 100, 200)  # 0: statistics off; the smallest k > 0 gives the clearest per-stats-step cost


@dataclass
class _Data:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_valid: torch.Tensor
    y_valid: torch.Tensor


@dataclass
class StatsCost:
    """Seconds per timed run (steps steps) for each k, interleaved; ratios are over k = 0 (off)."""

    nh: tuple[int, ...]
    bs: int
    steps: int
    engine: str
    threads: int
    runs: dict[int, list[float]]  # wall seconds
    cpu: dict[int, list[float]]  # CPU seconds of the process

    def ratio(self, k: int, stat=statistics.median, clock: str = "cpu") -> float:
        """Time with statistics every k steps over time without: the median (or min) by CPU (or wall) time."""
        runs = self.cpu if clock == "cpu" else self.runs
        return stat(runs[k]) / stat(runs[0])

    def per_stats_step(self) -> float:
        """CPU seconds one stats step adds, from the smallest k > 0 (the most stats steps, the clearest signal)."""
        k = min(k for k in self.cpu if k)
        return (statistics.median(self.cpu[k]) - statistics.median(self.cpu[0])) / math.ceil(self.steps / k)

    def estimate(self, k: int) -> float:
        """The cost at every-k statistics as a fraction of the training steps' CPU time, from per_stats_step."""
        return self.per_stats_step() / (k * statistics.median(self.cpu[0]) / self.steps)


def time_fit(x, y, cfg: TrainConfig, k: int, tmp: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one fit() epoch over x, y (one batch of valid) with statistics every k steps (0: off)."""
    model = make_model(cfg.nh, cfg.loss, generator=torch.Generator().manual_seed(cfg.seed), device=x.device)
    engine = ENGINES[cfg.engine](model, cfg)
    data = _Data(x, y, x[: cfg.bs], y[: cfg.bs])
    nb = math.ceil(len(x) / cfg.bs)
    cbs = [] if k == 0 else [StatsRecorder(tmp / f"k{k}", k, nb, nb, lambda t: lr_at(cfg, t))]
    t0, c0 = time.perf_counter(), time.process_time()
    fit(engine, data, cfg, cbs)
    return time.perf_counter() - t0, time.process_time() - c0


def stats_cost(x, y, *, nh=(50,), bs: int = 64, steps: int = 400, repeats: int = 5, ks=KS,
               engine: str = "manual") -> StatsCost:
    """Interleaved repeats of one fit() epoch of `steps` batches for each k; a warm-up round first."""
    cfg = TrainConfig(nh=tuple(nh), bs=bs, epochs=1, engine=engine)
    x, y = x[: steps * bs], y[: steps * bs]
    runs: dict[int, list[float]] = {k: [] for k in ks}
    cpu: dict[int, list[float]] = {k: [] for k in ks}
    with tempfile.TemporaryDirectory() as tmp:
        for k in ks:  # warm-up
            time_fit(x[: 20 * bs], y[: 20 * bs], replace(cfg), k, Path(tmp) / "warm")
        for r in range(repeats):
            for k in ks[r % len(ks):] + ks[: r % len(ks)]:
                wall, used = time_fit(x, y, cfg, k, Path(tmp) / f"r{r}")
                runs[k].append(wall)
                cpu[k].append(used)
    return StatsCost(tuple(nh), bs, steps, engine, torch.get_num_threads(), runs, cpu)
