"""`mnist-scratch matmul`: the lesson's matrix multiplications, three loops to torch, timed and checked."""

from typing import Annotated

import typer

from mnist_scratch.commands.common import DataDir, Json
from mnist_scratch.commands.lesson_inputs import Seed, Synthetic, check_seed, lesson_images
from mnist_scratch.errors import MnistScratchError, UsageError
from mnist_scratch.limits import check_threads

MAX_ROWS = 1000  # the three-loop version takes about 0.1 s a row


def matmul(
    rows: Annotated[int, typer.Option("--rows", help=f"Training images to multiply (1..{MAX_ROWS}).")] = 5,
    synthetic: Synthetic = False,
    seed: Seed = 0,
    threads: Annotated[
        int | None, typer.Option("--threads", help="torch intra-op threads while timing.",
                                 show_default="torch's default")
    ] = None,
    data_dir: DataDir = None,
    as_json: Json = False,
):
    """Time matrix multiplication from three Python loops to torch's @, each checked against torch.

    Multiplies the first ROWS normalized training images (ROWS x 784) by a random 784 x 10 weight matrix,
    as the lesson does, and also computes the lesson's Frobenius-norm exercise element-wise.

    Times depend on load: with torch's threads on a busy machine a tiny product can wait milliseconds
    for a descheduled thread; compare with --threads 1.

    Example: mnist-scratch matmul --rows 5
    """
    if not 1 <= rows <= MAX_ROWS:
        raise UsageError(f"--rows must be between 1 and {MAX_ROWS}, got {rows}")
    if threads is not None and not 1 <= threads <= 1024:
        raise UsageError(f"--threads must be between 1 and 1024, got {threads}")
    check_threads(threads)
    check_seed(seed)
    import torch

    from mnist_scratch.lesson.matmul import run_matmul
    from mnist_scratch.lesson.timing import threads as using_threads
    from mnist_scratch.report import matmul as report

    x, source = lesson_images(data_dir, synthetic=synthetic, split="train", n=rows, seed=seed)
    w = torch.randn(784, 10, generator=torch.Generator().manual_seed(seed))  # (784, 10)
    x = x.clone()  # (rows, 784), its own storage
    with using_threads(threads):
        result = run_matmul(x, w, source=source)
    report.render(result, as_json=as_json)
    bad = [r.name for r in result.rows if not r.ok]
    if bad:
        raise MnistScratchError(f"disagrees with torch beyond rtol 1e-3, atol 1e-5: {', '.join(bad)}")
