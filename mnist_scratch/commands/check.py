"""`mnist-scratch check FILE`: grade the learner's own lesson code rule by rule, and say what is wrong."""

from pathlib import Path
from typing import Annotated

import typer

from mnist_scratch.commands.common import Json
from mnist_scratch.commands.exercise import Part

MAX_TIMEOUT = 3600.0


def check(
    file: Annotated[Path | None, typer.Argument(help="Your .py or .ipynb file.", show_default=False)] = None,
    part: Annotated[Part | None, typer.Option(help="Grade one part only.", show_default=False)] = None,
    timeout: Annotated[float, typer.Option(help="Seconds each rule (and each cell while loading) may run.")] = 10.0,
    file_timeout: Annotated[float, typer.Option(help="Seconds the whole file may take: loading it and every rule "
                                                "(check ends within this plus about a second).")] = 60.0,
    mutants: Annotated[bool, typer.Option("--mutants", help="Grade the built-in catalogue of broken solutions "
                                          "instead: shows each mistake caught with its diagnosis.")] = False,
    as_json: Json = False,
):
    """Grade every function and class FILE defines against autograd (float64) and finite differences.

    This RUNS THE CODE IN FILE AS YOU, with your permissions, like `python FILE` would: check only files you
    trust. It runs in a child process (its own PID namespace where the system allows, limited memory, CPU time
    and output) that cannot change the verdict, which is computed here. The file itself is never modified.
    Each rule is fed the right inputs and upstream gradient, so one wrong rule never makes the next look
    wrong; a wrong one gets a diagnosis in plain words, an exception shows your own traceback lines.
    Exit 0 when every graded rule passes, 1 otherwise, 2 on a usage error.

    Example: mnist-scratch check lesson.py --part backward
    """
    import math

    from mnist_scratch.errors import UsageError
    from mnist_scratch.report import check as report

    part = part.value if part is not None else None
    if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
        raise UsageError(f"--timeout must be between 0 and {MAX_TIMEOUT:g} seconds, got {timeout:g}")
    if not (math.isfinite(file_timeout) and 0 < file_timeout <= MAX_TIMEOUT):
        raise UsageError(f"--file-timeout must be between 0 and {MAX_TIMEOUT:g} seconds, got {file_timeout:g}")
    if mutants:
        if file is not None or part is not None:
            raise UsageError("--mutants grades the built-in catalogue; drop FILE and --part")
        from mnist_scratch.grader.mutants import run_catalogue

        res = run_catalogue(seconds=timeout)
        report.render_mutants(res, as_json=as_json)
    else:
        if file is None:
            raise UsageError("give the FILE to check (or --mutants); write one with `mnist-scratch exercise`")
        if not file.is_file():
            raise UsageError(f"{file} is not a file")
        from mnist_scratch.grader.solutions import BY_NAME
        from mnist_scratch.grader.spawn import MEMORY_MB, OUTPUT_BYTES, spawn_loading

        # the child imports torch and loads the file while this process imports torch: the start-ups overlap
        child = spawn_loading(str(file), seconds=timeout, names=tuple(BY_NAME), memory_mb=MEMORY_MB,
                              cpu_seconds=int(file_timeout) + 1, output_bytes=OUTPUT_BYTES)
        from mnist_scratch.grader import check_file

        res = check_file(file, part=part, seconds=timeout, file_seconds=file_timeout, child=child)
        report.render(res, as_json=as_json)
    if not res.ok:
        raise typer.Exit(1)
