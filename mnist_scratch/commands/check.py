"""`mnist-scratch check FILE...`: grade learners' lesson code rule by rule, one file or a whole class."""

import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from mnist_scratch.commands.common import Json
from mnist_scratch.commands.exercise import Part

MAX_TIMEOUT = 3600.0
MAX_FILES = 10_000  # a class folder; more is not one
SUFFIXES = (".py", ".ipynb")


class Format(str, Enum):
    table = "table"
    csv = "csv"
    gradescope = "gradescope"


def check(
    files: Annotated[list[Path] | None, typer.Argument(help="Your .py or .ipynb file; or a class: several files or "
                                                            "folders (every .py/.ipynb inside).", show_default=False)
                     ] = None,
    part: Annotated[Part | None, typer.Option(help="Grade one part only.", show_default=False)] = None,
    timeout: Annotated[float, typer.Option(help="Seconds each rule (and each cell while loading) may run.")] = 10.0,
    file_timeout: Annotated[float, typer.Option(help="Seconds one file may take: loading it and every rule "
                                                "(check ends within this plus about a second).")] = 60.0,
    mutants: Annotated[bool, typer.Option("--mutants", help="Grade the built-in catalogue of broken solutions "
                                          "instead: shows each mistake caught with its diagnosis.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="table (default); csv: a gradebook on stdout, one row per "
                                        "file; gradescope: Gradescope's results.json (see --out, --points).")
                   ] = Format.table,
    out: Annotated[Path | None, typer.Option(help="--format gradescope: the results.json to write for one file "
                                             "(default results.json), the folder for one file per submission.",
                                             show_default=False)] = None,
    points: Annotated[Path | None, typer.Option(help="A TOML file: [points] rule = points, optional [visibility] "
                                                "rule = hidden|after_due_date|after_published|visible. Default: one "
                                                "point per graded rule.", show_default=False)] = None,
    jobs: Annotated[int, typer.Option(help="Files graded at once (default: the cores).", show_default=False)] = 0,
    as_json: Json = False,
):
    """Grade every function and class FILE defines against autograd (float64) and finite differences.

    This RUNS THE CODE IN FILE AS YOU, with your permissions, like `python FILE` would: check only files you
    trust. It runs in a child process (its own PID namespace where the system allows, limited memory, CPU time
    and output) that cannot change the verdict, which is computed here. The file itself is never modified.
    Each rule is fed the right inputs and upstream gradient, so one wrong rule never makes the next look wrong;
    a wrong one gets a diagnosis in plain words, an exception shows your own traceback lines. Several files or a
    folder: one row per file and a summary of the class's mistakes.
    Exit 0 when every graded rule of every file passes, 1 otherwise, 2 on a usage error.

    Example: mnist-scratch check lesson.py --part backward; mnist-scratch check submissions/ --format csv
    """
    import math

    from mnist_scratch.errors import UsageError
    from mnist_scratch.report import check as report

    part = part.value if part is not None else None
    if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
        raise UsageError(f"--timeout must be between 0 and {MAX_TIMEOUT:g} seconds, got {timeout:g}")
    if not (math.isfinite(file_timeout) and 0 < file_timeout <= MAX_TIMEOUT):
        raise UsageError(f"--file-timeout must be between 0 and {MAX_TIMEOUT:g} seconds, got {file_timeout:g}")
    if jobs < 0:
        raise UsageError(f"--jobs must be 0 (the cores) or more, got {jobs}")
    if as_json and fmt != Format.table:
        raise UsageError(f"--json and --format {fmt.value} are two outputs: give one")
    if out is not None and fmt != Format.gradescope:
        raise UsageError("--out is where --format gradescope writes: add --format gradescope or drop --out")
    if mutants:
        if files or part is not None or fmt != Format.table:
            raise UsageError("--mutants grades the built-in catalogue; drop FILE, --part and --format")
        from mnist_scratch.grader.mutants import run_catalogue

        res = run_catalogue(seconds=timeout)
        report.render_mutants(res, as_json=as_json)
        if not res.ok:
            raise typer.Exit(1)
        return
    if not files:
        raise UsageError("give the FILE to check (or --mutants); write one with `mnist-scratch exercise`")
    from mnist_scratch.grader.classbook import Points
    from mnist_scratch.grader.solutions import BY_NAME

    pts = _points(points, tuple(BY_NAME)) if points is not None else Points()
    one = len(files) == 1 and not files[0].is_dir()
    paths = _submissions(files)
    if one:  # today's single-file check: a file that cannot be read is a usage error (exit 2), not a row
        from mnist_scratch.grader.spawn import MEMORY_MB, OUTPUT_BYTES, spawn_loading

        # the child imports torch and loads the file while this process imports torch: the start-ups overlap
        child = spawn_loading(str(paths[0]), seconds=timeout, names=tuple(BY_NAME), memory_mb=MEMORY_MB,
                              cpu_seconds=int(file_timeout) + 1, output_bytes=OUTPUT_BYTES)
        from mnist_scratch.grader import check_file

        results = [check_file(paths[0], part=part, seconds=timeout, file_seconds=file_timeout, child=child)]
    else:
        results = _grade_all(paths, part, timeout, jobs or os.cpu_count() or 1, file_timeout)
    if fmt == Format.gradescope:
        report.write_gradescope(results, pts, out, one=one)
    elif fmt == Format.csv:
        report.render_gradebook(results)
    elif one:
        report.render(results[0], as_json=as_json)
    else:
        report.render_class(results, as_json=as_json)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _points(path: Path, known: tuple[str, ...]):
    """--points FILE read (bounded) and parsed."""
    from mnist_scratch.atomic import read_bounded
    from mnist_scratch.errors import UsageError
    from mnist_scratch.grader.classbook import parse_points

    try:
        data = read_bounded(path, 100_000)
    except OSError as e:
        raise UsageError(f"cannot read --points {path}: {e.strerror or e}") from None
    if data is None:
        raise UsageError(f"--points {path} is larger than 100 kB: not a points file")
    return parse_points(data.decode("utf-8", errors="replace"), str(path), known)


def _submissions(paths: list[Path]) -> list[Path]:
    """Each file given, and every .py/.ipynb under each folder (hidden and checkpoint folders skipped), sorted."""
    from mnist_scratch.errors import UsageError

    found = []
    for p in paths:
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.suffix in SUFFIXES and f.is_file() and not any(
                s.startswith(".") or s == "__pycache__" for s in f.relative_to(p).parts))
        elif p.is_symlink():  # (a link inside a folder is refused by the grader: a row of its own)
            raise UsageError(f"{p} is a symbolic link: check grades a file itself (copy it here)")
        elif p.is_file():
            found.append(p)
        else:
            raise UsageError(f"{p} is not a file or folder")
        if len(found) > MAX_FILES:
            raise UsageError(f"more than {MAX_FILES} files to grade: not a class folder")
    if not found:
        raise UsageError(f"no .py or .ipynb file in {', '.join(map(str, paths))}")
    return list(dict.fromkeys(found))


def _grade_all(paths: list[Path], part, seconds: float, jobs: int, file_seconds: float):
    """check_file on each path, up to jobs at once; a file the grader fails on is its own error row."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from mnist_scratch.errors import MnistScratchError
    from mnist_scratch.grader import check_file
    from mnist_scratch.grader.result import CheckResult

    def one(path: Path) -> CheckResult:
        try:
            return check_file(path, part=part, seconds=seconds, file_seconds=file_seconds)
        except MnistScratchError as e:  # unreadable, too large, not a notebook: this file's row says so
            return CheckResult([], str(path), error=str(e))
        except Exception as e:  # noqa: BLE001 - one file must never cost the others their grades
            return CheckResult([], str(path), error=f"the grader failed on this file: {type(e).__name__}: {e}")

    streams = sys.stdout, sys.stderr  # a learner's file graded in a thread redirects them for a while: restored
    try:
        with ThreadPoolExecutor(max_workers=min(jobs, len(paths))) as pool:
            return list(pool.map(one, paths))
    finally:
        sys.stdout, sys.stderr = streams
