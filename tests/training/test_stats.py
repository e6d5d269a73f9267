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
from mnist_scratch.training.stats import BINS, Probe, Tracker, update_ratio


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
            loss_t, probe = e.step_stats(xb, yb, 0.02)
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
    tr = Tracker(every=10, window_steps=30)  # a window of 3 stats steps
    w = {"lin1.w": torch.ones(3, 4), "lin1.b": torch.ones(4), "lin2.w": torch.ones(4, 2), "lin2.b": torch.ones(2)}
    out = torch.zeros(5, 2)

    def probe(fired: list[int]) -> Probe:
        a = torch.zeros(5, 4)
        a[0, fired] = 1.0  # one image lights those units
        return Probe([a, out], w, w)

    dead = [tr.summarize(k, 0.1, 1.0, probe(f)).layers[0].dead_frac for k, f in
            enumerate([[0, 1, 2], [0, 1], [0], [0], [0]])]
    # unit 3 never fires: dead from the start; unit 2 fired at stats step 1, dead once 3 steps passed without it
    assert dead == [0.25, 0.25, 0.25, 0.5, 0.75]
    s = tr.summarize(5, 0.1, 1.0, probe([0]))
    assert s.layers[0].zero_frac == 1 - 1 / 20 and s.layers[1].zero_frac is None and s.layers[1].dead_frac is None


def test_update_ratio():
    assert update_ratio(0.1, 1.0, 100.0) == pytest.approx(-3.0)
    assert update_ratio(0.1, 0.0, 1.0) == -math.inf and update_ratio(0.1, 1.0, 0.0) == math.inf


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
