"""`mnist-scratch exercise`: write the lesson as an exercise file (stubs), or with the reference answers."""

from pathlib import Path
from typing import Annotated

import typer

from mnist_scratch.commands.common import choices

# the lesson's parts, in its order (mnist_scratch.grader.solutions.PARTS, kept torch-free here for --help)
Part = choices("Part", ("matmul", "init", "forward", "backward", "classes", "ce"))
Format = choices("Format", ("py", "ipynb"))


def exercise(
    path: Annotated[Path | None, typer.Argument(help="File to write.", show_default="lesson.py or lesson.ipynb")
                    ] = None,
    format_: Annotated[Format | None, typer.Option("--format", help="py (`# %%` cells) or ipynb (a notebook).",
                                                   show_default="from PATH's suffix, else py")] = None,
    part: Annotated[Part | None, typer.Option(help="Write one part only.", show_default=False)] = None,
    solutions: Annotated[bool, typer.Option("--solutions", help="Fill in the reference answers (for teachers).")]
    = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite PATH if it exists.")] = False,
):
    """Write the lesson's pieces as blanks to fill in: every function and class in the lesson's order.

    Each blank has a one-line docstring, the shapes involved and `raise NotImplementedError`. Fill them in, then
    grade them with `mnist-scratch check PATH`.

    Example: mnist-scratch exercise lesson.py --part backward
    """
    from mnist_scratch.atomic import atomic_write
    from mnist_scratch.errors import MnistScratchError, UsageError
    from mnist_scratch.grader import PARTS, rules_of
    from mnist_scratch.grader.exercise import render
    from mnist_scratch.report import check as report

    part = part.value if part is not None else None
    fmt = format_.value if format_ is not None else None
    fmt = fmt or ("ipynb" if path is not None and path.suffix == ".ipynb" else "py")
    path = path or Path(f"lesson.{fmt}")
    if path.suffix != f".{fmt}":
        raise UsageError(f"{path} does not end in .{fmt}; name the file *.{fmt} or pass --format "
                         f"{'ipynb' if fmt == 'py' else 'py'}")
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; pass --force to overwrite it")
    if path.exists() and not path.is_file():
        raise UsageError(f"{path} exists and is not a file")
    text = render(fmt, (part,) if part else PARTS, solutions)
    try:
        atomic_write(path, lambda tmp: tmp.write_text(text))
    except OSError as e:
        raise MnistScratchError(f"cannot write {path}: {e.strerror or e}") from None
    report.exercise_written(path, len(rules_of(part)), part, solutions)
