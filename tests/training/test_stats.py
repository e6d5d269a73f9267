"""Training statistics: the three engines report the same figures, dead units, and fit asks only when told to."""

import math

import pytest
import torch
from trainfakes import small_data

from mnist_scratch.config import TrainConfig
from mnist_scratch.lesson.nn import make_model
from mnist_scratch.training.engines import ENGINES
from mnist_scratch.training.fit import Callback, fit
from mnist_scratch.training.fused import FusedEngine
from mnist_scratch.training.stats import BINS, Probe, Tracker, probe_step, update_ratio


def engines(cfg: TrainConfig, dtype=torch.float64):
    return {name: E(make_model(cfg.nh, cfg.loss, generator=torch.Generator().manual_seed(3), dtype=dtype), cfg)
            for name, E in ENGINES.items()}


@pytest.mark.parametrize("nh", [(24,), (24, 16)])
@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("momentum,wd", [(0.0, 0.0), (0.9, 1e-3)])
def test_engines_report_the_same_statistics(nh, loss, momentum, wd):
    cfg = TrainConfig(nh=nh, loss=loss, momentum=momentum, weight_decay=wd)
    data = small_data()
    es = engines(cfg)
    out = {}
    for name, e in es.items():
        tr = Tracker(every=1, window_steps=2)
        for step, bs in enumerate((64, 50, 64)):  # a stats step after plain ones too: buffers of another size
            xb, yb = data.x_train[step * 64 : step * 64 + bs].double(), data.y_train[step * 64 : step * 64 + bs]
            if step == 1:
                e.step(xb, yb, 0.02)
                continue
            loss_t, probe = probe_step(e, xb, yb, 0.02)
            s = tr.summarize(step, 0.02, loss_t, probe)
        out[name] = s
    ref = out["autograd"]
    names = set(ref.scalars())
    assert {"lin1.mean", "lin1.std", "lin1.zero_frac", "lin1.dead_frac", "lin1.w.grad_norm", "lin1.w.update_ratio",
            f"lin{len(nh) + 1}.b.norm", "loss", "lr"} <= names
    for name in ("manual", "reference"):
        got = out[name].scalars()
        assert set(got) == names, name
        for k, v in ref.scalars().items():
            assert math.isclose(got[k], v, rel_tol=1e-9, abs_tol=1e-12), (name, k, got[k], v)
        for a, b in zip(out[name].layers, ref.layers, strict=True):
            assert a.hist.shape == (BINS,) and a.hist_range == b.hist_range
            assert (a.hist - b.hist).abs().sum() <= 2  # round-off may move one value across a bin edge at most


def test_fused_probe_gradients_are_the_plain_gradients():
    cfg = TrainConfig(nh=(24, 16), momentum=0.9, weight_decay=1e-3)
    data = small_data()
    e = FusedEngine(make_model(cfg.nh, "ce", generator=torch.Generator().manual_seed(0), dtype=torch.float64), cfg)
    xb, yb = data.x_train[:64].double(), data.y_train[:64]
    _, want = e.grads(xb, yb)
    _, probe = e.step_stats(xb, yb, 0.1)
    for k, g in want.items():
        torch.testing.assert_close(probe.grads[k], g, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(probe.params[k], e.state()[k])  # the updated weights, in the lesson's layout


def test_dead_units_need_a_whole_window_of_silence():
    tr = Tracker(every=10, window_steps=30)  # a window of 30 steps: the stats batches of steps t-20, t-10, t
    w = {"lin1.w": torch.ones(3, 4), "lin1.b": torch.ones(4), "lin2.w": torch.ones(4, 2), "lin2.b": torch.ones(2)}
    out = torch.zeros(5, 2)

    def probe(fired: list[int]) -> Probe:
        a = torch.zeros(5, 4)
        a[0, fired] = 1.0  # one image lights those units
        return Probe([a, out], w, w)

    dead = [tr.summarize(10 * k, 0.1, 1.0, probe(f)).layers[0].dead_frac for k, f in
            enumerate([[0, 1, 2], [0, 1], [0], [0], [0]])]
    # unit 3 never fires: dead from the start; unit 2 fired at step 0, dead once 30 steps passed without it
    assert dead == [0.25, 0.25, 0.25, 0.5, 0.75]
    s = tr.summarize(50, 0.1, 1.0, probe([0]))
    assert s.layers[0].zero_frac == 1 - 1 / 20 and s.layers[1].zero_frac is None and s.layers[1].dead_frac is None


def test_update_ratio():
    assert update_ratio(0.1, 100.0) == pytest.approx(-3.0)
    assert update_ratio(0.0, 1.0) == -math.inf and update_ratio(1.0, 0.0) == math.inf


@pytest.mark.parametrize("every", [100, 250, 300, 1000])
def test_the_dead_unit_window_is_the_documented_number_of_steps_whatever_stats_every(every):
    from mnist_scratch.training.stats import DEAD_WINDOW_STEPS

    tr = Tracker(every=every)
    w = {"lin1.w": torch.ones(3, 4), "lin1.b": torch.ones(4), "lin2.w": torch.ones(4, 2), "lin2.b": torch.ones(2)}
    on, off = torch.zeros(5, 4), torch.zeros(5, 4)
    on[0, 0] = 1.0  # unit 0 fires on the first stats batch only
    dead = {}
    for t in range(0, 4 * DEAD_WINDOW_STEPS, every):
        dead[t] = tr.summarize(t, 0.1, 1.0, Probe([on if t == 0 else off, torch.zeros(5, 2)], w, w)).layers[0]
    alive = [t for t, layer in dead.items() if layer.dead_frac < 1]
    # alive while its firing lies within the last DEAD_WINDOW_STEPS steps (t - 499 .. t), dead from step 500 on
    assert alive == [t for t in dead if t < DEAD_WINDOW_STEPS]


def test_the_update_ratio_is_of_the_step_actually_taken():
    """Momentum and weight decay move the weights by more (or other) than lr * grad: the ratio is |Δw| / |w|."""
    cfg = TrainConfig(nh=(16,), momentum=0.9, weight_decay=1e-3)
    data = small_data()
    e = FusedEngine(make_model(cfg.nh, "ce", generator=torch.Generator().manual_seed(0), dtype=torch.float64), cfg)
    tr = Tracker(every=1)
    for k in range(5):  # momentum builds up
        xb, yb = data.x_train[k * 64 : (k + 1) * 64].double(), data.y_train[k * 64 : (k + 1) * 64]
        before = {n: v for n, v in e.state().items() if not n.startswith("momentum.")}
        s = tr.summarize(k, 0.05, *probe_step(e, xb, yb, 0.05))
    after = e.state()
    for p in s.params:
        want = math.log10(float((after[p.name] - before[p.name]).norm() / after[p.name].norm()))
        assert p.update_ratio == pytest.approx(want, rel=1e-9)
        assert abs(p.update_ratio - math.log10(0.05 * p.grad_norm / p.norm)) > 0.1  # the old formula misleads here


def test_a_zero_gradient_with_weight_decay_still_shows_the_step():
    cfg = TrainConfig(nh=(4,), momentum=0.0, weight_decay=0.1)
    w = {"lin1.w": torch.ones(3, 4), "lin1.b": torch.ones(4), "lin2.w": torch.ones(4, 2), "lin2.b": torch.ones(2)}
    zero = {k: torch.zeros_like(v) for k, v in w.items()}
    moved = {k: -0.5 * cfg.weight_decay * v for k, v in w.items()}  # lr 0.5 times the decay term alone
    probe = Probe([torch.ones(5, 4), torch.zeros(5, 2)], zero, w, moved)
    s = Tracker(every=1).summarize(0, 0.5, 1.0, probe)
    assert all(p.update_ratio == pytest.approx(math.log10(0.05)) for p in s.params)


class Asking(Callback):
    def __init__(self, every):
        self.stats_every, self.steps = every, []

    def step_stats(self, stats, probe):
        self.steps.append(stats.step)
        assert isinstance(probe, Probe) and len(probe.acts) == 2


@pytest.mark.parametrize("every", [0, 3])
def test_fit_probes_only_the_steps_asked_for(monkeypatch, every):
    data = small_data(n_train=640)
    cfg = TrainConfig(nh=(16,), bs=64, epochs=2)
    e = FusedEngine(make_model(cfg.nh, "ce", generator=torch.Generator().manual_seed(0)), cfg)
    calls = []
    real = e.step_stats
    monkeypatch.setattr(e, "step_stats", lambda *a: calls.append(1) or real(*a))
    cb = Asking(every)
    fit(e, data, cfg, [cb])
    assert cb.steps == list(range(0, 20, every)) if every else cb.steps == []
    assert len(calls) == len(cb.steps)
