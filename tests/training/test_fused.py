"""The fused FusedEngine against the readable reference (nn.py) and against autograd."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from trainfakes import small_data

import mnist_scratch.training.fit as train_mod
from mnist_scratch.config import ENGINES as ENGINE_NAMES
from mnist_scratch.config import TrainConfig
from mnist_scratch.errors import TrainingError
from mnist_scratch.lesson.nn import make_model
from mnist_scratch.training.engines import ENGINES, AutogradEngine, ReferenceEngine
from mnist_scratch.training.fit import Callback, fit
from mnist_scratch.training.fused import FusedEngine

DEPTHS = [(), (24,), (24, 16), (24, 16, 12)]  # 1 to 4 linear layers


def make(nh, loss, dtype=torch.float32, seed=1, n_in=784):
    return make_model(nh, loss, generator=torch.Generator().manual_seed(seed), dtype=dtype, n_in=n_in)


def three(cfg: TrainConfig, dtype=torch.float32):
    """Fast, reference and autograd engines on the same initial weights."""
    return [E(make(cfg.nh, cfg.loss, dtype), cfg) for E in (FusedEngine, ReferenceEngine, AutogradEngine)]


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()


def test_registry():
    assert ENGINES["manual"] is FusedEngine and ENGINES["reference"] is ReferenceEngine
    assert ENGINES["autograd"] is AutogradEngine and set(ENGINES) == set(ENGINE_NAMES)
    assert TrainConfig().engine == "manual"


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
@pytest.mark.parametrize("nh", DEPTHS)
@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("momentum,wd", [(0.0, 0.0), (0.0, 5e-4), (0.9, 0.0), (0.9, 5e-4)])
def test_steps_match_reference_and_autograd(dtype, tol, nh, loss, momentum, wd):
    cfg = TrainConfig(nh=nh, loss=loss, momentum=momentum, weight_decay=wd)
    data = small_data()
    fast, ref, auto = three(cfg, dtype)
    start = {k: v.clone() for k, v in fast.state().items()}
    lr = 0.05 if loss == "ce" else 0.005
    for bs in (64, 50):  # a power of two and not: the 1 / bs folded into the GEMMs must not matter
        xb, yb = data.x_train[:bs].to(dtype), data.y_train[:bs]
        losses = [e.step(xb, yb, lr).item() for e in (fast, ref, auto)]
        assert math.isclose(losses[0], losses[1], rel_tol=tol) and math.isclose(losses[0], losses[2], rel_tol=tol)
    s_fast, s_ref, s_auto = fast.state(), ref.state(), auto.state()
    assert set(s_fast) == set(s_ref) == set(s_auto)
    assert any(k.startswith("momentum.") for k in s_fast) == bool(momentum)
    for k, v in s_fast.items():
        assert v.shape == s_ref[k].shape and v.dtype == dtype
        assert not torch.equal(v, start[k]), f"{k} did not move"
        assert max_rel(v, s_ref[k]) <= tol, k
        assert max_rel(v, s_auto[k]) <= tol, k


@pytest.mark.parametrize("loss,lr", [("ce", 0.05), ("mse", 0.005)])
def test_two_epochs_mean_losses_agree(loss, lr):
    cfg = TrainConfig(nh=(50,), loss=loss, epochs=2, bs=32, lr=lr, momentum=0.9, weight_decay=5e-4,
                      lr_schedule="onecycle")
    data = small_data()
    fast, ref, auto = (fit(e, data, cfg).epochs for e in three(cfg))
    assert len(fast) == len(ref) == len(auto) == 2
    for f, r, a in zip(fast, ref, auto, strict=True):
        assert abs(f.train_loss - a.train_loss) <= 2e-3 and abs(f.train_loss - r.train_loss) <= 2e-3
        assert abs(f.valid_acc - a.valid_acc) <= 0.01
    assert fast[1].train_loss < fast[0].train_loss


def autograd_grads(params: dict[str, torch.Tensor], x, y, loss: str):
    """Loss and parameter gradients of the same model written with torch ops and differentiated by autograd."""
    p = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    out, n = x, len(p) // 2
    for i in range(1, n + 1):
        out = out @ p[f"lin{i}.w"] + p[f"lin{i}.b"]
        out = out.relu() if i < n else out
    value = F.cross_entropy(out, y) if loss == "ce" else F.mse_loss(out[:, 0], y.to(out.dtype))
    value.backward()
    return value.detach(), {k: v.grad for k, v in p.items()}


@settings(max_examples=30, deadline=None)
@given(bs=st.integers(1, 17), n_in=st.integers(1, 13), nh=st.lists(st.integers(1, 9), max_size=3),
       loss=st.sampled_from(["ce", "mse"]), seed=st.integers(0, 2**16))
def test_plain_gradients_match_autograd_float64(bs, n_in, nh, loss, seed):
    g = torch.Generator().manual_seed(seed)
    model = make(tuple(nh), loss, torch.float64, seed, n_in)
    engine = FusedEngine(model, TrainConfig(loss=loss, momentum=0.9))
    state = {k: v + (torch.randn(v.shape, generator=g, dtype=v.dtype) if k.endswith(".b") else 0)
             for k, v in engine.state().items() if not k.startswith("momentum.")}  # non-zero biases
    engine.load_state(state)
    before = {k: v.clone() for k, v in engine.state().items()}
    x = torch.randn(bs, n_in, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (bs,), generator=g)
    loss_f, grads = engine.grads(x, y)
    loss_a, grads_a = autograd_grads(state, x, y, loss)
    assert math.isclose(loss_f.item(), loss_a.item(), rel_tol=1e-12, abs_tol=1e-14)
    assert set(grads) == set(grads_a)
    for k, ga in grads_a.items():
        assert grads[k].shape == ga.shape
        torch.testing.assert_close(grads[k], ga, rtol=1e-10, atol=1e-12)
    assert all(torch.equal(v, before[k]) for k, v in engine.state().items()), "grads() must not update"


def test_predict_and_load_state_round_trip():
    cfg = TrainConfig(nh=(20, 10), momentum=0.9)
    data = small_data()
    fast, ref, _ = three(cfg)
    ref.step(data.x_train[:32], data.y_train[:32], 0.1)
    fast.load_state(ref.state())
    for k, v in ref.state().items():
        assert torch.equal(fast.state()[k], v), k
    torch.testing.assert_close(fast.predict(data.x_valid), ref.predict(data.x_valid), rtol=1e-6, atol=1e-6)
    with pytest.raises(KeyError):
        fast.load_state({"lin1.w": ref.state()["lin1.w"]})  # a parameter missing: refused


def test_fast_step_never_builds_a_graph():
    cfg = TrainConfig(nh=(20,), momentum=0.9)
    data = small_data()
    fast = FusedEngine(make(cfg.nh, cfg.loss), cfg)
    loss = fast.step(data.x_train[:32], data.y_train[:32], 0.1)
    tensors = [loss, *fast.state().values()] + [t for b in fast.bufs.values() for t in (*b.out, *b.g)]
    assert all(not t.requires_grad and t.grad_fn is None for t in tensors)


class Recording(Callback):
    def __init__(self):
        self.seen: list[tuple[int, float]] = []

    def batch_end(self, i, loss):
        self.seen.append((i, loss))


def test_batched_loss_read_back_matches_per_step(monkeypatch):
    """The every-k-steps loss read-back (used off the CPU) reports the same batches, values and sums."""
    cfg = TrainConfig(nh=(16,), epochs=1, bs=100, lr=0.05)  # 12 batches: 7 + 5 with k = 7
    data = small_data()
    per_step, batched = Recording(), Recording()
    a = fit(FusedEngine(make(cfg.nh, cfg.loss), cfg), data, cfg, [per_step])
    monkeypatch.setattr(train_mod, "sync_every", lambda device: 7)
    b = fit(FusedEngine(make(cfg.nh, cfg.loss), cfg), data, cfg, [batched])
    assert [i for i, _ in batched.seen] == list(range(12)) and batched.seen == per_step.seen
    assert a.epochs[0].train_loss == b.epochs[0].train_loss


@pytest.mark.parametrize("every", [7, 50])
def test_non_finite_loss_names_its_step_when_read_back_late(monkeypatch, every):
    monkeypatch.setattr(train_mod, "sync_every", lambda device: every)
    cfg = TrainConfig(nh=(50,), loss="mse", epochs=1, bs=32, lr=10.0)
    with pytest.raises(TrainingError) as e1:
        fit(FusedEngine(make(cfg.nh, cfg.loss), cfg), small_data(), cfg)
    monkeypatch.setattr(train_mod, "sync_every", lambda device: 1)
    with pytest.raises(TrainingError) as e2:
        fit(FusedEngine(make(cfg.nh, cfg.loss), cfg), small_data(), cfg)
    assert "learning rate" in str(e1.value) and str(e1.value) == str(e2.value)


# ------------------------------------------------- mistakes found by `make mutants`, each named in its docstring


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_buffers_live_on_the_model_device_whatever_the_default_device(momentum):
    """Mistake: the flat parameter tensor or a batch buffer (activations, gradients, the ones vector, the -1 row)
    allocated without device=...: it would land on the default device (torch.set_default_device) instead of the
    model's."""
    cfg = TrainConfig(nh=(8,), momentum=momentum)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(6, 10, generator=g), torch.randint(0, 10, (6,), generator=g)
    plain = FusedEngine(make(cfg.nh, cfg.loss, n_in=10), cfg)
    loss = plain.step(x, y, 0.1)
    model = make(cfg.nh, cfg.loss, n_in=10)
    with torch.device("meta"):  # meta: a default device other than the model's, on any build
        moved = FusedEngine(model, cfg)
        loss_moved = moved.step(x, y, 0.1)
    buf = moved.bufs[6]
    assert {t.device.type for t in (moved.flat, *buf.out, *buf.g, buf.ones, buf.neg)} == {"cpu"}
    assert torch.equal(loss_moved, loss)
    for k, v in plain.state().items():
        assert torch.equal(moved.state()[k], v), k


def test_state_is_contiguous_copies_sharing_no_memory():
    """Mistake: clone() without memory_format=contiguous keeps the transposed strides of the w.T views:
    safetensors refuses to save non-contiguous tensors, so every checkpoint of the manual engine would fail."""
    cfg = TrainConfig(nh=(8, 4), momentum=0.9)
    fast = FusedEngine(make(cfg.nh, cfg.loss, n_in=10), cfg)
    state = fast.state()
    assert all(v.is_contiguous() for v in state.values()), [k for k, v in state.items() if not v.is_contiguous()]
    live = {t.untyped_storage().data_ptr() for t in (fast.flat, fast.mom)}
    assert not {v.untyped_storage().data_ptr() for v in state.values()} & live
