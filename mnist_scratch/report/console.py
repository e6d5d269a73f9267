"""Shared consoles and JSON output for the report modules."""

import json
import sys
from typing import Any

from rich.console import Console


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
