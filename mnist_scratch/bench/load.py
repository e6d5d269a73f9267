"""`bench --busy N`: a training epoch on an idle machine and beside N busy cores, for each thread choice.

Pure measuring code: returns dataclasses. Every figure comes from a fresh child process, because OpenMP reads its
wait policy (and torch its thread count) once, when torch loads. The child trains the manual engine with `train`'s
default recipe on synthetic rows through fit's Stepper and prints seconds per epoch (ceil(50000 / bs) steps), a
few repeats after a warm-up. The busy cores are spinning processes this bench starts before a child and stops
after it; each also ends by itself after its time limit, so none outlives a bench that dies.
"""

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mnist_scratch.bench.steps import Setting
from mnist_scratch.errors import MnistScratchError
from mnist_scratch.training.threads import WAIT_POLICY, auto_threads, read_quota, usable_cpus

SETTINGS = (Setting("nh50-bs64", (50,), 64), Setting("nh1000-bs256", (1000,), 256))
TARGET = 1.15  # the default's time over the better of one thread and every CPU, idle and busy
ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding this copy of the package: children import it
CHILD = f"import sys; sys.path.insert(0, {ROOT!r}); from mnist_scratch.bench.load import child; child(sys.argv[1])"
SPIN = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"


@dataclass
class LoadRow:
    """One setting, one load, one way of choosing threads: seconds per epoch, one per repeat."""

    setting: str
    busy: int  # spinning processes beside the timed child
    variant: str
    threads: int
    policy: str  # OMP_WAIT_POLICY in the child ("" : unset, OpenMP's own spin-then-sleep)
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass
class LoadBench:
    """Every row, the CPUs this process may use and what `train` would choose per setting."""

    rows: list[LoadRow]
    cpus: int
    default: dict[str, int]  # setting name -> train's default thread count

    def row(self, setting: str, busy: int, variant: str) -> LoadRow:
        return next(r for r in self.rows if (r.setting, r.busy, r.variant) == (setting, busy, variant))

    def default_ratio(self, setting: str, busy: int) -> float:
        """The default's median over the best median of the other variants (one thread, every CPU either way)."""
        rows = [r for r in self.rows if (r.setting, r.busy) == (setting, busy)]
        best = min(r.median for r in rows if r.variant != "default")
        return next(r.median for r in rows if r.variant == "default") / best


def variants(s: Setting, cpus: int, environ=os.environ) -> list[tuple[str, int, str]]:
    """(name, threads, wait policy) for s: one thread, every CPU spinning and sleeping, and `train`'s default (its
    count, under the policy the CLI sets unless the user set one). One thread never waits: its policy is blank."""
    policy = environ.get("OMP_WAIT_POLICY", WAIT_POLICY)
    want = [("1 thread", 1, ""), ("every CPU, spinning", cpus, ""), ("every CPU, sleeping", cpus, "PASSIVE"),
            ("default", auto_threads(s.nh, s.bs, cpus), policy)]
    return [(name, n, p if n > 1 else "") for name, n, p in want]


@contextmanager
def busy(n: int, limit: float) -> Iterator[list[subprocess.Popen]]:
    """n processes spinning on a core each for the block (and at most `limit` seconds), stopped after it."""
    procs = [subprocess.Popen([sys.executable, "-I", "-c", SPIN.format(limit=float(limit))],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(n)]
    try:
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def child(arg: str) -> None:
    """In the child: time the epochs arg asks for and print their seconds as JSON."""
    import math

    import torch

    from mnist_scratch.bench.steps import run_steps
    from mnist_scratch.config import TrainConfig
    from mnist_scratch.lesson.nn import make_model
    from mnist_scratch.training.engines import ENGINES

    a = json.loads(arg)
    torch.set_num_threads(a["threads"])
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(a["rows"], 784, generator=g), torch.randint(0, 10, (a["rows"],), generator=g)
    cfg = TrainConfig(nh=tuple(a["nh"]), bs=a["bs"])  # train's default recipe (momentum, decay) at this size
    engine = ENGINES[cfg.engine](make_model(cfg.nh, cfg.loss, generator=g), cfg)
    batches = torch.randperm(len(x), generator=g)[: len(x) // cfg.bs * cfg.bs].split(cfg.bs)
    epoch = math.ceil(50_000 / cfg.bs)
    steps = min(a["steps"] or epoch, epoch)
    run_steps(engine, x, y, batches, min(steps, 20), 0.01, 1)  # warm-up
    out = [run_steps(engine, x, y, batches, steps, 0.01, 1) * epoch / steps for _ in range(a["repeats"])]
    print(json.dumps(out))


def time_child(s: Setting, threads: int, policy: str, *, steps: "int | None", repeats: int, rows: int,
               timeout: float) -> list[float]:
    """Seconds per epoch in a fresh child with `threads` torch threads and OMP_WAIT_POLICY `policy` ("": unset)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    env["OMP_NUM_THREADS"] = str(threads)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    arg = json.dumps({"nh": list(s.nh), "bs": s.bs, "threads": threads, "steps": steps, "repeats": repeats,
                      "rows": rows})
    try:
        p = subprocess.run([sys.executable, "-I", "-c", CHILD, arg], env=env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise MnistScratchError(f"the busy-core bench's child ({s.name}, {threads} threads) took over "
                                f"{timeout:g} s") from None
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["no message"])[-1][:200]
        raise MnistScratchError(f"the busy-core bench's child ({s.name}, {threads} threads) failed: {last}")
    return [float(v) for v in json.loads(p.stdout.strip().splitlines()[-1])]


def run_load_bench(loads: list[int], settings=SETTINGS, *, steps: "int | None" = None, repeats: int = 3,
                   rows: int = 20_000, cpus: "int | None" = None, timeout: float = 120,
                   note: Callable[[str], None] = lambda s: None) -> LoadBench:
    """Every setting, idle (0) and beside each count of busy cores in loads, for every variant (each distinct
    (threads, policy) timed once)."""
    cpus = cpus or usable_cpus(cgroup_quota=read_quota())
    out, default = [], {}
    for s in settings:
        default[s.name] = auto_threads(s.nh, s.bs, cpus)
        for n in sorted(set(loads) | {0}):
            timed: dict[tuple[int, str], list[float]] = {}
            for name, threads, policy in variants(s, cpus):
                if (threads, policy) not in timed:
                    note(f"timing {s.name}: {threads} thread{'s' * (threads != 1)}{f', {policy} waits' * bool(policy)}"
                         f", {n} busy core{'s' * (n != 1)}")
                    with busy(n, timeout + 10):
                        timed[threads, policy] = time_child(s, threads, policy, steps=steps, repeats=repeats,
                                                            rows=rows, timeout=timeout)
                out.append(LoadRow(s.name, n, name, threads, policy, timed[threads, policy]))
    return LoadBench(out, cpus, default)
