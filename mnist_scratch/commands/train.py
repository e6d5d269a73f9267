"""`mnist-scratch train`: minibatch SGD on the hand-written backward pass."""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from mnist_scratch.commands.common import (
    DataDir,
    Device,
    EngineName,
    Json,
    Loss,
    Precision,
    Schedule,
    complete_config,
    complete_run,
    config_default,
    config_option,
    given,
)


def train(
    ctx: typer.Context,
    config: Annotated[str | None, typer.Option(
        "--config", help="A TOML file (keys as the options below) or a shipped config: default, lesson, wide, ...; "
        "`--config list` lists them.", autocompletion=complete_config, show_default=False)] = None,
    nh: Annotated[str, config_option("nh")] = config_default("nh"),
    loss: Annotated[Loss, config_option("loss")] = Loss(config_default("loss")),
    epochs: Annotated[int, config_option("epochs")] = config_default("epochs"),
    bs: Annotated[int, config_option("bs")] = config_default("bs"),
    lr: Annotated[float, config_option("lr")] = config_default("lr"),
    momentum: Annotated[float, config_option("momentum")] = config_default("momentum"),
    weight_decay: Annotated[float, config_option("weight_decay")] = config_default("weight_decay"),
    lr_schedule: Annotated[Schedule, config_option("lr_schedule")] = Schedule(config_default("lr_schedule")),
    seed: Annotated[int, config_option("seed")] = config_default("seed"),
    device: Annotated[Device, config_option("device")] = Device(config_default("device")),
    engine: Annotated[EngineName, config_option("engine")] = EngineName(config_default("engine")),
    threads: Annotated[int, config_option("threads")] = config_default("threads"),
    matmul_precision: Annotated[Precision, config_option("matmul_precision")] = Precision(
        config_default("matmul_precision")),
    procs: Annotated[int, config_option("procs")] = config_default("procs"),
    dist_timeout: Annotated[float, config_option("dist_timeout")] = config_default("dist_timeout"),
    stats_every: Annotated[int, config_option("stats_every")] = config_default("stats_every"),
    stats: Annotated[bool, typer.Option("--stats", help="Also show per-layer figures (activation std, dead units, "
                     "update ratio) on the progress line; records them even if a config says --stats-every 0.")
                     ] = False,
    no_stats: Annotated[bool, typer.Option("--no-stats", help="Record no training statistics (--stats-every 0).")
                        ] = False,
    tensorboard: Annotated[Path | None, typer.Option(help="Also write TensorBoard event files (scalars, "
                           "histograms) into this folder; needs the `tb` extra.", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder.", show_default="runs/<time>-<model>")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue the run in this folder from its checkpoint.",
                                                autocompletion=complete_run, show_default=False)] = None,
    data_dir: DataDir = None,
    as_json: Json = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No live progress bars.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write loss/accuracy curves to this PNG.", show_default=False)
                    ] = None,
    rules: Annotated[Path | None, typer.Option(help="Train with YOUR forward and backward rules from this .py/.ipynb "
                                               "(its Lin/Relu/Mse classes, else its functions); runs its code as you; "
                                               "checked first.", show_default=False)] = None,
    target_acc: Annotated[float | None, typer.Option(
        help="A gate for CI and courses: exit 3 after the table when the best valid accuracy stays below this "
        "fraction (0.975 = 97.5 %).", show_default=False)] = None,
):
    """Train linear → ReLU → linear with SGD on the hand-written backward pass; print a loss table per epoch.

    The defaults are the tuned recipe (97.8 % valid in 5 epochs). Example: mnist-scratch train --nh 100,50 --epochs 3

    With --rules FILE the model's forward and backward passes are your own code from `mnist-scratch exercise` (the
    lesson's model: --config lesson, MSE on one output; the default --loss ce needs your cross_entropy_grad,
    log_softmax and nll). The rules are checked first; a wrong one stops here with the check table (exit 1).

    --procs N trains in N processes, each on its share of every batch (the same run, equal to round-off); the same
    command also runs under `torchrun --nproc-per-node N -m mnist_scratch train ...`.
    """
    from mnist_scratch.data import load_dataset
    from mnist_scratch.errors import UsageError
    from mnist_scratch.limits import check_threads
    from mnist_scratch.report import train as report
    from mnist_scratch.training import distributed, ranks, runs, target

    if config == "list":
        return report.render_configs()
    flags = dict(nh=nh, loss=loss, epochs=epochs, bs=bs, lr=lr, momentum=momentum, weight_decay=weight_decay,
                 lr_schedule=lr_schedule, seed=seed, device=device, engine=engine, threads=threads,
                 matmul_precision=matmul_precision, procs=procs,
                 dist_timeout=dist_timeout, stats_every=stats_every)
    typed = given(ctx, flags)
    if rules is not None and (resume is not None or "engine" in typed):
        raise UsageError("--rules trains with your rules from scratch: drop --engine and --resume")
    if target_acc is not None:
        target.check_target(target_acc)
    if stats and no_stats:
        raise UsageError("--stats and --no-stats contradict each other: give one")
    if no_stats:
        typed["stats_every"] = 0
    world = distributed.from_env()  # set when torchrun started this process
    p = runs.plan(config, typed, out=out, resume=resume, stats=stats, rules=rules is not None,
                  world_size=None if world is None else world.size)
    if tensorboard is not None:
        from mnist_scratch.training.tensorboard import check_available as check_tensorboard

        check_tensorboard()
    check_threads(p.cfg.threads or None)  # before any data is read (train_run checks it for library callers)
    show = Show(as_json, no_progress, stats, plot, target_acc)
    parallel = world is not None or p.cfg.procs > 1  # torchrun started this process, or --procs starts the workers
    if parallel and rules is not None:
        raise UsageError("--rules trains in one process: drop --procs")
    if plot is not None:
        from mnist_scratch.report.plots import check_available

        check_available(plot)
    if parallel:
        code = (ranks.launch_training(p, data_dir, show) if world is None
                else ranks.under_torchrun(p, world, data_dir, show))
    else:
        factory = None if rules is None else _learner_engine(rules, p.cfg, as_json)
        data = load_dataset(data_dir, device=runs.resolve_device(p.cfg.device))
        code = show.end(runs.train_run(p, data, show.display(), factory, tensorboard=tensorboard))
    if code:
        raise typer.Exit(code)


@dataclass(frozen=True)
class Show:
    """How `train` shows a run, in one process or on rank 0 of many (sent to the workers: it pickles)."""

    as_json: bool
    no_progress: bool
    stats: bool
    plot: "Path | None"
    target_acc: "float | None"  # --target-acc: the best valid accuracy must reach it (exit 3 below it)

    def display(self) -> list:
        """The callbacks that show the run as it trains: the table and progress bars, none for --json."""
        from mnist_scratch.report.train import TableCallback

        return [] if self.as_json else [TableCallback(progress=not self.no_progress, stats=self.stats)]

    def end(self, run) -> int:
        """The end of every run: gate, render, plot; the exit code (130 after Ctrl-C, 143 after SIGTERM, each after
        the table so far and a note); a missed --target-acc raises (exit 3)."""
        from mnist_scratch.interrupts import EXIT_CODES
        from mnist_scratch.report import train as report
        from mnist_scratch.training import target

        gate = None if self.target_acc is None else target.gate(run.history, self.target_acc)
        report.render(run, as_json=self.as_json, gate=gate)
        if self.plot is not None and run.history:  # an interrupted run with no finished epoch has nothing to draw
            from mnist_scratch.report.plots import plot_history

            plot_history(run.history, self.plot)
        if run.interrupted:
            return EXIT_CODES.get(run.signal, 130)
        target.enforce(gate)
        return 0


def _learner_engine(rules: Path, cfg, as_json: bool):
    """Check the learner's rules (refusing with the table when one is wrong) and return their engine's factory."""
    from mnist_scratch.errors import UsageError
    from mnist_scratch.report import check as check_report
    from mnist_scratch.training.rules import RulesEngine, choose

    if not rules.is_file():
        raise UsageError(f"--rules {rules} is not a file")
    chosen = choose(rules, cfg.loss, seconds=10.0)
    if not chosen.check.ok:
        check_report.render(chosen.check, as_json=as_json)
        raise typer.Exit(1)
    if not as_json:
        check_report.rules_accepted(chosen.check, chosen.style)
    return lambda model, c: RulesEngine(model, c, chosen)
