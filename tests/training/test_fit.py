"""Training loop: engine parity, schedule, resume, faults."""

import math

import pytest
import torch
from trainfakes import small_data

from mnist_scratch.config import TrainConfig
from mnist_scratch.errors import TrainingError
from mnist_scratch.lesson.nn import make_model
from mnist_scratch.training.engines import AutogradEngine, ReferenceEngine
from mnist_scratch.training.fit import Callback, Callbacks, epoch_order, fit, lr_at


def engines(cfg: TrainConfig):
    """The manual engine and its autograd twin, from the same seed."""
    make = lambda: make_model(cfg.nh, cfg.loss, generator=torch.Generator().manual_seed(cfg.seed))  # noqa: E731
    return ReferenceEngine(make(), cfg), AutogradEngine(make(), cfg)


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-12)).item()


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("momentum,wd", [(0.0, 0.0), (0.9, 5e-4)])
def test_one_step_leaves_equal_parameters(loss, momentum, wd):
    cfg = TrainConfig(nh=(32, 16), loss=loss, momentum=momentum, weight_decay=wd, lr=0.05)
    data = small_data()
    man, auto = engines(cfg)
    start = {k: v.clone() for k, v in man.state().items()}
    xb, yb = data.x_train[:64], data.y_train[:64]
    for _ in range(2):  # two steps, so the momentum buffer is used
        lm, la = man.step(xb, yb, cfg.lr), auto.step(xb, yb, cfg.lr)
        assert math.isclose(lm.item(), la.item(), rel_tol=1e-6)
    sm, sa = man.state(), auto.state()
    assert set(sm) == set(sa)
    for k in start:
        assert not torch.equal(sm[k], start[k]), f"{k} did not move"
        assert max_rel(sm[k], sa[k]) <= 1e-6, k


@pytest.mark.parametrize("loss,lr", [("ce", 0.05), ("mse", 0.005)])
def test_two_epochs_mean_losses_agree(loss, lr):
    cfg = TrainConfig(nh=(50,), loss=loss, epochs=2, bs=32, lr=lr, momentum=0.9, lr_schedule="onecycle")
    data = small_data()
    man, auto = engines(cfg)
    rm, ra = fit(man, data, cfg), fit(auto, data, cfg)
    assert len(rm.epochs) == len(ra.epochs) == 2
    for a, b in zip(rm.epochs, ra.epochs, strict=True):
        assert abs(a.train_loss - b.train_loss) <= 2e-3
        assert abs(a.valid_acc - b.valid_acc) <= 0.01
    assert rm.epochs[-1].train_loss < rm.epochs[0].train_loss


def test_manual_training_path_never_touches_autograd():
    cfg = TrainConfig(nh=(20, 10), momentum=0.9)
    data = small_data()
    man, _ = engines(cfg)
    man.step(data.x_train[:32], data.y_train[:32], 0.1)
    tensors = [t for _, t in man.model.params()] + [t.g for _, t in man.model.params()]
    tensors += [t for _, t in man.model.intermediates()] + list(man.bufs.values())
    assert all(not t.requires_grad and t.grad_fn is None and t.grad is None for t in tensors)


def test_learns_the_small_problem():
    cfg = TrainConfig(nh=(50,), epochs=3, bs=32, lr=0.05, momentum=0.9, lr_schedule="onecycle")
    res = fit(engines(cfg)[0], small_data(n_train=3000), cfg)
    assert res.epochs[-1].valid_acc > 0.6  # chance is 0.1


def test_schedules():
    cfg = TrainConfig(lr=0.4, lr_schedule="onecycle")
    assert lr_at(cfg, 0.0) == pytest.approx(0.4 / 25)
    assert lr_at(cfg, 0.25) == pytest.approx(0.4)
    assert lr_at(cfg, 1.0) == pytest.approx(0.4 / 1e4)
    assert lr_at(TrainConfig(lr=0.4, lr_schedule="cosine"), 0.5) == pytest.approx(0.2)
    assert lr_at(TrainConfig(lr=0.4, lr_schedule="constant"), 0.7) == 0.4


def test_epoch_order_is_a_seeded_permutation():
    a, b, c = epoch_order(1, 0, 100, "cpu"), epoch_order(1, 0, 100, "cpu"), epoch_order(1, 1, 100, "cpu")
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a.sort().values, torch.arange(100))


def test_non_finite_loss_stops_and_names_the_step():
    cfg = TrainConfig(nh=(50,), loss="mse", epochs=1, bs=32, lr=10.0)
    with pytest.raises(TrainingError, match=r"epoch 1, batch \d+ .*learning rate"):
        fit(engines(cfg)[0], small_data(), cfg)


class StopAfter(Callback):
    """Asks to stop after n batches."""

    def __init__(self, n):
        self.n, self.seen = n, 0

    def batch_end(self, i, loss):
        self.seen += 1

    def should_stop(self):
        return self.seen >= self.n


def test_stop_request_ends_after_the_current_batch():
    cfg = TrainConfig(nh=(10,), epochs=3, bs=100)
    cb = StopAfter(15)
    res = fit(engines(cfg)[0], small_data(), cfg, [cb])
    assert res.interrupted and cb.seen == 15 and len(res.epochs) == 1


class Log(Callback):
    """Logs its name on every epoch_end (and, with batches, every batch_end) into a shared list."""

    def __init__(self, name, log):
        self.name, self.log = name, log

    def epoch_end(self, stats, state):
        self.log.append((self.name, "epoch", stats.epoch))


class LogBatches(Log):
    def batch_end(self, i, loss):
        self.log.append((self.name, "batch", i))


def test_callbacks_run_in_list_order_and_only_for_the_events_they_override():
    cfg = TrainConfig(nh=(10,), epochs=2, bs=500)
    log = []
    cbs = [LogBatches("a", log), Log("b", log)]
    one = Callbacks(cbs)
    assert one.batch_end == cbs[0].batch_end  # the only callback with batch_end: its method, called directly
    assert one.should_stop() is False and one.stats_every == 0
    fit(engines(cfg)[0], small_data(n_train=1000), cfg, cbs)
    one = [("a", "batch", 0), ("a", "batch", 1)]
    assert log == one + [("a", "epoch", 1), ("b", "epoch", 1)] + one + [("a", "epoch", 2), ("b", "epoch", 2)]
