"""`mnist-scratch init`: why He init, shown as activation statistics through a deep ReLU stack."""

from pathlib import Path
from typing import Annotated

import typer

from mnist_scratch.commands.common import DataDir, Json
from mnist_scratch.commands.lesson_inputs import Seed, Synthetic, check_seed, lesson_images
from mnist_scratch.errors import UsageError

N_IMAGES = 10_000  # the validation set


def init(
    depth: Annotated[int, typer.Option("--depth", help="Number of linear+ReLU layers (1..100).")] = 8,
    nh: Annotated[int, typer.Option("--nh", help="Width of every layer (1..1024).")] = 50,
    synthetic: Synthetic = False,
    seed: Seed = 0,
    data_dir: DataDir = None,
    as_json: Json = False,
    plot: Annotated[Path | None, typer.Option(help="Also draw the std per layer for each initialization into this "
                                              "PNG (log scale; needs the `plot` extra).", show_default=False)] = None,
):
    """Mean and std of the activations after each layer of a deep ReLU stack, for five initializations.

    Runs the 10,000 normalized validation images through DEPTH layers of relu(x @ w), w of width NH,
    drawn with plain randn, randn/sqrt(n_in), He (the project's), torch's kaiming_normal_ (mode fan_out,
    which fits the lesson's (n_in, n_out) layout) and He with the lesson's relu(x) - 0.5.

    Example: mnist-scratch init --depth 8 --nh 50
    """
    if not 1 <= depth <= 100:
        raise UsageError(f"--depth must be between 1 and 100, got {depth}")
    if not 1 <= nh <= 1024:
        raise UsageError(f"--nh must be between 1 and 1024, got {nh}")
    check_seed(seed)
    from mnist_scratch.lesson.init_stats import run_init
    from mnist_scratch.report import init as report

    x, source = lesson_images(data_dir, synthetic=synthetic, split="valid", n=N_IMAGES, seed=seed)
    if plot is not None:
        from mnist_scratch.report.plots import check_available

        check_available(plot)
    r = run_init(x, depth=depth, nh=nh, seed=seed, source=source)
    report.render(r, as_json=as_json)
    if plot is not None:
        from mnist_scratch.report.statplots import plot_init

        plot_init(r, plot)
