"""Rendering for `download`: progress bars on stderr, the dataset report (tables or JSON), custom-data warning."""

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from mnist_scratch.report.console import esc, print_json, stderr, stdout


@contextmanager
def progress_bars(enabled: bool) -> Iterator:
    """A callback (name, done, total) drawing one rich bar per file on stderr; None when not enabled."""
    if not enabled:
        yield None
        return
    bars = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=stderr())
    tasks: dict[str, int] = {}

    def update(name: str, done: int, total: int | None) -> None:
        if name not in tasks:
            tasks[name] = bars.add_task(name, total=total)
        bars.update(tasks[name], completed=done, total=total)

    with bars:
        yield update


def warn_custom(report) -> None:
    """A plain warning line on stderr when the data is not official MNIST."""
    if not report.verified:
        stderr().print(f"warning: custom dataset, not official MNIST (digests differ; verified: false); "
                       f"cached apart under {report.data_dir}", markup=False, soft_wrap=True)


def render(report, *, as_json: bool = False) -> None:
    """Source, files with digests, split sizes and the statistics before and after normalizing; or one JSON object
    (source, origin, verified, cached, data_dir, files, split, stats, attempts)."""
    if as_json:
        return print_json(report.to_json())
    c = stdout()
    kind = "[green]verified MNIST[/]" if report.verified else "[bold yellow]custom dataset (verified: false)[/]"
    how = f"from the cache in {esc(report.data_dir)}" if report.cached else f"cached in {esc(report.data_dir)}"
    c.print(f"source: [bold]{esc(report.source)}[/] {esc(report.origin)} — {kind}, {how}", soft_wrap=True)
    for a in report.attempts:
        c.print(f"  [dim]tried {esc(a.source)} {esc(a.target)}: {esc(a.reason)}[/]", soft_wrap=True)
    files = Table(title="files", title_justify="left", header_style="bold")
    for col in ("name", "digest", "verified"):
        files.add_column(col)
    for f in report.files:
        files.add_row(esc(f.name), esc(f.digest), "[green]yes[/]" if f.verified else "[yellow]no[/]")
    c.print(files)
    s, st = report.split, report.stats
    c.print(f"split: train {s['train']:,} · valid {s['valid']:,} · test {s['test']:,}", soft_wrap=True)
    stats = Table(title="pixel statistics (pixel = byte / 256)", title_justify="left", header_style="bold")
    for col in ("", "mean", "std"):
        stats.add_column(col, justify="right" if col else "left")
    stats.add_row("train, raw", _num(st["mean"]), _num(st["std"]))
    stats.add_row("train, normalized", _num(st["train_mean"]), _num(st["train_std"]))
    stats.add_row("valid, normalized with train stats", _num(st["valid_mean"]), _num(st["valid_std"]))
    c.print(stats)


def _num(v: float) -> str:
    """Five decimals, without a minus sign on a rounded zero."""
    text = f"{v:.5f}"
    return text[1:] if text == "-0.00000" else text

