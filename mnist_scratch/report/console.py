"""Shared consoles and JSON output for the report modules."""

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from mnist_scratch.atomic import shown


def stdout() -> Console:
    """A console on stdout (tables and summaries)."""
    return Console(file=sys.stdout, highlight=False)


def stderr() -> Console:
    """A console on stderr (warnings, progress)."""
    return Console(file=sys.stderr, highlight=False)


def print_json(obj: Any) -> None:
    """One JSON object on stdout, nothing else."""
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def esc(value: object) -> str:
    """str(value) with rich markup escaped: paths, URLs and messages print as they are ('runs/a[/]' too), and
    bytes of a path that are not UTF-8 as \\x.. escapes."""
    return escape(shown(value) if isinstance(value, str | os.PathLike) else str(value))
