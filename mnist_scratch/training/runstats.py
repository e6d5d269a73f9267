"""A run folder's recorded statistics as one JSON-friendly dict: what `plot` draws and `plot --json` prints."""

import math
from pathlib import Path

from mnist_scratch.atomic import shown
from mnist_scratch.errors import UsageError
from mnist_scratch.training.runfiles import Notes, read_hist, read_losses, read_metrics, read_stats
from mnist_scratch.training.stats import layer_names

SMOOTH = 0.98  # the exponential moving average of the batch loss, debiased as Adam debiases its moments


def smooth(values: list, beta: float = SMOOTH) -> list:
    """Debiased exponential moving average; None (a non-finite loss) holds the previous value."""
    out, avg, n = [], 0.0, 0
    for v in values:
        if v is not None and math.isfinite(v):
            n += 1
            avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta**n) if n else None)
    return out


def run_stats(run: Path, notes: "Notes | None" = None) -> dict:
    """Per-epoch metrics, per-batch loss (raw, smoothed) and lr, and per layer its statistics over the steps.

    Damaged rows and histogram chunks are skipped, each file's in one line of notes."""
    run = Path(run)
    if not run.is_dir():
        raise UsageError(f"{shown(run)} is not a run folder (train writes one under runs/)")
    epochs = read_metrics(run, notes)
    batches = read_losses(run, notes)
    records = read_stats(run, notes)
    if not epochs and not batches:
        raise UsageError(f"{shown(run)} holds no recorded epochs or batches (metrics.jsonl, losses.jsonl)")
    hist = read_hist(run, notes)
    n_layers = max((int(k.split(".")[0][3:]) for r in records for k in r if k.startswith("lin") and
                    k.split(".")[0][3:].isdigit()), default=0)
    layers = []
    for name in layer_names(n_layers):
        rows = [r for r in records if f"{name}.mean" in r]
        layer = {"name": name, "step": [r["step"] for r in rows], "epoch": [r.get("epoch") for r in rows]}
        for k in ("mean", "std", "zero_frac", "dead_frac"):
            layer[k] = [r.get(f"{name}.{k}") for r in rows]
        for p in ("w", "b"):
            layer[f"{p}_grad_norm"] = [r.get(f"{name}.{p}.grad_norm") for r in rows]
            layer[f"{p}_update_ratio"] = [r.get(f"{name}.{p}.update_ratio") for r in rows]
        layer["relu"] = any(v is not None for v in layer["zero_frac"])
        if name in hist:
            layer["hist"] = {"epoch": hist["epoch"].tolist(), "range": list(hist["ranges"].get(name, (0, 0))),
                             "counts": hist[name].tolist()}
        layers.append(layer)
    return {"run": str(run), "epochs": epochs,
            "batches": {"step": [b["step"] for b in batches], "epoch": [b["epoch"] for b in batches],
                        "loss": [b["loss"] for b in batches], "smoothed": smooth([b["loss"] for b in batches]),
                        "lr": [b["lr"] for b in batches]},
            "layers": layers}
