"""`mnist-scratch export`: a run as a PyTorch state_dict or an ONNX model."""

from pathlib import Path
from typing import Annotated

import typer

from mnist_scratch.commands.common import DataDir, Json, choices
from mnist_scratch.commands.predict import Run
from mnist_scratch.use import EXPORT_FORMATS

Format = choices("Format", EXPORT_FORMATS)
Out = Annotated[Path | None, typer.Option("--out", help="File to write.",
                                          show_default="model.pt or model.onnx in the run folder")]
Force = Annotated[bool, typer.Option("--force", help="Replace the file(s) if they exist.")]


def export(
    run: Run,
    fmt: Annotated[Format, typer.Option("--format", help="torch: a state_dict for nn.Sequential, with the mean "
                                        "and std in a .json beside it; onnx: one model, normalisation included "
                                        "(needs the onnx extra).")] = Format("torch"),
    out: Out = None,
    force: Force = False,
    data_dir: DataDir = None,
    as_json: Json = False,
):
    """Export a run for PyTorch or ONNX, checked against the run's own outputs on the test split first.

    torch: nn.Linear weights are (out, in), the transpose of the lesson's w; the loading snippet printed applies the
    run's normalisation. onnx: pixels (batch, 784) in [0, 1] in, outputs out, run by onnxruntime to compare.

    Example: mnist-scratch export runs/latest --format onnx
    """
    from mnist_scratch.data import load_dataset
    from mnist_scratch.report import export as report
    from mnist_scratch.training import checkpoint
    from mnist_scratch.use import export as ex

    if fmt.value == "onnx":
        ex.check_onnx_available()
    ckpt = checkpoint.load(run)
    ds = load_dataset(data_dir)
    report.render(ex.export(ckpt, fmt.value, out, ds.x_test, ds.mean, ds.std, force), as_json=as_json)
