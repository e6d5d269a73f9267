"""Ctx.expect (one tensor against the right one) and fd_confirm (finite differences as a second opinion).

expect passes float64 results to float64 round-off (1e-8) and float32/16 ones to float32's (1e-5), converts a
number or list to a tensor, and raises the diagnosis otherwise. fd_confirm probes six seeded entries of each
parameter with central differences, one-sided beside a ReLU kink, and fails with the figure it found.
"""

import math

import pytest
import torch

from mnist_scratch.grader.core import FD_SAMPLES, Ctx, Failed, fd_confirm
from mnist_scratch.grader.sandbox import learner_frames

WANT = torch.tensor([[0.5, -1.25], [2.0, 4.0]], dtype=torch.float64)


def verdict(got, want=WANT, label="w.g", **kw):
    """(status, key, hint, max_rel) of expect, or "pass" and the worst difference kept."""
    c = Ctx(10.0, learner_frames(None))
    try:
        c.expect(label, got, want, bs=kw.pop("bs", 7), **kw)
    except Failed as f:
        return f.status, f.key, f.hint, f.max_rel
    return "pass", c.worst


# ------------------------------------------------------------------ Ctx.expect


def test_float64_passes_to_round_off_and_records_the_worst_difference():
    status, worst = verdict(WANT * (1 + 5e-9))
    assert status == "pass" and worst == pytest.approx(5e-9, rel=1e-3)


def test_float64_off_by_1e_7_is_wrong():
    """A float64 rule must be exact to round-off: 1e-7 relative is a wrong value, not noise."""
    assert verdict(WANT * (1 + 1e-7))[:2] == ("wrong", "values")
    # 5e-6 off everywhere is a constant factor past round-off, printed to 4 digits: it reads as "1×"
    assert verdict(WANT * (1 + 5e-6))[:3] == ("wrong", "scale", "w.g is 1× the right answer: a wrong constant factor")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_a_low_precision_result_gets_float32_tolerance(dtype):
    """The learner computed in float32 (torch's default): round-off of 1e-5 relative passes."""
    got = (WANT * (1 + 5e-6)).to(dtype) if dtype == torch.float32 else torch.tensor([[0.5, -1.25], [2.0, 4.0]],
                                                                                    dtype=dtype)
    assert verdict(got)[0] == "pass"


def test_float32_beyond_its_round_off_is_diagnosed():
    assert verdict((WANT * (1 + 3e-5)).float())[:2] == ("wrong", "scale")
    assert verdict((2 * WANT).float())[:3] == ("wrong", "double", "w.g is twice the right answer: a factor 2 too many")


def test_a_python_number_is_compared_in_float64():
    """mse returning loss.item(): a float is accepted, converted without losing digits."""
    want = torch.tensor(1 / 3, dtype=torch.float64)
    status, worst = verdict(1 / 3, want, label="mse(output, targ)")
    assert status == "pass" and worst == 0.0


def test_a_list_is_compared_as_a_tensor():
    assert verdict(WANT.tolist())[0] == "pass"
    assert verdict((-WANT).tolist())[:2] == ("wrong", "sign")


@pytest.mark.parametrize("got,name", [("0.5", "str"), ({"w": 1}, "dict"), (object(), "object")])
def test_something_that_is_not_a_tensor(got, name):
    assert verdict(got, label="lin(x, w, b)") == ("wrong", "type", f"lin(x, w, b) is a {name}, not a tensor", None)


def test_nothing_stored_is_unset_infinitely_off():
    assert verdict(None) == ("wrong", "unset", "w.g is never set: the rule must store its gradient in w.g", math.inf)


def test_a_wrong_value_carries_its_max_relative_difference():
    status, key, hint, rel = verdict(WANT * 7, bs=7)
    assert (status, key) == ("wrong", "missing_bs") and rel == pytest.approx(6.0)


def test_the_role_and_candidates_reach_the_diagnosis():
    b = WANT[0]
    assert verdict(b / 7, b, label="b.g", role="bias")[1] == "bias_mean"
    assert verdict(b / 7, b, label="b.g")[1] == "extra_bs"  # no role: not the bias' mean
    assert verdict(None, b, label="b.g", returned=b.clone())[1] == "returned"
    from mnist_scratch.grader.diagnose import Diagnosis

    mine = Diagnosis("no_bias", "the bias is not added: x @ w + b")
    assert verdict(b * 3, b, candidates=((b * 3, mine),))[1:3] == ("no_bias", "the bias is not added: x @ w + b")


# ------------------------------------------------------------------ fd_confirm


C = torch.tensor([0.0, 100.0, -3.0, 0.5, 1.0, 2.0, -7.0, 0.25], dtype=torch.float64)  # d loss / d p, by entry


def linear(p):
    """loss = C . p: its gradient is C exactly, and central differences find it to round-off."""
    return lambda: (C * p).sum().item()


def test_fd_confirm_accepts_the_right_gradient():
    p = torch.zeros(8, dtype=torch.float64)
    fd_confirm(linear(p), {"w.g": (p, C.clone())}, seed=0)  # no Failed


def test_fd_confirm_rejects_a_doubled_gradient_with_the_figure():
    p = torch.zeros(8, dtype=torch.float64)
    with pytest.raises(Failed) as e:
        fd_confirm(linear(p), {"w.g": (p, 2 * C)}, seed=0)
    f = e.value
    assert (f.status, f.key, f.hint) == ("wrong", "fd", "w.g disagrees with central finite differences (max rel diff "
                                                        "1.00e+00)")
    assert f.max_rel == pytest.approx(1.0, rel=1e-6)


def test_fd_confirm_probes_six_entries_chosen_by_the_seed_alone():
    """Reproducible: the same entries for the same seed whatever torch's global generator did in between."""
    def probed(seed):
        p, seen = torch.zeros(8, dtype=torch.float64), set()

        def loss():
            seen.update(torch.nonzero(p).flatten().tolist())
            return (C * p).sum().item()

        torch.manual_seed(seed + 99)
        fd_confirm(loss, {"w.g": (p, C.clone())}, seed=seed)
        return seen

    want = set(torch.randperm(8, generator=torch.Generator().manual_seed(0))[:FD_SAMPLES].tolist())
    assert FD_SAMPLES == 6 and probed(0) == want == probed(0)
    assert probed(1) == set(torch.randperm(8, generator=torch.Generator().manual_seed(1))[:FD_SAMPLES].tolist())


@pytest.mark.parametrize("scale,err,ok", [
    (1.0, 0.5e-7, True),  # atol is 1e-7 where the gradient is at most 1 in size
    (1.0, 1.5e-7, False),
    (100.0, 0.5e-5, True),  # and grows with the largest difference found: 1e-7 * 100
    (100.0, 1.5e-5, False),
])
def test_fd_confirm_absolute_tolerance_follows_the_gradients_size(scale, err, ok):
    """Entry 0 has a zero gradient; an error there is judged against atol = 1e-7 * max(1, max |numeric|)."""
    c = torch.tensor([0.0, scale], dtype=torch.float64)
    p = torch.zeros(2, dtype=torch.float64)
    ana = torch.tensor([err, scale], dtype=torch.float64)
    run = lambda: fd_confirm(lambda: (c * p).sum().item(), {"w.g": (p, ana)}, seed=0)  # noqa: E731
    if ok:
        run()
    else:
        with pytest.raises(Failed):
            run()


@pytest.mark.parametrize("rel,ok", [(5e-5, True), (2e-4, False)])
def test_fd_confirm_relative_tolerance_is_1e_4(rel, ok):
    """Differences carry O(h²) and round-off error: 5e-5 relative still agrees, 2e-4 does not."""
    p = torch.zeros(8, dtype=torch.float64)
    ana = C * (1 + rel)
    if ok:
        fd_confirm(linear(p), {"w.g": (p, ana)}, seed=0)
    else:
        with pytest.raises(Failed):
            fd_confirm(linear(p), {"w.g": (p, ana)}, seed=0)


def test_fd_confirm_at_a_relu_input_of_exactly_0_takes_the_off_side():
    """relu at 0 is off (inputs > 0 are on), so the gradient there is 0, as the lesson's mask (inp > 0) gives."""
    p = torch.zeros(1, dtype=torch.float64)
    loss, relus = (lambda: p.clamp_min(0).sum().item()), (lambda: (p,))
    fd_confirm(loss, {"inp.g": (p, torch.zeros(1, dtype=torch.float64))}, seed=0, relus=relus)
    with pytest.raises(Failed):
        fd_confirm(loss, {"inp.g": (p, torch.ones(1, dtype=torch.float64))}, seed=0, relus=relus)


def test_fd_confirm_only_a_crossing_of_0_is_a_kink():
    """ReLU inputs sitting at 1 are no kink: the entry is still checked (a wrong gradient there fails)."""
    p = torch.ones(1, dtype=torch.float64)
    with pytest.raises(Failed):
        fd_confirm(lambda: (3 * p).sum().item(), {"w.g": (p, torch.ones(1, dtype=torch.float64))}, seed=0,
                   relus=lambda: (p, 2 - p))
