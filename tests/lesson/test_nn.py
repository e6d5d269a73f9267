"""The hand-written backward rules against autograd (float64, random shapes), He init, the no-autograd contract."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_scratch.lesson.nn import CrossEntropy, Lin, Model, Mse, Relu, kaiming_normal, make_model

F64 = torch.float64


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """float64 agreement: rtol 1e-10, atol 1e-12 times the tensor's scale above 1."""
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-10, atol=1e-12 * max(1.0, b.abs().max().item()))


def leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone().requires_grad_()


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


shapes = st.tuples(st.integers(1, 12), st.integers(1, 20), st.integers(1, 20))  # bs, n_in, n_out


@settings(max_examples=30, deadline=None)
@given(shapes, st.integers(0, 2**31 - 1))
def test_lin_backward_matches_autograd(shape, seed):
    bs, n_in, n_out = shape
    g = gen(seed)
    inp, w, b = (torch.randn(*s, generator=g, dtype=F64) for s in ((bs, n_in), (n_in, n_out), (n_out,)))
    out_g = torch.randn(bs, n_out, generator=g, dtype=F64)
    lin = Lin(w, b)
    out = lin(inp)
    out.g = out_g
    lin.backward()
    ri, rw, rb = leaf(inp), leaf(w), leaf(b)
    ref = F.linear(ri, rw.T, rb)  # torch's own layer, on the lesson's (n_in, n_out) layout
    ref.backward(out_g)
    assert close(out, ref.detach())
    assert close(w.g, rw.grad) and close(b.g, rb.grad) and close(inp.g, ri.grad)
    # the efficient weight gradient is the lesson's sum over the batch of outer products
    assert close(w.g, (inp[:, :, None] * out_g[:, None, :]).sum(0))


def test_lin_skips_the_input_gradient_when_asked():
    g = gen(0)
    inp, lin = torch.randn(4, 3, generator=g), Lin(torch.randn(3, 2, generator=g), torch.zeros(2))
    lin(inp).g = torch.ones(4, 2)
    lin.backward(inp_g=False)
    assert not hasattr(inp, "g") and lin.w.g.shape == (3, 2) and lin.b.g.shape == (2,)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.integers(1, 30), st.integers(0, 2**31 - 1))
def test_relu_backward_matches_autograd(bs, n, seed):
    g = gen(seed)
    inp = torch.randn(bs, n, generator=g, dtype=F64)
    inp[0, 0] = 0.0  # the kink: both sides give 0 there
    out_g = torch.randn(bs, n, generator=g, dtype=F64)
    relu = Relu()
    relu(inp).g = out_g
    relu.backward()
    ri = leaf(inp)
    torch.relu(ri).backward(out_g)
    assert torch.equal(inp.g, ri.grad)
    assert inp.g[0, 0] == 0 and torch.equal(inp.g[inp < 0], torch.zeros_like(inp[inp < 0]))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 16), st.integers(0, 2**31 - 1), st.sampled_from([1.0, 30.0]))
def test_losses_backward_match_autograd(bs, seed, scale):
    g = gen(seed)
    targ = torch.randint(0, 10, (bs,), generator=g)
    logits = scale * torch.randn(bs, 10, generator=g, dtype=F64)
    ce = CrossEntropy()
    assert close(ce(logits, targ), F.cross_entropy(logits, targ))
    ce.backward()
    rl = leaf(logits)
    F.cross_entropy(rl, targ).backward()
    assert close(logits.g, rl.grad)

    out = scale * torch.randn(bs, 1, generator=g, dtype=F64)
    mse = Mse()
    assert close(mse(out, targ), F.mse_loss(out[:, 0], targ.to(F64)))
    mse.backward()
    ro = leaf(out)
    F.mse_loss(ro[:, 0], targ.to(F64)).backward()
    assert close(out.g, ro.grad)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = torch.tensor([[1000.0, -1000.0, 0.0], [-1e4, 1e4, 0.0]], dtype=torch.float32)
    targ = torch.tensor([0, 0])
    ce = CrossEntropy()
    loss = ce(logits, targ)
    ce.backward()
    assert torch.isfinite(loss) and loss.item() == pytest.approx(1e4, rel=1e-6)
    assert torch.isfinite(logits.g).all()
    assert torch.allclose(logits.g, torch.tensor([[0.0, 0.0, 0.0], [-0.5, 0.5, 0.0]]))


def reference(model: Model, x: torch.Tensor, targ: torch.Tensor):
    """The same network written with torch.nn.functional, differentiated by autograd."""
    params = {n: leaf(p) for n, p in model.params()}
    xr, acts = leaf(x), []
    h = xr
    n_lin = len(params) // 2
    for i in range(1, n_lin + 1):
        h = F.linear(h, params[f"lin{i}.w"].T, params[f"lin{i}.b"])
        acts.append(h)
        if i < n_lin:
            h = F.relu(h)
            acts.append(h)
    for a in acts:
        a.retain_grad()
    if isinstance(model.loss, Mse):
        loss = F.mse_loss(h[:, 0], targ.to(h.dtype))
    else:
        loss = F.cross_entropy(h, targ)
    loss.backward()
    return loss.detach(), {n: p.grad for n, p in params.items()}, [xr.grad] + [a.grad for a in acts]


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 10),
    st.integers(1, 20),
    st.lists(st.integers(1, 16), min_size=1, max_size=3),
    st.sampled_from(["ce", "mse"]),
    st.integers(0, 2**31 - 1),
)
def test_model_backward_matches_autograd(bs, n_in, nh, loss, seed):
    g = gen(seed)
    model = make_model(tuple(nh), loss, generator=g, dtype=F64, n_in=n_in)
    for _, p in model.params():  # non-zero biases, non-He scales: nothing hides behind zeros
        p.copy_(torch.randn(p.shape, generator=g, dtype=F64) * 0.7)
    x = torch.randn(bs, n_in, generator=g, dtype=F64)
    targ = torch.randint(0, 10, (bs,), generator=g)
    with torch.no_grad():
        out = model(x, targ)
        model.backward(input_grad=True)
    ref_loss, ref_grads, ref_acts = reference(model, x, targ)
    assert close(out, ref_loss)
    for n, p in model.params():
        assert close(p.g, ref_grads[n]), n
    inters = model.intermediates()
    assert [n for n, _ in inters][:2] == ["x", "lin1.out"] and len(inters) == len(ref_acts) == 2 * len(nh) + 2
    for (n, t), r in zip(inters, ref_acts, strict=True):
        assert close(t.g, r), n


def test_make_model_contract():
    m = make_model((100, 50), "ce", generator=gen(0))
    assert [n for n, _ in m.params()] == ["lin1.w", "lin1.b", "lin2.w", "lin2.b", "lin3.w", "lin3.b"]
    assert [tuple(p.shape) for _, p in m.params()] == [(784, 100), (100,), (100, 50), (50,), (50, 10), (10,)]
    assert all((p == 0).all() for n, p in m.params() if n.endswith(".b"))
    assert [type(l) for l in m.layers] == [Lin, Relu, Lin, Relu, Lin] and isinstance(m.loss, CrossEntropy)
    mse = make_model((50,), "mse", generator=gen(0), dtype=F64)
    assert isinstance(mse.loss, Mse) and mse.params()[-2][1].shape == (50, 1)
    assert all(p.dtype == F64 for _, p in mse.params())
    assert mse.predict(torch.randn(3, 784, dtype=F64)).shape == (3, 1)
    with pytest.raises(ValueError):
        make_model((50,), "hinge", generator=gen(0))


def test_same_seed_same_model_other_seed_other_model():
    a, b, c = (make_model((30, 20), "ce", generator=gen(s)) for s in (7, 7, 8))
    assert all(torch.equal(p, q) for (_, p), (_, q) in zip(a.params(), b.params(), strict=True))
    assert not torch.equal(a.params()[0][1], c.params()[0][1])


def test_backward_leaves_input_alone_unless_asked():
    m = make_model((8,), "ce", generator=gen(0), n_in=5)
    x, targ = torch.randn(4, 5), torch.tensor([0, 1, 2, 3])
    m(x, targ)
    m.backward()
    assert not hasattr(x, "g") and all(p.g.shape == p.shape for _, p in m.params())
    m(x, targ)
    m.backward(input_grad=True)
    assert x.g.shape == x.shape


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode", "grad_enabled"])
def test_training_path_keeps_nothing_requiring_grad(mode):
    ctx = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode, "grad_enabled": torch.enable_grad}[mode]
    g = gen(0)
    m = make_model((20, 10), "ce", generator=g, n_in=30)
    x, targ = torch.randn(16, 30, generator=g), torch.randint(0, 10, (16,), generator=g)
    with ctx():
        loss = m(x, targ)
        m.backward(input_grad=True)
        for _, p in m.params():
            p.sub_(0.1 * p.g)  # the SGD step
    tensors = [loss] + [t for _, t in m.params()] + [t for _, t in m.intermediates()]
    tensors += [t.g for t in tensors[1:]]
    assert all(not t.requires_grad and t.grad_fn is None and t.grad is None for t in tensors)


def test_kaiming_normal_statistics():
    w = kaiming_normal(2000, 500, generator=gen(0), dtype=F64)  # 1e6 draws: std's standard error ~0.07%
    assert w.shape == (2000, 500) and w.dtype == F64
    assert abs(w.mean().item()) < 5 * math.sqrt(2 / 2000) / 1000
    assert w.std().item() == pytest.approx(math.sqrt(2 / 2000), rel=0.005)
    # He keeps a ReLU layer's second moment: relu(x @ w) for x ~ N(0, 1) has mean sqrt(1/pi), E[a^2] = 1
    w1 = kaiming_normal(784, 1000, generator=gen(1))
    a = torch.relu(torch.randn(2000, 784, generator=gen(2)) @ w1)
    assert a.mean().item() == pytest.approx(math.sqrt(1 / math.pi), rel=0.02)
    assert a.pow(2).mean().item() == pytest.approx(1.0, rel=0.03)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_kaiming_normal_matches_torch_fan_out(dtype):
    ours = kaiming_normal(784, 50, generator=gen(3), dtype=dtype)
    theirs = torch.nn.init.kaiming_normal_(torch.empty(784, 50, dtype=dtype), mode="fan_out", generator=gen(3))
    assert torch.equal(ours, theirs)  # same draws from the same seed, not just the same distribution
    fan_in = torch.nn.init.kaiming_normal_(torch.empty(784, 50, dtype=F64), mode="fan_in", generator=gen(3))
    assert fan_in.std().item() == pytest.approx(math.sqrt(2 / 50), rel=0.05)  # the wrong mode: 4x too wide
    assert ours.std().item() == pytest.approx(math.sqrt(2 / 784), rel=0.05)


def test_kaiming_normal_is_reproducible_and_seed_dependent():
    a, b, c = (kaiming_normal(10, 4, generator=gen(s)) for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)
