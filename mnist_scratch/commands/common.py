"""Options shared by several commands."""

from pathlib import Path
from typing import Annotated

import typer

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="MNIST_SCRATCH_DATA",
        help="Cache folder for the dataset (default: the per-user cache folder).",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")]
