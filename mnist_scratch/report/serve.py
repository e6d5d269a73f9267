"""Rendering for `serve`: where the page is."""

import sys
from pathlib import Path

from mnist_scratch.report.console import esc, stdout


def listening(url: str, run: Path) -> None:
    """The line that tells the user where to point a browser."""
    stdout().print(f"serving {esc(run)} at {esc(url)}  (Ctrl-C stops)", soft_wrap=True)
    sys.stdout.flush()  # seen at once when stdout is a pipe or file: the server runs until stopped
