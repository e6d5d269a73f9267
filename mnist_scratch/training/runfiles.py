"""Readers of the files a run folder holds, one per file, each with its schema: metrics.jsonl, losses.jsonl,
stats.jsonl and the hist-*.safetensors chunks.

Every file is opened only if it is a regular file (no FIFO waited on, no link followed) and read only if its size is
within its cap; a histogram chunk's declared sizes are checked against the file before anything is allocated. A row
that breaks the schema (a missing or mistyped field, an absurd layer name or step) is skipped and counted in one note
per file; a file that cannot be one of ours is refused with one line naming it (RunFileError). Pure: no printing.
"""

import json
import math
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load as st_load

from mnist_scratch.atomic import open_regular, read_bounded, shown
from mnist_scratch.errors import MnistScratchError, PathError
from mnist_scratch.limits import MAX_LAYERS

METRICS, LOSSES, STATS = "metrics.jsonl", "losses.jsonl", "stats.jsonl"
HIST = "hist-*.safetensors"
BINS = 40  # histogram bins per layer (training.stats.BINS)
CHUNK = 64  # stats steps per histogram chunk (training.statslog.CHUNK)
CAPS = {METRICS: 64 << 20, LOSSES: 256 << 20, STATS: 256 << 20}  # far above what a run of 10^6 steps writes
MAX_LINE = 8 << 20  # a losses line holds at most one epoch's batches (50,000 at --bs 1)
HIST_CAP = 4 << 20  # one chunk: 64 steps x 65 layers x 40 bins x 8 bytes is 1.3 MB
HIST_TOTAL = 256 << 20  # all chunks together, as plot holds them
MAX_STEP = 1 << 40  # steps of a run: epochs x batches, both bounded far below this
MAX_EPOCH = 1 << 30
LAYER_KEY = re.compile(r"lin([1-9][0-9]?)\.(mean|std|zero_frac|dead_frac|[wb]\.(?:grad_norm|norm|update_ratio))")
LAYER = re.compile(r"lin([1-9][0-9]?)")


class RunFileError(MnistScratchError):
    """A run-folder file that cannot be one of ours (too large, not a regular file): refused in one line."""


@dataclass
class Notes:
    """The rows each file's reader skipped: one line per file, for the command to print."""

    lines: list[str] = field(default_factory=list)

    def skipped(self, path: Path, n: int, first: str) -> None:
        if n:
            self.lines.append(f"{shown(path)}: {n:,} damaged row{'s' if n > 1 else ''} skipped ({first})")


def _number(v, lo: float = -math.inf, hi: float = math.inf, *, none: bool = False) -> bool:
    """v is an int or float (not bool) within [lo, hi] (NaN never is), or None when none."""
    if v is None:
        return none
    return isinstance(v, int | float) and not isinstance(v, bool) and lo <= v <= hi


def _whole(v, lo: int, hi: int) -> bool:
    return type(v) is int and lo <= v <= hi


def lines(path: Path, bad: list) -> "list[tuple[int, dict]]":
    """(line number, object) of a run's JSON-lines file, [] when absent; RunFileError when it is over its cap or
    not a regular file. A line overlong, not JSON or not an object goes to bad as (line number, why); a last line
    cut short (a killed run's append) is dropped quietly."""
    cap = CAPS[path.name]
    try:
        f = open_regular(path, follow=False)
    except FileNotFoundError:
        return []
    except PathError as e:
        raise RunFileError(f"{e}; refused") from None
    rows = []
    with f:
        size = os.fstat(f.fileno()).st_size
        if size > cap:  # a sparse 64 GB file is refused here, not read for minutes
            raise RunFileError(f"{shown(path)} holds {size:,} bytes, more than the {cap:,} a run writes; refused")
        got, n = 0, 0
        while got <= cap and (line := f.readline(MAX_LINE + 1)):  # got: a file growing while read stops too
            got, n = got + len(line), n + 1
            if len(line) > MAX_LINE:
                while line and not line.endswith(b"\n"):  # the rest of the overlong line
                    line = f.readline(MAX_LINE + 1)
                    got += len(line)
                bad.append((n, f"longer than {MAX_LINE:,} bytes"))
                continue
            try:
                row = json.loads(line.decode("utf-8"))
            except (ValueError, RecursionError):  # non-UTF-8 bytes too; RecursionError: nested absurdly deep
                if line.endswith(b"\n"):  # an unfinished last line is a killed run's append, not damage
                    bad.append((n, "not JSON"))
                continue
            if isinstance(row, dict):
                rows.append((n, row))
            else:
                bad.append((n, "not a JSON object"))
    return rows


def _checked(path: Path, check, notes: "Notes | None") -> list[dict]:
    """The rows of path that check(row) finds nothing wrong with ('' ok, else why); the others in one note."""
    bad: list = []
    out = []
    for n, row in lines(path, bad):
        why = check(row)
        if why:
            bad.append((n, why))
        else:
            out.append(row)
    if notes is not None and bad:
        n, why = min(bad)
        notes.skipped(path, len(bad), f"line {n}: {why}")
    return out


def _metrics_row(r: dict) -> str:
    if not _whole(r.get("epoch"), 1, MAX_EPOCH):
        return "epoch is not a whole number >= 1"
    if not _number(r.get("valid_acc"), 0, 1):
        return "valid_acc is not a fraction"
    for k in ("train_loss", "valid_loss", "seconds", "lr"):
        if not (k in r and (r[k] is None or _number(r[k]) or (isinstance(r[k], float) and math.isnan(r[k])))):
            return f"{k} is missing or not a number"
    return ""


def read_metrics(out: Path, notes: "Notes | None" = None) -> list[dict]:
    """metrics.jsonl: one row per finished epoch (epoch, train_loss, valid_loss, valid_acc, seconds, lr), epochs
    increasing; a row repeating or going back to an earlier epoch is skipped."""
    path = Path(out) / METRICS
    rows, last = [], 0
    for r in _checked(path, _metrics_row, notes):
        if r["epoch"] > last:
            rows.append(r)
            last = r["epoch"]
    return rows


def _losses_row(r: dict) -> str:
    loss, lr, nb = r.get("loss"), r.get("lr"), r.get("steps_per_epoch")
    if not _whole(r.get("step"), 0, MAX_STEP) or not _whole(nb, 1, MAX_STEP):
        return "step or steps_per_epoch out of range"
    if not (isinstance(loss, list) and isinstance(lr, list) and len(loss) == len(lr)):
        return "loss and lr are not lists of one length"
    if not all(_number(v, none=True) for v in loss) or not all(_number(a, 0) for a in lr):
        return "loss or lr holds something other than numbers"
    return ""


def read_losses_rows(out: Path, notes: "Notes | None" = None) -> list[dict]:
    """losses.jsonl's valid lines as written: step, steps_per_epoch, loss and lr lists."""
    path = Path(out) / LOSSES
    return _checked(path, _losses_row, notes)


def read_losses(out: Path, notes: "Notes | None" = None) -> list[dict]:
    """losses.jsonl as one row per batch: step, epoch (fractional), loss (None where not finite), lr; step order."""
    rows = {}
    for r in read_losses_rows(out, notes):
        for j, (v, a) in enumerate(zip(r["loss"], r["lr"], strict=True)):
            step = r["step"] + j
            rows[step] = {"step": step, "epoch": step / r["steps_per_epoch"], "loss": v, "lr": a}
    return [rows[k] for k in sorted(rows)]


def _stats_row(r: dict) -> str:
    if not _whole(r.get("step"), 0, MAX_STEP):
        return "step out of range"
    for k, v in r.items():
        if k in ("step", "lr", "loss", "epoch"):
            ok = _number(v, none=k == "loss")
        else:
            m = LAYER_KEY.fullmatch(k)
            ok = bool(m) and int(m[1]) <= MAX_LAYERS + 1 and _number(v, none=True)
        if not ok:
            return f"field {shown(k)[:40]!r} is not a layer statistic"
    return ""


def read_stats(out: Path, notes: "Notes | None" = None) -> list[dict]:
    """stats.jsonl: one flat row per stats step (step, lr, loss, epoch, linN.* figures)."""
    path = Path(out) / STATS
    return _checked(path, _stats_row, notes)


def _hist_header(data: bytes) -> "tuple[dict, str]":
    """The chunk's header if its declared tensors fit the schema and the file, else ({}, why)."""
    if len(data) < 8:
        return {}, "shorter than a header"
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        return {}, "header larger than the file"
    try:
        header = json.loads(data[8 : 8 + n])
    except (ValueError, RecursionError):
        return {}, "header is not JSON"
    if not isinstance(header, dict):
        return {}, "header is not a table"
    body, steps = len(data) - 8 - n, None
    for k, v in header.items():
        if k == "__metadata__":
            continue
        shape, offs = (v.get("shape"), v.get("data_offsets")) if isinstance(v, dict) else (None, None)
        want = {"step": ("I64", 1, 8), "epoch": ("F64", 1, 8)}.get(k, ("F32", 2, 4))  # dtype, dims, bytes each
        if k not in ("step", "epoch") and not (LAYER.fullmatch(k) and int(k[3:]) <= MAX_LAYERS + 1):
            return {}, f"tensor {shown(k)[:40]!r} is not a layer"
        if not (isinstance(shape, list) and len(shape) == want[1] and all(_whole(d, 0, CHUNK * BINS) for d in shape)
                and v.get("dtype") == want[0] and isinstance(offs, list) and len(offs) == 2
                and all(_whole(o, 0, body) for o in offs) and offs[1] - offs[0] == want[2] * math.prod(shape)):
            return {}, f"{shown(k)[:40]} declares a shape or size the file does not hold"
        if steps is None:
            steps = shape[0]
        if shape[0] != steps or shape[0] > CHUNK or (want[1] == 2 and shape[1] != BINS):
            return {}, f"{shown(k)[:40]} has shape {shape}, not ({steps}{', 40' if want[1] == 2 else ''})"
    if "step" not in header or "epoch" not in header:
        return {}, "no step or epoch tensor"
    return header, ""


def _ranges(meta) -> "dict | None":
    """The per-layer histogram ranges of a chunk's metadata: {layer: (lo, hi)}, None when malformed."""
    out = {}
    for k, v in (meta or {}).items():
        try:
            lo, hi = json.loads(v)
        except (ValueError, TypeError, RecursionError):
            return None
        if not (LAYER.fullmatch(k) and _number(lo, -1e38, 1e38) and _number(hi, -1e38, 1e38) and lo <= hi):
            return None
        out[k] = (float(lo), float(hi))
    return out


def read_chunk(path: Path) -> "tuple[dict[str, torch.Tensor] | None, dict, str]":
    """One histogram chunk: (tensors, ranges, '') or (None, {}, why it cannot be used)."""
    try:
        data = read_bounded(path, HIST_CAP, follow=False)
    except (OSError, PathError) as e:
        return None, {}, str(getattr(e, "strerror", None) or e)
    if data is None:
        return None, {}, f"larger than {HIST_CAP:,} bytes"
    header, why = _hist_header(data)
    ranges = _ranges(header.get("__metadata__")) if header else None
    if not header or ranges is None:
        return None, {}, why or "malformed histogram ranges"
    try:
        t = st_load(data)
    except Exception as e:  # noqa: BLE001 - safetensors raises its own types; the header was checked already
        return None, {}, type(e).__name__
    steps = t["step"]
    if bool((steps < 0).any() or (steps > MAX_STEP).any()) or not bool(torch.isfinite(t["epoch"]).all()):
        return None, {}, "steps out of range"
    return t, ranges, ""


def chunks(out: Path) -> list[Path]:
    """The histogram chunk files of a run folder (regular files only: links and FIFOs are not ours)."""
    return [p for p in sorted(Path(out).glob(HIST)) if not p.is_symlink() and p.is_file()]


def read_hist(out: Path, notes: "Notes | None" = None) -> dict:
    """The histogram chunks merged: {"step": (n,), "epoch": (n,), "ranges": {layer: (lo, hi)}, layer: (n, BINS)};
    damaged chunks skipped (one note), reading stops at HIST_TOTAL bytes."""
    parts, ranges, bad, first, total = [], {}, 0, "", 0
    for path in chunks(out):
        t, r, why = read_chunk(path)
        if t is None:
            bad, first = bad + 1, first or f"{path.name}: {why}"
            continue
        total += sum(v.numel() * v.element_size() for v in t.values())
        if total > HIST_TOTAL:
            bad, first = bad + 1, first or f"{path.name}: past {HIST_TOTAL:,} bytes of histograms"
            break
        parts.append(t)
        ranges.update(r)
    if notes is not None and bad:
        notes.lines.append(f"{shown(Path(out))}: {bad:,} histogram chunk{'s' if bad > 1 else ''} skipped ({first})")
    if not parts:
        return {}
    keys = set.intersection(*(set(p) for p in parts))
    merged = {k: torch.cat([p[k] for p in parts]) for k in keys}
    order = merged["step"].argsort()
    return {"ranges": ranges, **{k: v[order] for k, v in merged.items()}}
