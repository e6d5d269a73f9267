"""`mnist-scratch train`: minibatch SGD on the hand-written backward pass."""

from pathlib import Path
from typing import Annotated

import typer

from mnist_scratch.commands.common import DataDir, Json


def train(
    config: Annotated[Path | None, typer.Option("--config", help="TOML config (keys as the options below).")] = None,
    nh: Annotated[str | None, typer.Option(help="Hidden sizes: 50, or 100,50 for two layers. [default: 50]")] = None,
    loss: Annotated[str | None, typer.Option(help="ce (10 outputs) or mse (one output). [default: ce]")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs. [default: 5]")] = None,
    bs: Annotated[int | None, typer.Option(help="Batch size. [default: 64]")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate. [default: 0.1]")] = None,
    momentum: Annotated[float | None, typer.Option(help="SGD momentum. [default: 0]")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="L2 weight decay. [default: 0]")] = None,
    lr_schedule: Annotated[str | None, typer.Option(help="constant, onecycle or cosine. [default: constant]")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the init and of the shuffles. [default: 42]")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto. [default: cpu]")] = None,
    engine: Annotated[str | None, typer.Option(help="manual (fused), reference (nn.py) or autograd.")] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads; 1 is steadier on a busy machine.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder. [default: runs/<time>-<model>]")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue the run in this folder from its checkpoint.")] = None,
    data_dir: DataDir = None,
    json_: Json = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No live progress bars.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write loss/accuracy curves to this PNG.")] = None,
):
    """Train linear → ReLU → linear with SGD on the hand-written backward pass; print a loss table per epoch.

    Example: mnist-scratch train --config configs/default.toml --epochs 3
    """
    from mnist_scratch import config as cfgmod
    from mnist_scratch.data import load_dataset
    from mnist_scratch.errors import UsageError
    from mnist_scratch.report import train as report
    from mnist_scratch.training import checkpoint, runs
    from mnist_scratch.training.fit import Hooks

    flags = dict(nh=nh, loss=loss, epochs=epochs, bs=bs, lr=lr, momentum=momentum, weight_decay=weight_decay,
                 lr_schedule=lr_schedule, seed=seed, device=device, engine=engine, threads=threads)
    given = {k: v for k, v in flags.items() if v is not None}
    if resume is not None:
        if config is not None:
            raise UsageError("--resume continues with the run's own config; drop --config")
        ckpt = checkpoint.load(resume)
        cfg = cfgmod.merge(ckpt.cfg, given)
        runs.check_resumable(cfg, ckpt)
        out = ckpt.path.parent
    else:
        cfg, ckpt = cfgmod.resolve(config, given), None
        out = out or runs.new_run_dir(Path("runs"), cfg)
        runs.check_fresh_out(out)
    if plot is not None:
        from mnist_scratch.report.plots import check_available, plot_history

        check_available()
    dev = runs.resolve_device(cfg.device)
    data = load_dataset(data_dir, device=dev)
    display = Hooks() if json_ else report.TableHooks(progress=not no_progress)
    run = runs.train_run(cfg, data, out, display, ckpt)
    weights = out / checkpoint.WEIGHTS
    if json_:
        report.train_json(cfg.to_dict(), run.epochs, weights if weights.exists() else None, run.interrupted)
    else:
        report.summary(run.epochs, run.out, run.seconds, run.interrupted, run.device)
    history = runs.read_metrics(run.out)
    if plot is not None and history:  # an interrupted run with no finished epoch has nothing to draw
        plot_history(history, plot)
    if run.interrupted:
        raise typer.Exit(130)
