"""`train --tensorboard DIR`: scalars and histograms as TensorBoard event files (the optional `tb` extra).

Scalars: train/loss (every batch), train/lr, valid/loss, valid/acc, epoch/train_loss (each epoch) and, on stats
steps, every StepStats figure under layers/ and params/. Histograms on stats steps: weights/, grads/, acts/
(every HIST_EVERY-th stats step: a histogram costs far more than a scalar).
"""

import contextlib
from pathlib import Path

import torch

from mnist_scratch.atomic import shown
from mnist_scratch.errors import MnistScratchError, UsageError
from mnist_scratch.training.fit import Callback

HIST_EVERY = 10  # stats steps between histograms


def check_available() -> None:
    """UsageError naming the extra when the tensorboard package is missing (asked before training)."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise UsageError("--tensorboard needs the tensorboard package: pip install 'mnist-scratch[tb]'") from None


class TensorBoardCallback(Callback):
    """Writes scalars and histograms through torch.utils.tensorboard.SummaryWriter."""

    def __init__(self, logdir: Path, nb: int, total: int, lr_at, start_step: int = 0):
        check_available()
        from torch.utils.tensorboard import SummaryWriter

        self.logdir = logdir
        with self.saving():
            self.w = SummaryWriter(log_dir=str(logdir))
        self.nb, self.total, self.lr_at, self.step = nb, total, lr_at, start_step
        self.n_stats = 0

    @contextlib.contextmanager
    def saving(self):
        """A failed write (full disk, file-size limit) as one line; the writer's thread's error surfaces here, on
        the next write (cli.main keeps that thread's own report off stderr)."""
        try:
            yield
        except OSError as e:
            raise MnistScratchError(f"cannot save TensorBoard events in {shown(self.logdir)}: "
                                    f"{e.strerror or e}") from None

    def batch_end(self, i: int, loss: float) -> None:
        with self.saving():
            self.w.add_scalar("train/loss", loss, self.step)
            self.w.add_scalar("train/lr", self.lr_at(self.step / self.total), self.step)
        self.step += 1

    def step_stats(self, stats, probe) -> None:
        with self.saving():
            self._step_stats(stats, probe)

    def _step_stats(self, stats, probe) -> None:
        step = stats.step
        if self.n_stats % HIST_EVERY == 0:
            named = [(f"acts/lin{i}", a) for i, a in enumerate(probe.acts, 1)]
            for k, g in probe.grads.items():
                named += [(f"grads/{k}", g), (f"weights/{k}", probe.params[k])]
            for tag, t in named:
                t = t.detach().float().cpu()
                if bool(torch.isfinite(t).all()):  # a diverging step: fit names it; a histogram cannot hold nan
                    self.w.add_histogram(tag, t, step)
        self.n_stats += 1
        for l in stats.layers:
            for k in ("mean", "std", "zero_frac", "dead_frac"):
                if getattr(l, k) is not None:
                    self.w.add_scalar(f"layers/{l.name}.{k}", getattr(l, k), stats.step)
        for p in stats.params:
            self.w.add_scalar(f"params/{p.name}.grad_norm", p.grad_norm, stats.step)
            self.w.add_scalar(f"params/{p.name}.update_ratio_log10", p.update_ratio, stats.step)

    def epoch_end(self, stats, state: dict) -> None:
        at = stats.epoch * self.nb  # the step the epoch ended at: the scalars line up with the per-batch ones
        with self.saving():
            self.w.add_scalar("epoch/train_loss", stats.train_loss, at)
            self.w.add_scalar("valid/loss", stats.valid_loss, at)
            self.w.add_scalar("valid/acc", stats.valid_acc, at)
            self.w.flush()  # a killed run keeps every finished epoch
