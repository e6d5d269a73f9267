"""The learning-rate range test: train briefly with an exponentially growing lr, suggest one from the loss curve.

Runs FusedEngine (`--engine manual`) on the first batches of epoch 0's shuffle, at most one epoch, and stops as soon
as the smoothed loss blows up. The engine copies the weights into its own buffers, so the model passed in is never
changed. Pure: returns an LrFind, prints nothing.
"""

import math
from dataclasses import dataclass, field

from torch import Tensor

from mnist_scratch.config import LR_RULES, TrainConfig
from mnist_scratch.errors import UsageError
from mnist_scratch.lesson.nn import Model
from mnist_scratch.training.fit import epoch_order
from mnist_scratch.training.fused import FusedEngine
from mnist_scratch.training.precision import matmul_precision

RULES = LR_RULES
BETA = 0.9  # the loss's moving average spans ~10 steps: the lr grows ~2x over them at the default 200 steps
BLOWUP = 4.0  # stop once the smoothed loss is this many times its lowest value
SKIP = 0.1  # the steepest rule ignores the first tenth of the curve: the average is still settling there


@dataclass
class LrFind:
    """The curve (one point per step) and the suggestion."""

    lrs: list[float]  # the lr of each step
    losses: list[float]  # raw batch losses (a non-finite last one is dropped)
    smoothed: list[float]  # bias-corrected moving average of losses
    centres: list[float]  # the lr each smoothed point stands for: the same average taken of log(lr)
    rule: str  # the rule that gave suggested_lr
    suggested_lr: float
    suggestions: dict[str, float] = field(default_factory=dict)  # every rule's lr, for comparison
    stopped: str = ""  # why the sweep ended
    cfg: "TrainConfig | None" = None


def lr_schedule(start_lr: float, end_lr: float, steps: int) -> list[float]:
    """steps learning rates growing exponentially from start_lr to end_lr."""
    return [start_lr * (end_lr / start_lr) ** (k / max(1, steps - 1)) for k in range(steps)]


def steepest(centres: list[float], smoothed: list[float]) -> int:
    """Index where the smoothed loss falls fastest per decade of lr, before its lowest point."""
    lo, hi = max(1, int(len(centres) * SKIP)), min(range(len(smoothed)), key=smoothed.__getitem__)
    slopes = {k: (smoothed[k + 1] - smoothed[k - 1]) / math.log10(centres[k + 1] / centres[k - 1])
              for k in range(lo, min(hi, len(centres) - 1))}
    return min(slopes, key=slopes.__getitem__) if slopes else hi


def valley(centres: list[float], smoothed: list[float]) -> int:
    """Index of the valley's floor: the lowest smoothed loss, where a larger lr stops making the loss fall.

    That is the largest lr that still trains from this state, which is what one-cycle's peak lr should be (the
    schedule warms up to it and anneals from it). Read against the centres, not the step's own lr: the average
    lags ~BETA / (1 - BETA) steps behind, and its floor would otherwise name an lr ~2x too high.
    """
    return min(range(len(smoothed)), key=smoothed.__getitem__)


def lr_find(model: Model, x: Tensor, y: Tensor, cfg: TrainConfig, *, start_lr: float = 1e-6, end_lr: float = 10.0,
            steps: int = 200, rule: str = "valley") -> LrFind:
    """Sweep lr from start_lr to end_lr over at most `steps` batches (and one epoch) of (x, y); see the module doc."""
    if rule not in RULES:
        raise UsageError(f"--rule must be one of {', '.join(RULES)}, got {rule!r}")
    if not 0 < start_lr < end_lr or not math.isfinite(end_lr):
        raise UsageError(f"--start-lr must be > 0 and below --end-lr, got {start_lr:g} and {end_lr:g}")
    nb = math.ceil(len(x) / cfg.bs)
    if steps < 5:
        raise UsageError(f"--steps must be at least 5, got {steps}")
    if nb < 5:
        raise UsageError(f"the train split holds {nb} batches of {cfg.bs}; lr-find needs at least 5: "
                         "use a smaller --bs")
    steps = min(steps, nb)  # never more than one epoch
    engine = FusedEngine(model, cfg)  # its own copy of the weights: the model is not touched
    batches = epoch_order(cfg.seed, 0, len(x), x.device).split(cfg.bs)
    res = LrFind([], [], [], [], rule, math.nan, cfg=cfg, stopped=f"reached the end lr {end_lr:g}")
    avg, avg_log = 0.0, 0.0
    for k, lr in enumerate(lr_schedule(start_lr, end_lr, steps)):
        idx = batches[k]
        loss = engine.step(x[idx], y[idx], lr).item()
        if not math.isfinite(loss):
            res.stopped = f"loss became {loss} at lr {lr:.3g}"
            break
        avg, avg_log = BETA * avg + (1 - BETA) * loss, BETA * avg_log + (1 - BETA) * math.log(lr)
        debias = 1 - BETA ** (k + 1)
        res.lrs.append(lr), res.losses.append(loss)
        res.smoothed.append(avg / debias), res.centres.append(math.exp(avg_log / debias))
        if res.smoothed[-1] > BLOWUP * min(res.smoothed):
            res.stopped = f"loss blew up (over {BLOWUP:g}x its lowest) at lr {lr:.3g}"
            break
    if len(res.lrs) < 5:
        raise UsageError(f"the loss blew up after {len(res.lrs)} steps, before any curve formed; "
                         "lower --start-lr")
    res.suggestions = {name: res.centres[fn(res.centres, res.smoothed)] for name, fn in (("valley", valley),
                                                                                        ("steepest", steepest))}
    res.suggested_lr = res.suggestions[rule]
    return res


def sweep(cfg: TrainConfig, x: Tensor, y: Tensor, **kw) -> LrFind:
    """lr_find on the model `train` would start from with cfg (same init seed, same first epoch's batches)."""
    import torch

    from mnist_scratch.lesson.nn import make_model

    if cfg.bs > len(x):
        raise UsageError(f"--bs {cfg.bs} is larger than the train split ({len(x):,} rows); use at most {len(x)}")
    model = make_model(cfg.nh, cfg.loss, generator=torch.Generator().manual_seed(cfg.seed), device=x.device)
    with matmul_precision(cfg.matmul_precision):  # the sweep runs the steps `train` would run
        return lr_find(model, x, y, cfg, **kw)
