"""Training statistics in the run folder, written as the run goes: JSON lines and safetensors histogram chunks.

- losses.jsonl: one line per stretch of batches between stats steps: step (0-based over the run, of the first),
  steps_per_epoch, loss and lr (lists, one value per batch): a JSON line per batch would cost a few % of a step;
- stats.jsonl: one line per stats step: the flat scalars of StepStats (layer activations, gradient norms, ...);
- hist-STEP.safetensors: up to CHUNK stats steps each: "step" (n,), "epoch" (n,), and per layer (n, BINS) counts,
  the histogram ranges in the metadata. Safetensors and JSON hold data only: loading them runs no code.
Lines are appended (open, write, close) every stats step and at each epoch's end, a chunk is written when full and
at each epoch's end: a killed run keeps all but its last few steps, and memory stays bounded by one chunk.
"""

import json
import math
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from mnist_scratch.atomic import append_text, atomic_write, open_regular
from mnist_scratch.errors import MnistScratchError
from mnist_scratch.training.fit import Callback

LOSSES = "losses.jsonl"
STATS = "stats.jsonl"
HIST = "hist-*.safetensors"  # the histogram chunks, beside the other files: hist-STEP.safetensors
CHUNK = 64  # stats steps per histogram file
MAX_LINE = 1 << 16  # a longer line is not one of ours: skipped when reading


class StatsRecorder(Callback):
    """Records per-batch losses and every stats step in the run folder."""

    def __init__(self, out: Path, every: int, nb: int, total: int, lr_at, start_step: int = 0):
        self.out, self.stats_every, self.nb, self.total, self.lr_at = out, every, nb, total, lr_at
        self.step, self.losses, self.hist = start_step, [], []
        try:
            out.mkdir(parents=True, exist_ok=True)
            trim(out, start_step)
        except OSError as e:
            raise MnistScratchError(f"cannot write the run folder {out}: {e.strerror or e}") from None

    def batch_end(self, i: int, loss: float) -> None:
        self.losses.append(loss)  # a float on a list: the per-batch cost of recording the loss

    def step_stats(self, s, probe) -> None:
        self.hist.append(s)
        self._flush_losses()
        self._write(STATS, json.dumps({**s.scalars(), "epoch": s.step / self.nb}) + "\n")
        if len(self.hist) >= CHUNK:
            self._flush_hist()

    def epoch_end(self, stats, state: dict) -> None:
        self._flush_losses()
        self._flush_hist()

    def _flush_losses(self) -> None:
        """The batches since the last flush as one line (their losses reach here before the stats step's own)."""
        if not self.losses:
            return
        first, n = self.step, len(self.losses)
        lrs = [self.lr_at(t / self.total) for t in range(first, first + n)]
        self._write(LOSSES, json.dumps({"step": first, "steps_per_epoch": self.nb,
                                        "loss": [_num(v) for v in self.losses], "lr": lrs}) + "\n")
        self.step, self.losses = first + n, []

    def _write(self, name: str, line: str) -> None:
        """Append line to the run folder's file `name` (opened and closed each time: no handle outlives a failure)."""
        try:
            append_text(self.out / name, line)  # never through a link, never to a FIFO or device
        except OSError as e:
            raise MnistScratchError(f"cannot write {self.out / name}: {e.strerror or e}") from None

    def _flush_hist(self) -> None:
        if not self.hist:
            return
        recs, self.hist = self.hist, []
        tensors = {"step": torch.tensor([s.step for s in recs]),
                   "epoch": torch.tensor([s.step / self.nb for s in recs], dtype=torch.float64)}
        for i, l in enumerate(recs[0].layers):
            tensors[l.name] = torch.stack([s.layers[i].hist for s in recs]).contiguous()
        meta = {l.name: json.dumps(l.hist_range) for l in recs[0].layers}
        path = self.out / f"hist-{recs[0].step:09d}.safetensors"
        tmp = path.with_name(f".{path.name}.tmp")
        try:  # complete or absent, as atomic_write does, but without its fsync (a few ms per chunk on a busy disk)
            save_file(tensors, str(tmp), metadata=meta)
            os.replace(tmp, path)
        except OSError as e:
            raise MnistScratchError(f"cannot write {path}: {e.strerror or e}") from None


def stats_callbacks(out: Path, cfg, n: int, start_epoch: int, tensorboard: "Path | None" = None) -> list[Callback]:
    """The recorders cfg and tensorboard ask for: statistics (stats_every > 0), TensorBoard; n: rows per epoch."""
    from mnist_scratch.training.fit import lr_at

    nb = math.ceil(n / cfg.bs)
    cbs: list[Callback] = []
    if tensorboard is not None:
        from mnist_scratch.training.tensorboard import TensorBoardCallback

        cbs.append(TensorBoardCallback(tensorboard, cfg, nb, start_epoch * nb))
    if cfg.stats_every:  # first in the list, made second: as before, a TensorBoard folder is refused first
        cbs.insert(0, StatsRecorder(out, cfg.stats_every, nb, cfg.epochs * nb, lambda t: lr_at(cfg, t),
                                    start_epoch * nb))
    return cbs


def _num(v: float) -> "float | None":
    return v if math.isfinite(v) else None


def read_lines(path: Path) -> list[dict]:
    """The JSON objects of a JSON-lines file; cut-short or foreign lines (a killed run's last append) skipped."""
    rows: list[dict] = []
    try:
        f = open_regular(path, follow=False)  # a FIFO or a link here is refused, never waited on or followed
    except FileNotFoundError:
        return rows
    with f:
        while line := f.readline(MAX_LINE + 1):  # each read bounded, however long a line claims to be
            if len(line) > MAX_LINE:
                while line and not line.endswith(b"\n"):  # skip the rest of an overlong line
                    line = f.readline(MAX_LINE + 1)
                continue
            try:
                row = json.loads(line.decode(errors="replace"))
            except (ValueError, RecursionError):  # RecursionError: a line nested absurdly deep
                continue
            if isinstance(row, dict) and type(row.get("step")) is int:
                rows.append(row)
    return rows


def read_losses(out: Path) -> list[dict]:
    """Every recorded batch: step, epoch (fractional), loss (None where it was not finite), lr; in step order."""
    rows = {}
    for r in read_lines(out / LOSSES):
        loss, lr, nb = r.get("loss"), r.get("lr"), r.get("steps_per_epoch")
        if not (isinstance(loss, list) and isinstance(lr, list) and len(loss) == len(lr) and type(nb) is int
                and nb > 0):
            continue
        for j, (v, a) in enumerate(zip(loss, lr, strict=True)):
            if isinstance(v, (int, float, type(None))) and isinstance(a, (int, float)):
                step = r["step"] + j
                rows[step] = {"step": step, "epoch": step / nb, "loss": v, "lr": a}
    return [rows[k] for k in sorted(rows)]


def read_hist(out: Path) -> dict:
    """The histogram chunks merged: {"step": (n,), "epoch": (n,), "ranges": {layer: (lo, hi)}, layer: (n, BINS)}."""
    parts: list[dict] = []
    ranges: dict = {}
    for path in sorted(out.glob(HIST)):
        if path.is_symlink() or not path.is_file():  # only our own chunks: no FIFO waited on, no link followed
            continue
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
            parts.append(load_file(str(path)))
            ranges.update({k: tuple(json.loads(v)) for k, v in meta.items()})
        except (SafetensorError, OSError, ValueError, RuntimeError):
            continue  # a chunk cut short by a kill: the others still draw
    if not parts:
        return {}
    keys = set.intersection(*(set(p) for p in parts))
    merged = {k: torch.cat([p[k] for p in parts]) for k in keys}
    order = merged["step"].argsort()
    return {"ranges": ranges, **{k: v[order] for k, v in merged.items()}}


def trim(out: Path, start_step: int) -> None:
    """Drop what a previous run recorded from step start_step on (a resumed run redoes those steps)."""
    for name in (LOSSES, STATS):
        path = out / name
        if path.exists():
            rows = [r for r in read_lines(path) if r["step"] < start_step]
            for r in rows:  # a losses line may run past start_step: cut its lists there
                for k in ("loss", "lr"):
                    if isinstance(r.get(k), list):
                        r[k] = r[k][: start_step - r["step"]]
            kept = "".join(json.dumps(r) + "\n" for r in rows)
            atomic_write(path, lambda p, kept=kept: p.write_text(kept))
    for path in sorted(out.glob(HIST)):
        if path.is_symlink() or not path.is_file():  # not a chunk we wrote: left alone
            continue
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
            t = load_file(str(path))
            keep = t["step"] < start_step
        except (SafetensorError, OSError, ValueError, RuntimeError, KeyError):
            path.unlink()
            continue
        if bool(keep.all()):
            continue
        if bool(keep.any()):
            kept = {k: v[keep].contiguous() for k, v in t.items()}
            atomic_write(path, lambda tmp, kept=kept, meta=meta: save_file(kept, str(tmp), metadata=meta or None))
        else:
            path.unlink()
