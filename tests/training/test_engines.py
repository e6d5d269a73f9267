"""The engines' contract beyond one step (found by `make mutants`): resuming, devices, the loss dtype.

Every test names the mistake it catches.
"""

import pytest
import torch

from mnist_scratch.config import TrainConfig
from mnist_scratch.lesson.nn import make_model
from mnist_scratch.training.engines import AutogradEngine, ReferenceEngine
from mnist_scratch.training.fused import FusedEngine

ENGINES = [FusedEngine, ReferenceEngine, AutogradEngine]
N_IN = 12


def model(cfg: TrainConfig, seed: int, **kw):
    return make_model(cfg.nh, cfg.loss, generator=torch.Generator().manual_seed(seed), n_in=N_IN, **kw)


def batch(seed: int, bs: int = 16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(bs, N_IN, generator=g), torch.randint(0, 10, (bs,), generator=g)


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]):
    assert sorted(a) == sorted(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("E", ENGINES, ids=lambda E: E.name)
def test_resuming_from_state_continues_the_same_steps(E):
    """Mistake: load_state dropping, misplacing or misnaming the momentum buffers (or the parameters).

    A resumed run would restart its momentum from zero (or from the first gradient) and leave the trajectory of
    the run it continues; with `train --resume` nothing else would notice.
    """
    cfg = TrainConfig(nh=(8,), momentum=0.9, weight_decay=5e-3, lr=0.05)
    a = E(model(cfg, 0), cfg)
    for s in range(2):  # two steps: the momentum buffers hold more than one gradient
        a.step(*batch(s), cfg.lr)
    b = E(model(cfg, 1), cfg)  # other weights, empty buffers
    b.load_state(a.state())
    assert_same_state(b.state(), a.state())
    a.step(*batch(2), cfg.lr)
    b.step(*batch(2), cfg.lr)
    assert_same_state(b.state(), a.state())


@pytest.mark.parametrize("E", ENGINES, ids=lambda E: E.name)
def test_a_state_without_momentum_starts_the_buffers_at_zero(E):
    """Mistake: load_state requiring momentum entries, or copying them when absent: a checkpoint of a run without
    momentum must load into one with momentum and step exactly as a fresh engine on those weights."""
    cfg = TrainConfig(nh=(8,), momentum=0.9, lr=0.05)
    donor = E(model(cfg, 0), cfg)
    donor.step(*batch(0), cfg.lr)
    params = {k: v for k, v in donor.state().items() if not k.startswith("momentum.")}
    fresh = make_model(cfg.nh, cfg.loss, generator=torch.Generator().manual_seed(9), n_in=N_IN)
    with torch.no_grad():
        for k, p in fresh.params():
            p.copy_(params[k])
    a, b = E(model(cfg, 1), cfg), E(fresh, cfg)
    a.load_state(params)
    for e in (a, b):
        e.step(*batch(1), cfg.lr)
    assert_same_state(a.state(), b.state())


def test_the_autograd_twin_lives_on_the_model_device():
    """Mistake: nn.Linear built without device=w.device: the twin would sit on the default device, not the model's."""
    cfg = TrainConfig(nh=(4,))
    e = AutogradEngine(model(cfg, 0, device="meta"), cfg)  # meta: a device other than the default, on any build
    assert [p.device.type for p in e.net.parameters()] == ["meta"] * 4


def test_the_autograd_twin_reports_the_mse_loss_in_the_model_dtype():
    """Mistake: MSE labels not cast to the output dtype. float64 digit values would make the twin's loss float64
    where the hand-written engines report float32, and the parity checks would compare different precisions."""
    cfg = TrainConfig(nh=(8,), loss="mse", lr=0.01)
    x, y = batch(0)
    losses = [E(model(cfg, 0), cfg).step(x, y.to(torch.float64), cfg.lr) for E in (ReferenceEngine, AutogradEngine)]
    assert [l.dtype for l in losses] == [torch.float32, torch.float32]
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-6, atol=0)
