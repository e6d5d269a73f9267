"""`bench --procs 1,2`: steps per second of data-parallel training, the share of each step spent in all_reduce,
and the scaling against one process with the same total threads. Pure measuring code: returns dataclasses.

Each N runs in N workers started by mnist_scratch.training.launch (gloo on 127.0.0.1), each with total // N
threads, on the same batches; one process (N = 1) also times FusedEngine's own step, the update folded into the
gradient GEMMs, beside the data-parallel path (gradient into the flat buffer, all_reduce, then sgd_).
"""

import json
import statistics
from dataclasses import dataclass, field

import torch

from mnist_scratch.bench.steps import Setting, run_steps
from mnist_scratch.errors import MnistScratchError

SETTINGS = (Setting("nh50-bs256", (50,), 256), Setting("nh1000-bs512", (1000,), 512))
ROWS = 50_000


@dataclass
class Row:
    """One setting in one layout: N processes (path "split": data parallel; "fused": FusedEngine.step)."""

    setting: str
    procs: int
    threads: int  # each process's
    path: str
    step_seconds: list[float]  # per repeat: wall seconds per step, as rank 0 saw it
    reduce_share: list[float] = field(default_factory=list)  # per repeat: all_reduce seconds / step seconds

    @property
    def steps_per_s(self) -> float:
        return 1 / statistics.median(self.step_seconds)


@dataclass
class ParallelBench:
    """Every row, with the conditions."""

    rows: list[Row]
    total_threads: int
    steps: int
    repeats: int
    data: str

    def scaling(self, row: Row) -> float:
        """row's steps/s over one process's FusedEngine.step at the same total threads (same setting)."""
        base = next(r for r in self.rows if r.setting == row.setting and r.procs == 1 and r.path == "fused")
        return row.steps_per_s / base.steps_per_s


def _batches(setting: Setting, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randperm(n, generator=g)[: n // setting.bs * setting.bs].view(-1, setting.bs)


def _engine(s: Setting, cfg):
    from mnist_scratch.lesson.nn import make_model
    from mnist_scratch.training.fused import FusedEngine

    return FusedEngine(make_model(s.nh, "ce", generator=torch.Generator().manual_seed(0)), cfg)


def worker(total_threads: int, steps: int, repeats: int, data_dir) -> tuple[int, str, str]:
    """One rank of the bench: every setting, warm-up then repeats; rank 0's rows as JSON."""
    import torch.distributed as dist

    from mnist_scratch.config import TrainConfig
    from mnist_scratch.data import load_dataset
    from mnist_scratch.training import distributed
    from mnist_scratch.training.parallel import DataParallel

    world = distributed.from_env()
    threads = max(1, total_threads // world.size)
    torch.set_num_threads(threads)
    try:
        data = load_dataset(data_dir, download=False)
        x, y, what = data.x_train, data.y_train, "MNIST training split from the cache"
    except MnistScratchError:
        g = torch.Generator().manual_seed(0)
        x, y, what = torch.randn(ROWS, 784, generator=g), torch.randint(0, 10, (ROWS,), generator=g), "synthetic"
    rows = []
    with distributed.joined(world, torch.device("cpu"), timeout=120):
        for s in SETTINGS:
            cfg, idx = TrainConfig(nh=s.nh, bs=s.bs, lr=0.1, momentum=0.9, weight_decay=1e-3), _batches(s, len(x))
            paths = {"split": DataParallel(_engine(s, cfg), cfg, timed=True)}
            if world.size == 1:
                paths["fused"] = _engine(s, cfg)
            got = {name: Row(s.name, world.size, threads, name, []) for name in paths}
            for engine in paths.values():
                run_steps(engine, x, y, idx, min(steps, 20), 0.1, every=1)  # warm-up
            for r in range(repeats):  # the paths take turns, so both see the same disturbances
                for name in list(paths)[r % len(paths):] + list(paths)[: r % len(paths)]:
                    engine, row = paths[name], got[name]
                    dist.barrier()  # every rank starts the repeat together
                    before = getattr(engine, "reduce_seconds", 0.0)
                    row.step_seconds.append(run_steps(engine, x, y, idx, steps, 0.1, every=1) / steps)
                    if name == "split":
                        row.reduce_share.append((engine.reduce_seconds - before) / steps / row.step_seconds[-1])
            rows += got.values()
    return 0, "ok", json.dumps({"data": what, "rows": [r.__dict__ for r in rows]}) if world.lead else ""


def run_parallel_bench(procs: list[int], total_threads: int, steps: int, repeats: int, data_dir=None,
                       timeout: float = 600, note=lambda s: None) -> ParallelBench:
    """Each N of procs in its own launch (N = 1 first: the baseline), rank 0's figures collected."""
    from mnist_scratch.training.launch import explain, launch

    rows, what = [], ""
    for n in sorted(set(procs) | {1}):
        note(f"timing {n} process{'es' if n > 1 else ''} with {max(1, total_threads // n)} threads each")
        outcomes = launch(n, worker, (total_threads, steps, repeats, data_dir), timeout=timeout, limit=timeout)
        message, code = explain(outcomes, timeout)
        if code or not outcomes[0].text:
            raise MnistScratchError(f"the {n}-process bench failed: {message or 'no result from rank 0'}")
        doc = json.loads(outcomes[0].text)
        what = doc["data"]
        rows += [Row(**r) for r in doc["rows"]]
    return ParallelBench(rows, total_threads, steps, repeats, what)
