"""`mnist-scratch bench`: the manual engine's training speed beside PyTorch autograd and the GEMM floor."""

from typing import Annotated

import typer

from mnist_scratch.commands.common import DataDir, Device, Json

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
    data_dir: DataDir = None,
    as_json: Json = False,
):
    """Time training epochs of the manual engine, PyTorch autograd and the GEMM floor, interleaved; print ratios.

    Example: mnist-scratch bench --repeats 5
    """
    import torch

    from mnist_scratch.bench.steps import QUICK, SETTINGS
    from mnist_scratch.bench.suite import run_bench
    from mnist_scratch.report import bench as report
    from mnist_scratch.training.runs import resolve_device

    dev = resolve_device(device.value)
    if threads is not None:
        torch.set_num_threads(threads)
    res = run_bench(QUICK if quick else SETTINGS, steps=steps or (20 if quick else None), repeats=repeats,
                    device=dev, data_dir=data_dir, extras=extras, train_config=train_config,
                    synthetic_rows=5_000 if quick else 50_000,
                    note=report.note)
    report.render(res, as_json=as_json)
