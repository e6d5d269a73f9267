"""`bench --speedrun`: the speed-run config trained per seed and matmul precision, then its test accuracy.

Pure measuring code: returns dataclasses. Each run is `mnist-scratch train --config speedrun --seed S
--matmul-precision P` in a fresh child (as a user runs it: the CLI's thread choice and wait policy), then
`mnist-scratch evaluate` on its folder. The training time is the sum of the epochs' seconds (validation included).
"""

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mnist_scratch.bench.load import ROOT
from mnist_scratch.errors import MnistScratchError

GOAL, TARGET = 0.98, 0.5  # test accuracy every seed must reach, and the moonshot's training seconds
MAIN = (f"import sys; sys.path.insert(0, {ROOT!r}); sys.argv[0] = 'mnist-scratch'; "
        "from mnist_scratch.cli import main; main()")


@dataclass
class SpeedRun:
    """One seed at one precision."""

    seed: int
    precision: str
    threads: int  # what the run recorded in config.json
    test_acc: float
    train_seconds: float


def _cli(args: list[str], timeout: float) -> dict:
    """`mnist-scratch ARGS --json` in a fresh child of this copy of the package; its JSON."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",)}
    try:
        p = subprocess.run([sys.executable, "-I", "-c", MAIN, *args, "--json"], env=env, capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise MnistScratchError(f"`mnist-scratch {' '.join(args)}` took over {timeout:g} s") from None
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["no message"])[-1][:200]
        raise MnistScratchError(f"`mnist-scratch {' '.join(args)}` exited with {p.returncode}: {last}")
    return json.loads(p.stdout)


def speed_runs(seeds: Sequence[int] = (1, 2, 3), precisions: Sequence[str] = ("medium", "highest"),
               config: str = "speedrun", data_dir: "Path | None" = None, extra: Sequence[str] = (),
               timeout: float = 300, note: Callable[[str], None] = lambda s: None) -> list[SpeedRun]:
    """Train config for every seed at every precision (precisions interleaved per seed), each then evaluated."""
    out = []
    data = ["--data-dir", str(data_dir)] if data_dir else []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for precision in precisions:
                note(f"speed run: --config {config} --seed {seed} --matmul-precision {precision}")
                run = Path(tmp) / f"s{seed}-{precision}"
                doc = _cli(["train", "--config", config, "--seed", str(seed), "--matmul-precision", precision,
                            "--no-progress", "--out", str(run), *data, *extra], timeout)
                ev = _cli(["evaluate", str(run), *data], timeout)
                out.append(SpeedRun(seed, precision, doc["config"]["threads"], ev["test_acc"],
                                    sum(e["seconds"] for e in doc["epochs"])))
    return out
