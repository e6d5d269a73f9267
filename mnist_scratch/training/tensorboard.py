"""`train --tensorboard DIR`: the run as PyTorch users expect to see it in TensorBoard (the optional `tb` extra).

HPARAMS: the run's config, with the final metrics (the last valid/acc, valid/loss, epoch/train_loss and
best/valid_acc). Scalars: train/loss (every batch), train/lr, the per-epoch curves epoch/train_loss, valid/loss,
valid/acc, best/valid_acc, and on stats steps every StepStats figure under layers/ and params/. Histograms of
weights/, grads/ and acts/ on stats steps, about HIST_SLICES of them per run: every stats step on a short run, so
even one epoch shows how the weights move.
"""

import math
from pathlib import Path

import torch

from mnist_scratch.config import TrainConfig
from mnist_scratch.errors import MnistScratchError, UsageError
from mnist_scratch.training.fit import Callback, lr_at

HIST_SLICES = 20  # histograms per run, at most about: one costs far more than a scalar
METRICS = ("valid/acc", "valid/loss", "epoch/train_loss", "best/valid_acc")  # HPARAMS shows each one's last value


def check_available() -> None:
    """UsageError naming the extra when the tensorboard package is missing (asked before training)."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise UsageError("--tensorboard needs the tensorboard package: pip install 'mnist-scratch[tb]'") from None


def hparams_of(cfg: TrainConfig) -> dict[str, "int | float | str | bool"]:
    """The config as HPARAMS values: numbers, text and flags as they are, nh as '100,50', None as 'none'."""
    out: dict[str, int | float | str | bool] = {}
    for k, v in cfg.to_dict().items():
        if isinstance(v, (list, tuple)):
            v = ",".join(map(str, v))
        out[k] = v if isinstance(v, (int, float, str, bool)) else str(v).lower()
    return out


class TensorBoardCallback(Callback):
    """Writes the config, scalars and histograms through torch.utils.tensorboard.SummaryWriter."""

    def __init__(self, logdir: Path, cfg: TrainConfig, nb: int, start_step: int = 0):
        check_available()
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        try:
            self.w = SummaryWriter(log_dir=str(logdir))
        except OSError as e:
            raise MnistScratchError(f"cannot write TensorBoard events in {logdir}: {e.strerror or e}") from None
        self.cfg, self.nb, self.total, self.step = cfg, nb, cfg.epochs * nb, start_step
        self.hist_every = max(1, self.total // HIST_SLICES)  # steps between histograms, at least
        self.next_hist = start_step
        self.best = -math.inf
        exp, start, self.end = hparams(hparams_of(cfg), dict.fromkeys(METRICS, 0.0))
        for s in (exp, start):  # the metrics' values are their scalars' last points, written per epoch below
            self.w.file_writer.add_summary(s)

    def batch_end(self, i: int, loss: float) -> None:
        self.w.add_scalar("train/loss", loss, self.step)
        self.w.add_scalar("train/lr", lr_at(self.cfg, self.step / self.total), self.step)
        self.step += 1

    def step_stats(self, stats, probe) -> None:
        step = stats.step
        if step >= self.next_hist:
            self.next_hist = step + self.hist_every
            named = [(f"acts/lin{i}", a) for i, a in enumerate(probe.acts, 1)]
            for k, g in probe.grads.items():
                named += [(f"grads/{k}", g), (f"weights/{k}", probe.params[k])]
            for tag, t in named:
                t = t.detach().float().cpu()
                if bool(torch.isfinite(t).all()):  # a diverging step: fit names it; a histogram cannot hold nan
                    try:
                        self.w.add_histogram(tag, t, step)
                    except ValueError:  # finite but so large the bin edges overflow: the same diverging step
                        pass
        for l in stats.layers:
            for k in ("mean", "std", "zero_frac", "dead_frac"):
                if getattr(l, k) is not None:
                    self.w.add_scalar(f"layers/{l.name}.{k}", getattr(l, k), step)
        for p in stats.params:
            self.w.add_scalar(f"params/{p.name}.grad_norm", p.grad_norm, step)
            self.w.add_scalar(f"params/{p.name}.update_ratio_log10", p.update_ratio, step)

    def epoch_end(self, stats, state: dict) -> None:
        at = stats.epoch * self.nb  # the step the epoch ended at: the scalars line up with the per-batch ones
        self.best = max(self.best, stats.valid_acc)
        self.w.add_scalar("epoch/train_loss", stats.train_loss, at)
        self.w.add_scalar("valid/loss", stats.valid_loss, at)
        self.w.add_scalar("valid/acc", stats.valid_acc, at)
        self.w.add_scalar("best/valid_acc", self.best, at)
        if stats.epoch == self.cfg.epochs:  # the run is complete: HPARAMS marks it so
            self.w.file_writer.add_summary(self.end)
        self.w.flush()  # a killed run keeps every finished epoch
