"""`mnist-scratch gradcheck`: prove every hand-written gradient against autograd and finite differences."""

from typing import Annotated

import typer

from mnist_scratch.commands.common import DataDir, Dtype, Json, Loss

MAX_BS = 50_000  # the train split's size


def gradcheck(
    nh: Annotated[str, typer.Option(help="Hidden sizes: 50, or 100,50 for two layers.")] = "50",
    loss: Annotated[Loss, typer.Option(help="ce (10 outputs) or mse (the lesson's one output).")] = Loss("ce"),
    seed: Annotated[int, typer.Option(help="Seed of the init, the perturbation and the batch.")] = 42,
    bs: Annotated[int, typer.Option(help="Rows in the checked batch.")] = 64,
    dtype: Annotated[Dtype, typer.Option(help="Precision of the autograd comparison.")] = Dtype("float32"),
    synthetic: Annotated[bool, typer.Option("--synthetic", help="Random inputs and labels (no dataset).")] = False,
    fd: Annotated[bool, typer.Option("--fd", help="Also central differences (float64) on sampled entries.")] = False,
    samples: Annotated[int, typer.Option(help="Entries per parameter for --fd.")] = 20,
    data_dir: DataDir = None,
    as_json: Json = False,
):
    """Check every hand-written gradient (params, activations, input) against autograd; exit 1 if any differs.

    Example: mnist-scratch gradcheck --nh 100,50 --loss mse --fd --dtype float64
    """
    from mnist_scratch import config as cfgmod
    from mnist_scratch.errors import UsageError

    cfg = cfgmod.merge(cfgmod.TrainConfig(), dict(nh=nh, loss=loss.value, seed=seed, bs=bs))  # errors name the flag
    dtype = dtype.value
    if cfg.bs > MAX_BS:
        raise UsageError(f"--bs must be at most {MAX_BS}, got {cfg.bs}")
    if samples <= 0:
        raise UsageError(f"--samples must be positive, got {samples}")

    import torch

    from mnist_scratch import gradcheck as gc
    from mnist_scratch.report import grad as report

    g = torch.Generator().manual_seed(cfg.seed)
    if synthetic:
        x, targ = gc.synthetic_batch(cfg.bs, generator=g)
        source = "synthetic"
    else:
        from mnist_scratch.data import load_dataset

        data = load_dataset(data_dir)
        x, targ = gc.sample_batch(data.x_train, data.y_train, cfg.bs, generator=g)
        source = f"train split ({data.source})"
    check = gc.gradcheck(
        x, targ, nh=cfg.nh, loss=cfg.loss, seed=cfg.seed, dtype=getattr(torch, dtype), fd=fd, samples=samples
    )
    meta = {"nh": list(cfg.nh), "loss": cfg.loss, "dtype": dtype, "bs": cfg.bs, "seed": cfg.seed, "data": source}
    report.render(check, as_json=as_json, meta=meta)
    if not check.ok:
        raise typer.Exit(1)
