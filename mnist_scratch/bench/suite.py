"""`mnist-scratch bench` measurements: training speed per setting, then data loading, start-up and peak memory.

Pure measuring code: returns a BenchResult, prints nothing (progress goes through the `note` callback).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mnist_scratch.bench.steps import Case, Setting, bench_case
from mnist_scratch.errors import MnistScratchError

# -I (isolated): a child never imports from the working folder or PYTHONPATH (a ./typer.py there would run) and
# ignores PYTHON* variables and the user's site-packages; it finds mnist_scratch where it is installed
PYTHON = [sys.executable, "-I"]
CLI = [*PYTHON, "-m", "mnist_scratch"]


@dataclass
class Extra:
    """One figure beside the training speed: a value (None when it could not be measured) and how it was taken."""

    name: str
    value: "float | None"
    unit: str
    note: str


@dataclass
class BenchResult:
    """Everything one `bench` run measured, with its conditions."""

    cases: list[Case]
    threads: int
    torch_version: str
    device: str
    data: str
    repeats: int
    extras: list[Extra] = field(default_factory=list)
    clock: str = "wall"  # a key of bench.steps.CLOCKS
    matmul_precision: str = "highest"  # torch.get_float32_matmul_precision() while the engines were timed


def bench_data(data_dir: "Path | None", device: torch.device, rows: int = 50_000
               ) -> tuple[torch.Tensor, torch.Tensor, str, list[float]]:
    """The training split from the cache (timed three times), else `rows` synthetic rows of MNIST's shape."""
    from mnist_scratch.data import load_dataset

    seconds, data = [], None
    try:
        for _ in range(3):
            data = None
            t0 = time.perf_counter()
            data = load_dataset(data_dir, device=device, download=False)
            seconds.append(time.perf_counter() - t0)
    except MnistScratchError as e:
        why = str(e).splitlines()[0]
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(rows, 784, generator=g), torch.randint(0, 10, (rows,), generator=g)
        return x.to(device), y.to(device), f"synthetic data of MNIST's shape (no cached dataset: {why})", []
    return data.x_train, data.y_train, "MNIST training split from the cache", seconds


def time_help(repeats: int = 5) -> list[float]:
    """Wall seconds of `mnist-scratch --help` in a fresh interpreter, each run."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([*CLI, "--help"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
    return out


# Runs the CLI and, at exit, writes the process's own VmHWM. wait4's ru_maxrss is no good here: on Linux a child
# starts as a fork of this (large) process, and exec keeps that copy's high-water mark (~75 MiB too much here).
_HWM_CHILD = """import atexit, os, runpy, sys
def hwm():
    with open("/proc/self/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    with open(os.environ["MNIST_SCRATCH_HWM"], "w") as f:
        f.write(str(kib))
atexit.register(hwm)
sys.argv[0] = "mnist-scratch"
runpy.run_module("mnist_scratch", run_name="__main__")
"""


def child_peak_rss(args: Sequence[str], **kw) -> tuple[int, float, str]:
    """Run `mnist-scratch ARGS` in a child; its exit code, its own peak resident memory in MiB, and its stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryDirectory() as tmp:
        hwm = Path(tmp) / "hwm"
        env = {**kw.pop("env", os.environ), "MNIST_SCRATCH_HWM": str(hwm)}
        linux = Path("/proc/self/status").exists()
        cmd = [*PYTHON, "-c", _HWM_CHILD, *args] if linux else [*CLI, *args]
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env, **kw)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here; tell Popen so it does not wait again
        out.seek(0)
        text = out.read().decode(errors="replace")
        if linux and hwm.exists():
            kib = float(hwm.read_text())
        else:  # elsewhere wait4's figure, an upper bound: bytes on macOS, KiB on Linux
            kib = usage.ru_maxrss / (1024 if sys.platform == "darwin" else 1)
    return p.returncode, kib / 1024, text


def default_train(config: "str | Path", data_dir: "Path | None") -> list[Extra]:
    """Peak RSS and training time of `mnist-scratch train --config CONFIG --no-progress --json` in a child."""
    from mnist_scratch.config import locate
    from mnist_scratch.errors import ConfigError

    try:
        if not locate(config).is_file():
            return [Extra("default train", None, "s", f"{config} not found: skipped")]
    except ConfigError:
        return [Extra("default train", None, "s", f"{config} not found: skipped")]
    with tempfile.TemporaryDirectory() as tmp:
        args = ["train", "--config", str(config), "--no-progress", "--json", "--out", str(Path(tmp) / "run")]
        args += ["--data-dir", str(data_dir)] if data_dir else []
        env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}  # the bench's threads
        t0 = time.perf_counter()
        code, rss, text = child_peak_rss(args, env=env)
        wall = time.perf_counter() - t0
    if code != 0:
        return [Extra("default train", None, "s", f"`mnist-scratch {' '.join(args)}` exited with {code}")]
    try:
        epochs = json.loads(text)["epochs"]
        train_s = sum(e["seconds"] for e in epochs)
    except (ValueError, KeyError, TypeError):
        return [Extra("default train", None, "s", f"`mnist-scratch {' '.join(args)}` printed no run JSON")]
    what = f"{config}, {len(epochs)} epochs, {torch.get_num_threads()} threads"
    return [Extra("default train: training time", train_s, "s", f"{what}: sum of the epochs' seconds (with eval)"),
            Extra("default train: process wall time", wall, "s", f"{what}: start-up, data, training, saving"),
            Extra("default train: peak RSS", rss, "MiB", f"{what}: the child's own VmHWM")]


def run_bench(settings: Sequence[Setting], *, steps: "int | None", repeats: int, device: torch.device,
              data_dir: "Path | None" = None, extras: bool = True, train_config: str = "default",
              synthetic_rows: int = 50_000, note: Callable[[str], None] = lambda s: None,
              clock: str = "wall") -> BenchResult:
    """Time every setting (interleaved engines, repeats), then the extras unless extras=False."""
    note("loading the data")
    x, y, data, load_s = bench_data(data_dir, device, synthetic_rows)
    cases = []
    for s in settings:
        note(f"timing {s.name}")
        cases.append(bench_case(s, x, y, steps=steps, repeats=repeats, clock=clock))
    res = BenchResult(cases, torch.get_num_threads(), torch.__version__, str(device), data, repeats, clock=clock,
                      matmul_precision=torch.get_float32_matmul_precision())
    if not extras:
        return res
    del x, y
    if load_s:
        res.extras.append(Extra("dataset ready from the cache", statistics.median(load_s), "s",
                                f"load_dataset(download=False) in this process, median of {len(load_s)}"))
    else:
        res.extras.append(Extra("dataset ready from the cache", None, "s", "dataset not cached: skipped"))
    note("timing mnist-scratch --help")
    help_s = time_help()
    res.extras.append(Extra("mnist-scratch --help", statistics.median(help_s), "s",
                            f"fresh `python -m mnist_scratch --help`, median of {len(help_s)}"))
    if load_s:
        note(f"training {train_config} in a child process")
        res.extras += default_train(train_config, data_dir)
    else:
        res.extras.append(Extra("default train", None, "s", "dataset not cached: skipped"))
    return res
