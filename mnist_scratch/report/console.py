"""Shared consoles and JSON output for the report modules."""

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from mnist_scratch.atomic import printable, shown

MIN_WIDTH, MAX_WIDTH = 80, 1000  # the tables fit 80 columns whole; 0 or 1 would print nothing or a char a line


def width(stream) -> int:
    """$COLUMNS, else the terminal's width; kept within [MIN_WIDTH, MAX_WIDTH] (a narrow terminal wraps the lines)."""
    try:
        w = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        w = 0
    if w <= 0:
        try:
            w = os.get_terminal_size(stream.fileno()).columns if stream.isatty() else MIN_WIDTH
        except (OSError, ValueError, AttributeError):
            w = MIN_WIDTH
    return min(max(w, MIN_WIDTH), MAX_WIDTH)


def stdout() -> Console:
    """A console on stdout (tables and summaries)."""
    return Console(file=sys.stdout, highlight=False, width=width(sys.stdout))


def stderr() -> Console:
    """A console on stderr (warnings, progress)."""
    return Console(file=sys.stderr, highlight=False, width=width(sys.stderr))


def print_json(obj: Any) -> None:
    """One JSON object on stdout, nothing else."""
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def esc(value: object) -> str:
    """str(value) with rich markup escaped: paths, URLs and messages print as they are ('runs/a[/]' too), and
    bytes of a path that are not UTF-8 and control characters as \\x.. escapes."""
    if isinstance(value, os.PathLike):
        return escape(shown(value))
    text = value if isinstance(value, str) else str(value)
    return escape(printable(text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"), lines=True))
