"""`mnist-scratch predict`: a trained run on your own images of digits."""

from pathlib import Path
from typing import Annotated

import typer

from mnist_scratch.commands.common import Json, complete_run
from mnist_scratch.errors import ImagesRefused

Run = Annotated[Path, typer.Argument(help="A run folder or its model.safetensors.", show_default=False,
                                     autocompletion=complete_run)]
Images = Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, any format Pillow reads) or folders of "
                                              "them.", show_default=False)]
Show = Annotated[bool, typer.Option("--show", help="Draw the 28x28 digit the network saw above each row.")]


def predict(run: Run, images: Images, show: Show = False, as_json: Json = False):
    """Predict the digit in each image: the top 3 classes with their probabilities.

    Each image becomes an MNIST digit as the dataset's were made: grayscale, inverted when the background is light,
    cropped to the ink, its longer side scaled to 20 px, centred by its centre of mass in 28x28; then normalised with
    the run's own mean and std. A file that is not a usable image gets one line on stderr, the others are still
    predicted, and the exit code is 1.

    Example: mnist-scratch predict runs/latest my-digits/
    """
    from mnist_scratch.report import predict as report
    from mnist_scratch.training import checkpoint
    from mnist_scratch.use.files import predict_files
    from mnist_scratch.use.predict import Predictor

    predictor = Predictor(checkpoint.load(run))
    rows = predict_files(predictor, images)
    report.render(rows, predictor, as_json=as_json, show=show)
    bad = sum(r.error is not None for r in rows)
    if bad:
        raise ImagesRefused(f"{bad} of {len(rows)} images could not be read")
