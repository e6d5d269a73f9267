"""Rendering for `train`: live progress (fastprogress), epoch rows, summaries, JSON."""

import sys
from pathlib import Path

from rich.table import Table

from mnist_scratch.interrupts import NAMES
from mnist_scratch.report.console import esc, print_json, stdout
from mnist_scratch.training.fit import Callback, EpochStats

COLS = (("epoch", 5), ("train loss", 10), ("valid loss", 10), ("valid acc", 9), ("seconds", 7))


def _table(header: bool) -> Table:
    t = Table(show_header=header, show_edge=False, box=None, pad_edge=False, header_style="bold")
    for name, width in COLS:
        t.add_column(name, justify="right", width=width, min_width=width)
    return t


def _row(t: Table, s: EpochStats) -> None:
    acc = f"{100 * s.valid_acc:.2f} %"
    t.add_row(str(s.epoch), f"{s.train_loss:.4f}", f"{s.valid_loss:.4f}", acc, f"{s.seconds:.2f}")


class TableCallback(Callback):
    """Prints one table row after each epoch, header first; optionally fastprogress bars with the running loss."""

    def __init__(self, progress: bool, stats: bool = False):
        self.console, self.progress = stdout(), progress and sys.stdout.isatty()
        self.header_done, self.mb, self.pb, self.avg = False, None, None, None
        self.stats, self.layer_line = stats, ""  # with stats, the last stats step's per-layer line

    def header(self) -> None:
        if not self.header_done:
            self.console.print(_table(True))
            self.header_done = True

    def epochs(self, it):
        self.header()
        if not self.progress:
            return it
        from fastprogress.fastprogress import master_bar

        self.mb = master_bar(it)
        return self.mb

    def batches(self, it):
        if not self.progress:
            return it
        from fastprogress.fastprogress import progress_bar

        self.avg, self.pb = None, progress_bar(it, parent=self.mb, leave=False)
        return self.pb

    def batch_end(self, i: int, loss: float) -> None:
        if self.pb is not None:
            self.avg = loss if self.avg is None else 0.98 * self.avg + 0.02 * loss
            if i % 20 == 0:  # the comment line is rewritten in place: no new lines, however often
                self.pb.comment = f"loss {self.avg:.4f}{self.layer_line}"

    def step_stats(self, stats, probe) -> None:
        if self.stats and self.pb is not None:
            self.layer_line = layer_line(stats)

    def epoch_end(self, stats: EpochStats, state: dict) -> None:
        if self.progress:
            sys.stdout.write("\r\033[K")
        t = _table(False)
        _row(t, stats)
        self.console.print(t)


def layer_line(stats) -> str:
    """The compact per-layer figures for the progress line: activation std, dead units, update ratio of w."""
    ratios = {p.name: p.update_ratio for p in stats.params}
    parts = []
    for l in stats.layers:
        dead = "" if l.dead_frac is None else f" dead {100 * l.dead_frac:.0f}%"
        parts.append(f"{l.name} std {l.std:.2f}{dead} upd {ratios.get(l.name + '.w', float('nan')):+.1f}")
    return " | " + " | ".join(parts)


def render(run, *, as_json: bool = False, gate=None) -> None:
    """A finished (or stopped) run: the summary lines, or the run as one JSON object; gate: --target-acc's verdict."""
    if as_json:
        train_json(run.cfg.to_dict(), run.epochs, run.checkpoint, run.interrupted, gate)
    else:
        summary(run.epochs, run.out, run.seconds, run.interrupted, run.device, NAMES.get(run.signal))
        if gate is not None:
            verdict = "[green]met[/]" if gate.met else "[red]missed[/] (exit 3)"
            best = "no finished epoch" if gate.best is None else f"best {100 * gate.best:.2f} %"
            stdout().print(f"target {100 * gate.target:.2f} % valid accuracy: {verdict}, {best}", soft_wrap=True)


def render_configs() -> None:
    """The configs shipped with the package, one line each."""
    from mnist_scratch.config import shipped

    c = stdout()
    for name, what in shipped().items():
        c.print(f"[bold]{name:<10}[/] {esc(what)}", soft_wrap=True)
    c.print("use one with: mnist-scratch train --config NAME", soft_wrap=True)


def summary(epochs: list[EpochStats], out: Path, seconds: float, interrupted: bool, device: str,
            word: "str | None" = None) -> None:
    """Best valid accuracy, total time, where results are; word: how it was stopped ('interrupted', 'terminated')."""
    c = stdout()
    if epochs:
        best = max(epochs, key=lambda s: s.valid_acc)
        c.print(f"best valid accuracy [bold]{100 * best.valid_acc:.2f} %[/] (epoch {best.epoch}); "
                f"training {sum(s.seconds for s in epochs):.2f} s on {device}, {seconds:.2f} s in all", soft_wrap=True)
    if interrupted:
        c.print(f"[yellow]{word or 'interrupted'}:[/] stopped after the current batch; the checkpoint holds the last "
                "full epoch", soft_wrap=True)
    c.print(f"results in {esc(out)} (config.json, metrics.jsonl, model.safetensors)", soft_wrap=True)


def train_json(cfg: dict, epochs: list[EpochStats], ckpt: "Path | None", interrupted: bool, gate=None) -> None:
    """The run as one JSON object on stdout; target_acc and target_met are null without --target-acc."""
    print_json({
        "config": cfg,
        "epochs": [{"epoch": s.epoch, "train_loss": s.train_loss, "valid_loss": s.valid_loss,
                    "valid_acc": s.valid_acc, "seconds": s.seconds} for s in epochs],
        "best_valid_acc": max((s.valid_acc for s in epochs), default=None),
        "checkpoint": None if ckpt is None else str(ckpt),
        "interrupted": interrupted,
        "target_acc": None if gate is None else gate.target,
        "target_met": None if gate is None else gate.met,
    })
