"""`mnist-scratch bench`: the manual engine's training speed beside PyTorch autograd and the GEMM floor."""

from typing import Annotated

import typer

from mnist_scratch.commands.common import DataDir, Device, Json, Precision, choices

Clock = choices("Clock", ("wall", "cpu"))

DEFAULT_CONFIG = "default"


def bench(
    quick: Annotated[bool, typer.Option("--quick", help="One tiny setting and a few steps (a smoke test).")] = False,
    repeats: Annotated[int, typer.Option(min=1, help="Interleaved repeats per engine.")] = 5,
    steps: Annotated[int | None, typer.Option(min=1, help="Timed steps per repeat.", show_default="one epoch")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="torch threads.", show_default="torch's default")] = None,
    device: Annotated[Device, typer.Option(help="Where to time: cpu, cuda, or auto.")] = Device("cpu"),
    extras: Annotated[bool, typer.Option(help="Also time data loading, --help and a default training run.")] = True,
    train_config: Annotated[str, typer.Option(help="Config (file or shipped name) of the timed training run.")
                            ] = DEFAULT_CONFIG,
    procs: Annotated[str | None, typer.Option(help="Instead: data-parallel training in these numbers of processes, "
                                              "e.g. 1,2 (steps/s, all_reduce share, scaling).", show_default=False)
                     ] = None,
    clock: Annotated[Clock, typer.Option(help="wall: seconds a user waits; cpu: this process's CPU seconds, "
                                          "steadier on a shared machine (use with --threads 1).")] = Clock("wall"),
    stats_cost: Annotated[bool, typer.Option("--stats-cost", help="Also time fit() with training statistics off "
                          "and every k steps (nh 50, bs 64, one epoch, interleaved).")] = False,
    busy: Annotated[int | None, typer.Option(min=1, help="Also time an epoch (nh 50 bs 64, nh 1000 bs 256) at one "
                    "thread, every CPU (spinning or sleeping waits) and train's default, idle and beside N busy "
                    "cores (processes this bench starts and stops), each in a fresh process.",
                    show_default=False)] = None,
    speedrun: Annotated[bool, typer.Option("--speedrun", help="Also train --config speedrun for seeds 1, 2, 3 at "
                        "matmul precision medium and highest, each in a fresh process, and evaluate it on the test "
                        "split (time to 98 %).")] = False,
    matmul_precision: Annotated[Precision, typer.Option(help="float32 matmuls of every timed engine and floor: "
                                "highest (exact), high, medium (bfloat16 GEMMs where the hardware has them).")
                                ] = Precision("highest"),
    data_dir: DataDir = None,
    as_json: Json = False,
):
    """Time training epochs of the manual engine, PyTorch autograd and the GEMM floor, interleaved; print ratios.

    Example: mnist-scratch bench --repeats 5
    """
    import torch

    from mnist_scratch.bench.steps import QUICK, SETTINGS
    from mnist_scratch.bench.suite import run_bench
    from mnist_scratch.errors import UsageError
    from mnist_scratch.report import bench as report
    from mnist_scratch.training import precision
    from mnist_scratch.training.runs import resolve_device

    dev = resolve_device(device.value)
    if clock.value == "cpu" and dev.type != "cpu":
        raise UsageError(f"--clock cpu times only the CPU's work; with --device {device.value} use --clock wall")
    if threads is not None:
        torch.set_num_threads(threads)
    if procs is not None and clock.value == "cpu":
        raise UsageError("--clock cpu times this one process; --procs runs several, timed by the wall clock")
    if procs is not None and matmul_precision.value != "highest":
        raise UsageError("--matmul-precision applies to the engines timed in this process; --procs times workers "
                         "that train at highest")
    if procs is not None:
        from mnist_scratch.bench.parallel import run_parallel_bench

        counts = _counts(procs)
        res = run_parallel_bench(counts, torch.get_num_threads(), steps or (20 if quick else 100),
                                 2 if quick else repeats, data_dir, note=report.note)
        return report.render(res, as_json=as_json)
    with precision.matmul_precision(matmul_precision.value):  # engines and floors alike (the extras' child: its config)
        res = run_bench(QUICK if quick else SETTINGS, steps=steps or (20 if quick else None), repeats=repeats,
                        device=dev, data_dir=data_dir, extras=extras, train_config=train_config,
                        synthetic_rows=5_000 if quick else 50_000,
                        note=report.note, clock=clock.value)
    cost = None
    if stats_cost:
        from mnist_scratch.bench.stats_cost import stats_cost as measure
        from mnist_scratch.bench.suite import bench_data

        report.note("timing fit() with statistics off and every k steps")
        x, y, _, _ = bench_data(data_dir, dev, 5_000 if quick else 50_000)
        cost = measure(x, y, steps=20 if quick else 782, repeats=repeats)
    loaded = None
    if busy is not None:
        from mnist_scratch.bench.load import SETTINGS as LOAD_SETTINGS
        from mnist_scratch.bench.load import run_load_bench

        loaded = run_load_bench([busy], QUICK if quick else LOAD_SETTINGS, steps=20 if quick else steps,
                                repeats=2 if quick else 3, note=report.note)
    runs = None
    if speedrun:
        from mnist_scratch.bench.speedrun import speed_runs

        runs = speed_runs(data_dir=data_dir, note=report.note)
    report.render(res, as_json=as_json, cost=cost, loaded=loaded, runs=runs)


def _counts(text: str) -> list[int]:
    """'1,2' -> [1, 2]; UsageError naming --procs otherwise."""
    from mnist_scratch.config import MAX_PROCS
    from mnist_scratch.errors import UsageError

    try:
        counts = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        counts = []
    if not counts or any(not 1 <= n <= MAX_PROCS for n in counts):
        raise UsageError(f"--procs must be process counts in 1..{MAX_PROCS} like 1,2, got {text!r}")
    return counts
