"""fit(): minibatch SGD over epochs with a learning-rate schedule; returns per-epoch stats. Pure: no I/O."""

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from mnist_scratch.config import TrainConfig
from mnist_scratch.errors import TrainingError
from mnist_scratch.training import sentinel
from mnist_scratch.training.precision import matmul_precision
from mnist_scratch.training.stats import Tracker

OVERFLOW = ("the model's outputs overflow to inf or nan: its weights are finite but far too large (a diverged or "
            "tampered checkpoint); retrain with a smaller --lr")
SYNC_EVERY = 50  # off the CPU, read the batch losses back every this many steps: a sync per step would stall


@dataclass
class EpochStats:
    """One epoch's figures."""

    epoch: int
    train_loss: float
    valid_loss: float
    valid_acc: float
    seconds: float
    lr: float


@dataclass
class FitResult:
    """What fit() returns: the epochs it ran and whether a stop was asked for."""

    epochs: list[EpochStats] = field(default_factory=list)
    interrupted: bool = False


class Callback:
    """One extension of fit (recording, statistics, display, stop requests): every event does nothing here, so a
    callback overrides only the events it needs. fit calls each event on its callbacks in list order."""

    stats_every = 0  # steps between training statistics (0: none); on those steps fit calls step_stats

    def epochs(self, it: Iterable[int]) -> Iterable[int]:
        """The epochs to run, wrapped (a progress bar) or as they are."""
        return it

    def batches(self, it: Iterable[int]) -> Iterable[int]:
        """One epoch's batch numbers, wrapped or as they are."""
        return it

    def batch_end(self, i: int, loss: float) -> None:
        """Batch i of the epoch is done; its loss read back."""

    def step_stats(self, stats, probe) -> None:
        """A stats step: its figures (a training.stats.StepStats) and raw tensors (a Probe, valid until the next
        step)."""

    def epoch_end(self, stats: EpochStats, state: dict) -> None:
        """An epoch is done and evaluated; state: the engine's parameters and momentum buffers."""

    def should_stop(self) -> bool:
        """Asked after every read-back and every epoch: True stops fit there."""
        return False


EVENTS = ("epochs", "batches", "batch_end", "step_stats", "epoch_end", "should_stop")


class Callbacks:
    """The callbacks of one fit as one callable per event (cbs.batch_end(i, loss), ...), made once: each calls, in
    list order, only the callbacks that override that event; one such callback's method is called directly, so
    the per-step events cost no dispatch beyond what the callbacks themselves do."""

    def __init__(self, cbs: "Iterable[Callback]" = ()):
        cbs = list(cbs)
        for e in EVENTS:
            overriding = [getattr(cb, e) for cb in cbs if getattr(type(cb), e) is not getattr(Callback, e)]
            setattr(self, e, _event(e, overriding))
        self.stats_every = max((cb.stats_every for cb in cbs), default=0)


def _event(name: str, fs: list):
    """One callable for event `name` over fs, the bound methods that implement it, in order."""
    if len(fs) <= 1:
        return fs[0] if fs else getattr(Callback(), name)  # none: the default, which does nothing
    if name in ("epochs", "batches"):  # each wraps the iterable the one before returned

        def wrap(it):
            for f in fs:
                it = f(it)
            return it

        return wrap
    if name == "should_stop":
        return lambda: any(f() for f in fs)

    def run(*args):
        for f in fs:
            f(*args)

    return run


class Stop(Callback):
    """A stop request from a signal handler (Ctrl-C, SIGTERM): fit stops after the current batch."""

    signum = 0  # the signal that asked to stop, 0 for none

    def ask(self, signum: int) -> None:
        self.signum = signum

    def should_stop(self) -> bool:
        return bool(self.signum)


def sync_every(device: "torch.device | str") -> int:
    """Steps between reading the losses back: every step on the CPU (cheap), else every SYNC_EVERY (one sync)."""
    return 1 if torch.device(device).type == "cpu" else SYNC_EVERY


def lr_at(cfg: TrainConfig, t: float) -> float:
    """Learning rate at fraction t in [0, 1] of the run."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))
    warm = 0.25  # onecycle: cosine warm-up from lr/25 to lr, then cosine annealing to about lr/1e4
    if t < warm:
        return cfg.lr / 25 + (cfg.lr - cfg.lr / 25) * 0.5 * (1 - math.cos(math.pi * t / warm))
    return cfg.lr / 1e4 + (cfg.lr - cfg.lr / 1e4) * 0.5 * (1 + math.cos(math.pi * (t - warm) / (1 - warm)))


def epoch_order(seed: int, epoch: int, n: int, device: "torch.device | str") -> torch.Tensor:
    """The shuffle of epoch `epoch`: a function of (seed, epoch) alone, so a resumed run sees the same order."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g).to(device)


def classify(out: torch.Tensor) -> torch.Tensor:
    """Predicted digits of outputs (n, n_out): the argmax of 10 logits, or the lesson's one output rounded and
    clamped to 0..9."""
    return out[:, 0].round().clamp(0, 9).long() if out.shape[1] == 1 else out.argmax(-1)


def metrics(out: torch.Tensor, y: torch.Tensor, loss: str) -> tuple[float, float, torch.Tensor]:
    """Mean loss, accuracy and predicted classes of outputs `out` for labels `y`."""
    if loss == "mse":
        value = torch.mean((out.squeeze(-1) - y.to(out.dtype)) ** 2)
    else:
        value = torch.nn.functional.cross_entropy(out, y)
    pred = classify(out)
    if not math.isfinite(value.item()):  # finite outputs whose squares overflow: no loss to report
        raise TrainingError(OVERFLOW)
    return value.item(), (pred == y).float().mean().item(), pred


def predict_all(predict, x: torch.Tensor, bs: int = 5000) -> torch.Tensor:
    """predict(x) computed bs rows at a time, so a whole split never needs all its activations at once."""
    with torch.no_grad():
        out = torch.cat([predict(x[i : i + bs]) for i in range(0, len(x), bs)])
    if not bool(torch.isfinite(out).all()):  # one check for every user of a model's outputs (nan -> IndexError)
        raise TrainingError(OVERFLOW)
    return out


def evaluate(engine, x: torch.Tensor, y: torch.Tensor, loss: str) -> tuple[float, float]:
    """Mean loss and accuracy of engine's model over (x, y)."""
    value, acc, _ = metrics(predict_all(engine.predict, x), y, loss)
    return value, acc


class Stepper:
    """One training step at a time as fit runs them: gather the batch into reused buffers, step the engine, and
    read the batch losses back every `every` steps at once (a read-back is a device sync).

    plain: gather with x[idx] (fresh tensors) instead, as a plain PyTorch loop does (the bench's autograd row).
    """

    def __init__(self, engine, x: torch.Tensor, y: torch.Tensor, bs: int, every: int, plain: bool = False):
        self.engine, self.x, self.y, self.every, self.plain = engine, x, y, every, plain
        self.xbuf, self.ybuf = x.new_empty((bs, *x.shape[1:])), y.new_empty(bs)  # (bs, 784), (bs,)
        self.pending: list[torch.Tensor] = []

    def __call__(self, idx: torch.Tensor, lr: float, flush: bool = False, probe: bool = False) -> list[float]:
        """Step on rows idx at lr; the losses read back by this call (none until `every` steps are pending).

        probe: step with engine.step_stats instead and keep (loss, Probe) in self.probe for the stats hook.
        """
        if self.plain:
            xb, yb = self.x[idx], self.y[idx]
        else:
            n = len(idx)
            xb, yb = (self.xbuf, self.ybuf) if n == len(self.xbuf) else (self.xbuf[:n], self.ybuf[:n])
            torch.index_select(self.x, 0, idx, out=xb), torch.index_select(self.y, 0, idx, out=yb)
        if probe:
            self.probe = self.engine.step_stats(xb, yb, lr)
            self.pending.append(self.probe[0])
        else:
            self.pending.append(self.engine.step(xb, yb, lr))
        if len(self.pending) < self.every and not flush:
            return []
        values = [self.pending[0].item()] if len(self.pending) == 1 else torch.stack(self.pending).tolist()
        self.pending.clear()
        return values


def _where(keeper: sentinel.Keeper, engine, data, cfg: TrainConfig, upto: tuple[int, int]) -> str:
    """The sentinel's clause: the first op that went non-finite, found by replaying from the last kept state."""
    n, nb, orders = len(data.x_train), math.ceil(len(data.x_train) / cfg.bs), {}

    def batch(e: int, k: int):  # batch k of epoch e exactly as fit drew it, and its lr
        if e not in orders:
            orders[e] = epoch_order(cfg.seed, e, n, data.x_train.device).split(cfg.bs)
        idx = orders[e][k]
        return data.x_train[idx], data.y_train[idx], lr_at(cfg, (e * nb + k) / (cfg.epochs * nb))

    return sentinel.describe(sentinel.locate(keeper, type(engine), cfg, batch, nb, upto))


def fit(engine, data, cfg: TrainConfig, cbs: "Iterable[Callback]" = (), start_epoch: int = 0) -> FitResult:
    """Train engine on data.x_train for epochs start_epoch..cfg.epochs-1; evaluate on valid after each."""
    with matmul_precision(cfg.matmul_precision):  # torch's setting is process-wide: this run's, then the caller's
        return _fit(engine, data, cfg, Callbacks(cbs), start_epoch)


def _fit(engine, data, cfg: TrainConfig, cbs: Callbacks, start_epoch: int) -> FitResult:
    x, y = data.x_train, data.y_train
    n = len(x)
    nb = math.ceil(n / cfg.bs)
    total = cfg.epochs * nb
    res = FitResult()
    step = Stepper(engine, x, y, cfg.bs, sync_every(x.device))
    keeper = sentinel.Keeper(engine)  # the state the NaN sentinel replays from
    stats_k = cbs.stats_every if hasattr(engine, "step_stats") else 0
    tracker = Tracker(stats_k) if stats_k else None
    for epoch in cbs.epochs(range(start_epoch, cfg.epochs)):
        t0 = time.perf_counter()
        batches = epoch_order(cfg.seed, epoch, n, x.device).split(cfg.bs)
        loss_sum, lr = 0.0, cfg.lr
        for i in cbs.batches(range(nb)):
            lr = lr_at(cfg, (epoch * nb + i) / total)
            keeper.maybe_keep(epoch, i)
            probe = bool(stats_k) and (epoch * nb + i) % stats_k == 0  # a stats step: also probe its tensors
            values = step(batches[i], lr, flush=i == nb - 1, probe=probe)
            if probe:
                cbs.step_stats(tracker.summarize(epoch * nb + i, lr, *step.probe), step.probe[1])
            for j, value in enumerate(values, i + 1 - len(values)):
                if not math.isfinite(value):
                    raise TrainingError(
                        f"loss became {value} at epoch {epoch + 1}, batch {j + 1} (step {epoch * nb + j + 1}) "
                        f"with lr {lr_at(cfg, (epoch * nb + j) / total):.4g}: "
                        + _where(keeper, engine, data, cfg, (epoch, j))
                    )
                loss_sum += value * len(batches[j])
                cbs.batch_end(j, value)
            if cbs.should_stop():
                res.interrupted = True
                return res
        state = engine.state()
        bad = [k for k, v in state.items() if not bool(torch.isfinite(v).all())]
        if bad:
            raise TrainingError(f"non-finite values in {', '.join(bad)} after epoch {epoch + 1}: "
                                + _where(keeper, engine, data, cfg, (epoch, nb - 1)))
        valid_loss, valid_acc = evaluate(engine, data.x_valid, data.y_valid, cfg.loss)
        stats = EpochStats(epoch + 1, loss_sum / n, valid_loss, valid_acc, time.perf_counter() - t0, lr)
        res.epochs.append(stats)
        cbs.epoch_end(stats, state)
        if cbs.should_stop():
            res.interrupted = True
            return res
    return res
