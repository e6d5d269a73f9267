"""The grading toolkit: the graded shapes and inputs, Failed, and Ctx calling learner code and comparing one tensor.

Every rule's verdict goes through Ctx.call (their exceptions and endless loops become verdicts, their prints are kept
aside), Ctx.call_watching (writing into an input is a mistake) and Ctx.expect (float64 round-off, or float32's when
they computed in float32; anything else is diagnosed).
"""

import pytest
import torch

from mnist_scratch.grader.core import CASES, KINK_MARGIN, Case, Ctx, Failed, away_from_kink, tensors
from mnist_scratch.grader.sandbox import learner_frames


def ctx(seconds=10.0):
    return Ctx(seconds, learner_frames(None))


def failed(fn, *args, **kw):
    with pytest.raises(Failed) as e:
        fn(*args, **kw)
    f = e.value
    return f.status, f.hint, f.key


# ------------------------------------------------------------------ cases and inputs


def test_the_graded_cases():
    """bs 7 first (its ratios are what the diagnosis reads), then 1 and 32; n_in != n_out so a transpose shows."""
    assert CASES == (Case(7, 6, 4), Case(1, 5, 3), Case(32, 10, 3))


def test_away_from_kink_pushes_entries_near_0_out_to_the_margin_on_their_side():
    x = torch.tensor([-0.5, -5e-4, -0.0, 0.0, 2e-4, 9e-4, 1e-3, 0.3], dtype=torch.float64)
    got = away_from_kink(x)
    def f32(v):  # the margin lands as a float32 scalar (torch.where's Python-number branches)
        return torch.tensor(v, dtype=torch.float32).item()

    m = f32(KINK_MARGIN)
    assert got.tolist() == [-0.5, -m, m, m, m, m, 1e-3, 0.3]  # 0 (and -0) go up: a ReLU input of 0 counts as off
    m = f32(0.1)
    assert KINK_MARGIN == 1e-3 and away_from_kink(x, 0.1).tolist() == [-0.5, -m, m, m, m, m, m, 0.3]


def test_inputs_are_fixed_by_the_seed_alone():
    """A learner re-running check must see the same verdict: no draw from torch's global generator."""
    a = tensors(CASES[0], 3)
    torch.manual_seed(1234)
    torch.randn(10)
    b = tensors(CASES[0], 3)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    c = tensors(CASES[0], 4)
    assert all(not torch.equal(a[k], c[k]) for k in ("inp", "w", "b", "logits"))


def test_inputs_have_their_shapes_and_dtypes():
    t = tensors(Case(7, 6, 4), 0)
    shapes = {k: (tuple(v.shape), v.dtype) for k, v in t.items()}
    f64 = torch.float64
    assert shapes == {"inp": ((7, 6), f64), "w": ((6, 4), f64), "b": ((4,), f64), "upstream": ((7, 4), f64),
                      "pre": ((7, 4), f64), "up_h": ((7, 4), f64), "out1": ((7, 1), f64), "targ": ((7,), f64),
                      "logits": ((7, 10), f64), "labels": ((7,), torch.int64)}


def big():
    """One large case: enough entries (300 at least) to read each input's mean and spread.

    Drawn in each test, never cached: a value cached in the process would outlive a change to tensors()."""
    return tensors(Case(400, 30, 300), 0)


@pytest.mark.parametrize("name,mean,std", [
    ("inp", 0.0, 1.5), ("w", 0.0, 0.7), ("b", 0.3, 0.5), ("upstream", 0.0, 0.3), ("pre", 0.0, 1.2),
    ("up_h", 0.0, 0.4), ("out1", 4.0, 2.0), ("logits", 0.0, 2.0),
])
def test_inputs_have_non_unit_scales_and_shifted_biases(name, mean, std):
    """Non-unit scales and a non-zero bias mean: a missing factor or an ignored bias cannot hide behind 1 or 0."""
    v = big()[name]
    assert abs(v.mean().item() - mean) < 0.15 * std and abs(v.std().item() / std - 1) < 0.15


def test_pre_activations_stay_off_the_kink_and_labels_cover_every_class():
    t = big()
    assert t["pre"].abs().min() >= KINK_MARGIN
    assert set(t["labels"].tolist()) == set(range(10)) and set(t["targ"].tolist()) == set(map(float, range(10)))


# ------------------------------------------------------------------ Failed


def test_failed_carries_its_verdict_and_says_its_hint():
    f = Failed("wrong", "w.g is wrong", "values", max_rel=0.5, traceback=("File x",))
    assert (f.status, f.hint, f.key, f.max_rel, f.traceback) == ("wrong", "w.g is wrong", "values", 0.5, ("File x",))
    assert str(f) == "w.g is wrong"


def test_failed_defaults_to_no_hint_no_key_nothing_compared():
    f = Failed("error")
    assert (f.hint, f.key, f.max_rel, f.traceback, str(f)) == ("", "", None, (), "")


# ------------------------------------------------------------------ Ctx.call


def test_call_returns_the_value_and_keeps_prints_aside(capsys):
    c = ctx()

    def relu(x):
        print("debugging", x)
        return x + 1

    assert c.call(relu, 1) == 2
    assert c.stdout.getvalue() == "debugging 1\n" and capsys.readouterr().out == ""


def test_call_of_a_stub_is_not_implemented():
    def relu(x):
        raise NotImplementedError

    assert failed(ctx().call, relu, 1) == ("not implemented", "still raises NotImplementedError", "not_implemented")


def test_call_of_an_endless_loop_is_a_timeout_error():
    def relu(x):
        while True:
            pass

    assert failed(ctx(0.2).call, relu, 1) == ("error", "timed out after 0.2s (an endless loop?)", "timeout")


def test_call_that_raises_is_an_error_with_their_traceback():
    def relu(x):
        return x.nonexistent()

    with pytest.raises(Failed) as e:
        ctx().call(relu, torch.ones(2))
    f = e.value
    assert (f.status, f.key) == ("error", "exception")
    assert f.hint == "AttributeError: 'Tensor' object has no attribute 'nonexistent'" == f.traceback[-1]
    assert f.traceback[-2] == "    return x.nonexistent()"


# ------------------------------------------------------------------ Ctx.call_watching


def test_writing_into_an_input_is_wrong_even_when_the_result_is_right():
    def relu(x):
        return x.clamp_min_(0)

    x = torch.tensor([-1.0, 2.0])
    assert failed(ctx().call_watching, relu, x, watch={"x": x}) == (
        "wrong", "x is modified in place: it is the caller's tensor, and the backward pass reads it again; compute "
                 "into a new tensor instead", "inplace")


def test_writing_into_an_upstream_gradient_is_wrong_for_its_own_reason():
    def relu_grad(inp, out):
        out.g[inp <= 0] = 0.0
        inp.g = out.g

    inp, out = torch.tensor([-1.0, 2.0]), torch.tensor([0.0, 2.0])
    out.g = torch.ones(2)
    assert failed(ctx().call_watching, relu_grad, inp, out, watch={"inp": inp, "out.g": out.g}) == (
        "wrong", "out.g is modified in place: it is the gradient of another tensor and must stay right for whoever "
                 "reads it next; compute into a new tensor instead", "inplace")


def test_reading_inputs_without_writing_is_fine():
    x = torch.tensor([-1.0, 2.0])
    assert torch.equal(ctx().call_watching(lambda x: x.clamp_min(0), x, watch={"x": x}), torch.tensor([0.0, 2.0]))
