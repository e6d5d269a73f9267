"""Mistakes in nn.py that the autograd comparisons cannot see (found by `make mutants`): devices, dtypes, defaults.

Every test names the mistake it catches. The device tests use the "meta" device, which exists on every build:
a tensor that lands on the default device instead of the one asked for shows up there without a GPU.
"""

import pytest
import torch

from mnist_scratch.lesson.nn import CrossEntropy, Lin, Relu, kaiming_normal, make_model


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_kaiming_normal_draws_on_the_generator_device_whatever_the_default_device():
    """Mistake: torch.empty without device=generator.device, i.e. drawing on the default device.

    With torch.set_default_device("cuda") (or any other) a CPU generator would then be asked to fill a tensor
    elsewhere: an error, or other numbers than the same seed gives on a plain setup.
    """
    plain = kaiming_normal(6, 4, generator=gen(5))
    with torch.device("meta"):  # the default device for factory calls inside the block
        w = kaiming_normal(6, 4, generator=gen(5))
    assert w.device.type == "cpu" and torch.equal(w, plain)


def test_kaiming_normal_and_make_model_put_every_parameter_on_the_requested_device():
    """Mistake: dropping `.to(device)` or `device=device` (weights or zero biases left on the generator's device)."""
    assert kaiming_normal(6, 4, generator=gen(0), device="meta").device.type == "meta"
    m = make_model((5, 3), "ce", generator=gen(0), device="meta", n_in=6)
    assert [(n, p.device.type) for n, p in m.params()] == [(n, "meta") for n, _ in m.params()]


def test_cross_entropy_rule_indexes_rows_on_the_logits_device():
    """Mistake: torch.arange(bs) without device=inp.device: the row index would live on the default device."""
    g = gen(1)
    logits, targ = torch.randn(4, 10, generator=g), torch.tensor([0, 3, 9, 3])
    expected = torch.softmax(logits, 1)
    expected[range(4), targ] -= 1.0
    ce = CrossEntropy()
    ce(logits, targ)
    with torch.device("meta"):  # a CUDA default device with the model on the CPU, or the reverse
        ce.backward()
    assert logits.g.device.type == "cpu" and torch.allclose(logits.g, expected / 4)


def test_mse_keeps_the_model_dtype_whatever_the_label_dtype():
    """Mistake: targ not cast to inp.dtype. float64 digit values against a float32 model would promote the loss
    and its gradient to float64, and the next Lin.bwd would fail on a float64 @ float32 product."""
    g = gen(2)
    m = make_model((8,), "mse", generator=g, n_in=5)  # float32
    x, targ = torch.randn(6, 5, generator=g), torch.randint(0, 10, (6,), generator=g).to(torch.float64)
    loss = m(x, targ)
    m.backward(input_grad=True)
    assert loss.dtype == torch.float32 and m.layers[-1].out.g.dtype == torch.float32
    assert all(p.g.dtype == torch.float32 for _, p in m.params()) and x.g.dtype == torch.float32


@pytest.mark.parametrize("layer", [Lin(torch.randn(3, 2, generator=gen(3)), torch.zeros(2)), Relu()])
def test_a_rule_called_directly_fills_the_input_gradient_by_default(layer):
    """Mistake: bwd's inp_g defaulting to False. Module.backward always passes it, but a rule called by hand
    (the way the lesson, a learner or a checker calls one) must honour the documented default: input gradient on."""
    inp = torch.randn(4, 3, generator=gen(4))
    out = layer(inp)
    out.g = torch.ones_like(out)
    layer.bwd(out, inp)
    assert hasattr(inp, "g") and inp.g.shape == inp.shape


def test_make_model_rejects_an_unknown_loss_by_name():
    """Mistake: a ValueError without its message: the error must say which losses exist and what was given."""
    with pytest.raises(ValueError, match=r"loss must be 'ce' or 'mse', got 'hinge'"):
        make_model((4,), "hinge", generator=gen(0))

