"""`mnist-scratch lr-find`: the learning-rate range test on the manual engine, and a suggested --lr."""

from pathlib import Path
from typing import Annotated

import typer

from mnist_scratch.commands.common import DataDir, Json, choices, complete_config, config_default, config_option, given
from mnist_scratch.config import LOSSES, LR_RULES

Loss = choices("Loss", LOSSES)
Rule = choices("Rule", LR_RULES)


def lr_find(
    ctx: typer.Context,
    config: Annotated[str | None, typer.Option(
        "--config", help="A TOML file or shipped config, as for train (its lr and schedule are not used).",
        autocompletion=complete_config, show_default=False)] = None,
    nh: Annotated[str, config_option("nh")] = config_default("nh"),
    loss: Annotated[Loss, config_option("loss")] = Loss(config_default("loss")),
    bs: Annotated[int, config_option("bs")] = config_default("bs"),
    momentum: Annotated[float, config_option("momentum")] = config_default("momentum"),
    weight_decay: Annotated[float, config_option("weight_decay")] = config_default("weight_decay"),
    seed: Annotated[int, config_option("seed")] = config_default("seed"),
    threads: Annotated[int, config_option("threads")] = config_default("threads"),
    dataset: Annotated[str, config_option("dataset")] = config_default("dataset"),
    start_lr: Annotated[float, typer.Option(help="The first step's lr.")] = 1e-6,
    end_lr: Annotated[float, typer.Option(help="The lr the last step would reach (the sweep stops earlier when "
                                                "the loss blows up).")] = 10.0,
    steps: Annotated[int, typer.Option(help="Steps from --start-lr to --end-lr (at most one epoch).")] = 200,
    rule: Annotated[Rule, typer.Option(help="valley: the floor of the smoothed loss (for one-cycle's peak lr); "
                                            "steepest: where it falls fastest.")] = Rule("valley"),
    plot: Annotated[Path | None, typer.Option("--plot", "--png", help="Write the loss-vs-lr curve to this PNG.",
                                              show_default=False)] = None,
    data_dir: DataDir = None,
    as_json: Json = False,
):
    """Train a copy of the model with lr growing from 1e-6 until the loss blows up; suggest an lr for `train`.

    Example: mnist-scratch lr-find --plot lr.png, then mnist-scratch train --lr <the suggestion>
    """
    from mnist_scratch.config import resolve
    from mnist_scratch.data import load_dataset
    from mnist_scratch.report import lr_find as report
    from mnist_scratch.training.lr_find import sweep
    from mnist_scratch.training.runs import resolve_device

    flags = dict(nh=nh, loss=loss, bs=bs, momentum=momentum, weight_decay=weight_decay, seed=seed, threads=threads,
                 dataset=dataset)
    cfg = resolve(config, given(ctx, flags))
    if plot is not None:
        from mnist_scratch.report.plots import check_available

        check_available()
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    data = load_dataset(data_dir, device=resolve_device(cfg.device), name=cfg.dataset)
    r = sweep(cfg, data.x_train, data.y_train, start_lr=start_lr, end_lr=end_lr, steps=steps, rule=rule.value)
    if plot is not None:
        report.plot_curve(r, plot)
    report.render(r, as_json=as_json, plot=plot)
