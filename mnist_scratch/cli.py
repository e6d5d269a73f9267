"""The Typer app: one thin command each; errors become exit codes here and nowhere else."""

import inspect
import os
import re
import signal
import sys
from typing import Annotated

import typer
import typer.core
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from typer import rich_utils

from mnist_scratch import __version__, streams
from mnist_scratch.atomic import shown
from mnist_scratch.commands import (
    bench,
    check,
    download,
    evaluate,
    exercise,
    export,
    gradcheck,
    init,
    lr_find,
    matmul,
    plot,
    predict,
    serve,
    show,
    train,
)
from mnist_scratch.errors import MnistScratchError
from mnist_scratch.interrupts import EXIT_CODES, exit_code, raise_on_sigterm


def _bare_flags(params: list) -> list:
    """Flags take no value: show no `<bool>` type beside them in --help."""
    for p in params:
        if getattr(p, "is_flag", False) and p.metavar is None:
            p.metavar = ""
    return params


NARROW = 100  # below this many columns --help lists each option above its help, which then has the whole width


def _stacked_panel(*, name: str, params: list, ctx, markup_mode, console) -> None:
    """One panel of --help with each option on a line and its help indented under it."""
    if not params:
        return
    grid = Table.grid(expand=True)
    for p in params:
        names = p.display_name_raw if isinstance(p, typer.core.TyperArgument) else ", ".join([*p.opts,
                                                                                            *p.secondary_opts])
        grid.add_row(Text.assemble((names, "bold cyan"), " ", (p.display_type_rich(ctx=ctx) or "", "bold yellow")))
        grid.add_row(Padding(rich_utils._get_parameter_help(param=p, ctx=ctx, markup_mode=markup_mode), (0, 0, 0, 4)))
    console.print(Panel(grid, border_style="dim", title=name, title_align="left"))


class Command(typer.core.TyperCommand):
    """Every command: flags shown bare in --help, paragraphs reflowed to the terminal, options stacked when narrow."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        if self.help:  # a docstring's line breaks are the source's, not the terminal's
            self.help = re.sub(r"(?<!\n)\n(?!\n)", " ", inspect.cleandoc(self.help))

    def get_params(self, ctx):
        return _bare_flags(super().get_params(ctx))

    def format_help(self, ctx, formatter):
        if rich_utils._get_rich_console().width >= NARROW:
            return super().format_help(ctx, formatter)
        table_panel, rich_utils._print_options_panel = rich_utils._print_options_panel, _stacked_panel
        try:
            return super().format_help(ctx, formatter)
        finally:
            rich_utils._print_options_panel = table_panel


class GuardedGroup(typer.core.TyperGroup):
    """A command group that turns the project's errors and Ctrl-C into one stderr line and an exit code."""

    command_class = Command

    def get_params(self, ctx):
        return _bare_flags(super().get_params(ctx))

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except MnistScratchError as e:
            _fail(ctx, f"error: {e}", e.exit_code)
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (interrupts.Terminated)
            code = exit_code(e)
            _fail(ctx, "terminated" if code == EXIT_CODES[signal.SIGTERM] else "interrupted", code)
        except BrokenPipeError:  # stdout closed early (`| head -1`): main() exits quietly
            raise
        except (typer.Exit, typer.Abort):  # typer's own exits
            raise
        except typer.TyperException as e:  # a usage error (bad option value, missing argument): one line as well
            if getattr(e, "exit_code", None) != 2 or not hasattr(e, "format_message"):
                raise
            sub = f"{ctx.command_path} {ctx.invoked_subcommand}" if ctx.invoked_subcommand else ctx.command_path
            where = e.ctx.command_path if getattr(e, "ctx", None) else sub
            _fail(ctx, f"error: {e.format_message()} (see `{where} --help`)", 2)
        except Exception as e:  # noqa: BLE001 - last resort: one line, never a traceback with locals
            if os.environ.get("MNIST_SCRATCH_DEBUG"):
                raise
            if isinstance(e, OSError) and e.filename is not None:  # the system refused a path: not a bug of ours
                _fail(ctx, f"error: cannot use {shown(e.filename)}: {e.strerror or e}", 1)
            _fail(ctx, f"unexpected error: {type(e).__name__}: {e} (set MNIST_SCRATCH_DEBUG=1 for a traceback)", 1)


def _fail(ctx: typer.Context, message: str, code: int):
    """Print one line on stderr and exit with code."""
    typer.echo(message.splitlines()[0] if message else "error", err=True)
    ctx.exit(code)


app = typer.Typer(
    cls=GuardedGroup,
    help="MNIST from scratch: verified data, a hand-written backward pass, gradient checks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool):
    if value:
        typer.echo(f"mnist-scratch {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
):
    """MNIST from scratch: verified data, a hand-written backward pass, gradient checks.

    Start with `mnist-scratch download`, then `mnist-scratch train`.
    """


for name, fn in (("download", download.download), ("gradcheck", gradcheck.gradcheck), ("train", train.train),
                 ("evaluate", evaluate.evaluate), ("matmul", matmul.matmul), ("init", init.init),
                 ("show", show.show), ("bench", bench.bench), ("plot", plot.plot),
                 ("exercise", exercise.exercise), ("check", check.check), ("lr-find", lr_find.lr_find),
                 ("predict", predict.predict), ("serve", serve.serve), ("export", export.export)):
    app.command(name, cls=Command)(fn)


def main():
    """Console-script entry point: guarded standard streams, SIGTERM handled like Ctrl-C, stdout checked at the end."""
    out = streams.guard()
    raise_on_sigterm()
    try:
        try:
            app()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
        except KeyboardInterrupt as e:  # a signal outside a command (while parsing options)
            code = exit_code(e)
        sys.stdout.flush()
    except BrokenPipeError:
        out.gone = True
    if out.gone:  # stdout closed early (`mnist-scratch ... | head -1`): not an error of ours; 128 + SIGPIPE
        sys.exit(141)
    if out.error is not None and code == 0:  # the work is done; say once that its output was lost
        sys.stderr.write(f"error: cannot write standard output ({out.error.strerror or out.error}); "
                         "the command's work is done but its report was lost\n")
        code = 1
    sys.exit(code)
