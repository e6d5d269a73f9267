"""`mnist-scratch evaluate`: test-set figures of a trained run."""

from pathlib import Path
from typing import Annotated

import typer

from mnist_scratch.commands.common import DataDir, DatasetName, Json, complete_run


def evaluate(
    run: Annotated[Path, typer.Argument(help="A run folder or its model.safetensors.", show_default=False,
                                        autocompletion=complete_run)],
    dataset: DatasetName = None,
    data_dir: DataDir = None,
    as_json: Json = False,
):
    """Test loss and accuracy, per-class accuracy and the confusion matrix of a trained model.

    The test split is used here and nowhere else. Example: mnist-scratch evaluate runs/20261122-190000-nh50-ce
    """
    from mnist_scratch.data import load_dataset
    from mnist_scratch.report import evaluate as report
    from mnist_scratch.training import checkpoint
    from mnist_scratch.training.evaluation import evaluate_run

    ckpt = checkpoint.load(run)
    checkpoint.check_data(ckpt, dataset or ckpt.cfg.dataset)  # before any data is read
    data = load_dataset(data_dir, name=ckpt.cfg.dataset)
    checkpoint.check_data(ckpt, data.name, data.digest)
    report.render(evaluate_run(ckpt, data), as_json=as_json)
