"""Statistics while training: what an engine hands over on a stats step (Probe) and the figures made of it.

Pure: no I/O. Engines fill a Probe from tensors they already hold after a step (activations of that batch, the
plain loss gradients, the updated parameters); `Tracker.summarize` turns it into floats and histograms with the
same code for every engine, so every engine reports the same names.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

BINS = 40  # histogram bins per layer
RELU_RANGE = (0.0, 10.0)  # histogram range of a ReLU layer's output; the last bin also counts everything above
OUT_RANGE = (-20.0, 20.0)  # of the last layer's raw output (logits); the end bins count everything beyond
DEAD_WINDOW_STEPS = 500  # a unit is dead when it was zero for every image of the stats batches of the last this many
# steps (t-499 .. t; with --stats-every above it, that is the current stats batch alone)


@dataclass
class Probe:
    """One step's tensors, valid until the engine's next step: views, never copies."""

    acts: list[Tensor]  # each Lin layer's output after its ReLU (the last layer: raw), any (bs, n_out) layout
    grads: dict[str, Tensor]  # d loss / d parameter (no weight decay, no momentum), lin1.w, lin1.b, ...
    params: dict[str, Tensor]  # the parameters after the update, same names
    moved: dict[str, Tensor] = field(default_factory=dict)  # the step taken: after - before, in the lesson's layout


@dataclass
class LayerStats:
    """One layer's activations on the stats batch; zero_frac and dead_frac are None for the (ReLU-less) last."""

    name: str
    mean: float
    std: float
    zero_frac: "float | None"  # share of ReLU outputs that are 0 on this batch
    dead_frac: "float | None"  # share of units zero for every image of the last window's stats batches
    hist: Tensor  # (BINS,) counts over hist_range
    hist_range: tuple[float, float]


@dataclass
class ParamStats:
    """One parameter: its gradient's norm, its norm and log10(|Δw| / |w|) of the step actually taken (momentum and
    weight decay included; w after the step), the update-to-data ratio."""

    name: str
    grad_norm: float
    norm: float
    update_ratio: float  # log10; -inf when the step left w as it was, +inf when w was 0, nan when not recorded


@dataclass
class StepStats:
    """Everything recorded on one stats step."""

    step: int  # 0-based over the whole run
    lr: float
    loss: float
    layers: list[LayerStats]
    params: list[ParamStats]

    def scalars(self) -> dict:
        """The flat JSON-friendly record (no histograms): step, lr, loss, then per layer and per parameter."""
        d: dict = {"step": self.step, "lr": self.lr, "loss": _num(self.loss)}
        for l in self.layers:
            for k in ("mean", "std", "zero_frac", "dead_frac"):
                if getattr(l, k) is not None:
                    d[f"{l.name}.{k}"] = _num(getattr(l, k))
        for p in self.params:
            for k in ("grad_norm", "norm", "update_ratio"):
                d[f"{p.name}.{k}"] = _num(getattr(p, k))
        return d


def _num(v: float) -> "float | None":
    """JSON has no inf/nan: those become null."""
    return v if math.isfinite(v) else None


def layer_names(n: int) -> list[str]:
    """lin1 .. linN, the names nn.py gives the linear layers."""
    return [f"lin{i}" for i in range(1, n + 1)]


class Tracker:
    """Summarizes probes; remembers when each unit last fired (bounded: one int per unit) for dead units."""

    def __init__(self, every: int, window_steps: int = DEAD_WINDOW_STEPS):
        self.window = window_steps  # steps: a unit silent on every stats batch of the last `window` steps is dead
        self.last_on = []  # per hidden layer, the step each unit last fired on a stats batch

    def summarize(self, step: int, lr: float, loss: "Tensor | float", probe: Probe) -> StepStats:
        """The figures of one probe: activations via numpy (µs an op on arrays this small), norms in one torch call."""
        acts, last = [a.detach().cpu().numpy() for a in probe.acts], len(probe.acts) - 1  # views on the CPU
        if len(self.last_on) != last:  # never fired: older than any window
            self.last_on = [np.full(a.shape[1], -(1 << 62), dtype=np.int64) for a in acts[:last]]
        names = list(probe.grads)
        moved = [k for k in names if k in probe.moved]
        norms = torch.stack(torch._foreach_norm([probe.grads[k].detach() for k in names] +  # one call, one sync
                                                [probe.params[k].detach() for k in names] +
                                                [probe.moved[k] for k in moved])).tolist()
        layers = []
        for i, (name, a) in enumerate(zip(layer_names(len(acts)), acts, strict=True)):
            lo, hi = OUT_RANGE if i == last else RELU_RANGE
            zero = dead = None
            if i < last:
                self.last_on[i][a.any(0)] = step  # units that fired on some image of the batch
                zero = 1 - np.count_nonzero(a) / a.size
                dead = np.count_nonzero(step - self.last_on[i] >= self.window) / a.shape[1]  # silent all window
            flat = np.ravel(a, order="K").astype(np.float64)  # memory order: no gather from a transposed view
            with np.errstate(all="ignore"):  # inf - inf on a diverging step is nan, not a warning on stderr
                mean = flat.sum() / flat.size
                var = (flat @ flat - flat.size * mean * mean) / max(1, flat.size - 1)
            std = math.sqrt(max(0.0, var)) if math.isfinite(var) else math.nan  # nan/inf: a diverging step
            vals = a if math.isfinite(mean) else a[np.isfinite(a)]  # then histogram the finite values only
            bins = ((np.clip(vals, lo, hi) - lo) * (BINS / (hi - lo))).astype(np.int64).ravel()
            hist = np.bincount(np.minimum(bins, BINS - 1), minlength=BINS)  # torch.histc's bins, ends included
            layers.append(LayerStats(name, float(mean), std, zero, dead, torch.from_numpy(hist.astype(np.float32)),
                                     (lo, hi)))
        n = len(names)
        steps = {k: norms[2 * n + j] for j, k in enumerate(moved)}
        params = [ParamStats(k, norms[j], norms[n + j], update_ratio(steps.get(k, math.nan), norms[n + j]))
                  for j, k in enumerate(names)]
        return StepStats(step, lr, float(loss), layers, params)


def probe_step(engine, xb: Tensor, yb: Tensor, lr: float) -> "tuple[Tensor, Probe]":
    """engine.step_stats, with the step it took recorded in probe.moved (the weights after minus before, in the
    lesson's layout), whatever momentum and weight decay made of the gradient."""
    before = {k: v.detach().clone() for k, v in engine.state().items() if not k.startswith("momentum.")}
    loss, probe = engine.step_stats(xb, yb, lr)
    after = engine.state()  # copies or views: read before the next step
    probe.moved = {k: after[k].detach() - v for k, v in before.items()}
    return loss, probe


def update_ratio(moved: float, norm: float) -> float:
    """log10(|Δw| / |w|) of a step: about -3 is the healthy rate of change (a thousandth of the weight per step).

    Never raises: a diverged step (a norm inf or nan) gives nan, a ratio that underflows to 0 gives -inf."""
    if not (math.isfinite(moved) and math.isfinite(norm)):
        return math.nan
    if moved == 0:
        return -math.inf
    if norm == 0:
        return math.inf
    ratio = moved / norm
    return math.log10(ratio) if ratio > 0 else -math.inf
