"""The cross-entropy rules graded end to end: log_softmax (also on logits that overflow exp), nll, and the gradient of
cross entropy w.r.t. the logits, each learner mistake with the exact verdict and hint it gets.
"""

import torch
import torch.nn.functional as F

from mnist_scratch.grader.core import CASES, tensors
from mnist_scratch.grader.grade import grade_rule
from mnist_scratch.grader.spec import BY_RULE

SOFTMAX_DIM = "softmax over the wrong dimension (the batch, dim 0): normalize each row, dim -1"
CE_DIM = "softmax over the wrong dimension (the batch, dim 0): each row of logits is normalized on its own, dim -1"
NO_ONEHOT = "missing - onehot: the gradient is (softmax - onehot) / bs"


def grade(name, fn):
    r = grade_rule(BY_RULE[name], fn, seconds=10)
    return r.status, r.key, r.hint


def onehot(inp, targ):
    return F.one_hot(targ, inp.shape[-1]).to(inp.dtype)


# ------------------------------------------------------------------ log_softmax


def test_log_softmax_with_the_max_shift_passes():
    r = grade_rule(BY_RULE["log_softmax"], lambda x: x - x.logsumexp(-1, keepdim=True), seconds=10)
    assert r.status == "pass" and r.max_rel < 1e-12


def test_log_softmax_without_the_max_shift_overflows_on_large_logits():
    """Fine on ordinary logits, inf - inf = nan once exp overflows: named for the large logits, as an overflow."""
    status, key, hint = grade("log_softmax", lambda x: x - x.exp().sum(-1, keepdim=True).log())
    assert (status, key) == ("wrong", "nonfinite")
    assert hint == ("log_softmax(x) for large logits holds inf or nan where the right answer is finite: an overflow "
                    "(exp of a large number? subtract the row max first, as logsumexp does)")


def test_log_softmax_is_tried_on_the_logits_and_on_them_times_400():
    """×400 puts logits of size ~5 far past exp's float64 range (~709): a missing max shift cannot hide."""
    seen = []

    def log_softmax(x):
        seen.append(x.clone())
        return x - x.logsumexp(-1, keepdim=True)

    assert grade("log_softmax", log_softmax)[0] == "pass"
    assert len(seen) == 2 * len(CASES)
    for k, case in enumerate(CASES):
        logits = tensors(case, k)["logits"]
        assert torch.equal(seen[2 * k], logits) and torch.equal(seen[2 * k + 1], logits * 400.0)
        assert seen[2 * k + 1].abs().max() > 709


def test_log_softmax_wrong_on_ordinary_logits_names_them_plainly():
    status, key, hint = grade("log_softmax", lambda x: x - x.exp().sum(-1, keepdim=True))
    assert (status, key) == ("wrong", "values") and hint.startswith("log_softmax(x) is wrong (max rel diff ")


def test_log_softmax_over_the_batch_dimension():
    assert grade("log_softmax", lambda x: x - x.logsumexp(0, keepdim=True)) == ("wrong", "softmax_dim", SOFTMAX_DIM)


def test_log_softmax_dim0_is_no_candidate_at_bs_1_where_it_is_all_zeros():
    """At bs == 1 log_softmax over dim 0 is all zeros: only the bs > 1 cases can call it the wrong dimension.

    A rule right on every batch but bs == 1, where it normalizes over dim 0, gives zeros there: 0 times the answer."""
    def log_softmax(x):
        return x - x.logsumexp(0 if x.shape[0] == 1 else -1, keepdim=True)

    assert grade("log_softmax", log_softmax) == (
        "wrong", "scale", "log_softmax(x) is 0× the right answer: a wrong constant factor")


def test_log_softmax_that_returns_nothing():
    """A forward rule that forgets `return` is told to return, not to "store its gradient"."""
    status, key, hint = grade("log_softmax", lambda x: None)
    assert (status, key, hint) == ("wrong", "unset", "log_softmax(x) gave None: the function must return its result")


def test_log_softmax_that_writes_into_its_input():
    def log_softmax(x):
        return x.sub_(x.logsumexp(-1, keepdim=True))

    assert grade("log_softmax", log_softmax) == (
        "wrong", "inplace", "x is modified in place: it is the caller's tensor, and the backward pass reads it again; "
                            "compute into a new tensor instead")


# ------------------------------------------------------------------ nll


def test_nll_one_entry_per_row_passes():
    r = grade_rule(BY_RULE["nll"], lambda input, target: -input[range(target.shape[0]), target].mean(), seconds=10)
    assert r.status == "pass" and r.max_rel < 1e-12


def test_nll_picking_a_block_is_the_broadcast_mistake():
    assert grade("nll", lambda input, target: -input[:, target].mean()) == (
        "wrong", "broadcast", "input[:, target] picks a (bs, bs) block: take one entry per row, "
                              "input[range(bs), target]")


def test_nll_summed_instead_of_averaged_is_a_missing_1_over_bs():
    status, key, hint = grade("nll", lambda input, target: -input[range(target.shape[0]), target].sum())
    assert (status, key) == ("wrong", "missing_bs") and hint.startswith("missing 1/bs: nll(input, target) is 7×")


def in_place(name):
    return ("wrong", "inplace", f"{name} is modified in place: it is the caller's tensor, and the backward pass "
                                "reads it again; compute into a new tensor instead")


def test_nll_that_writes_into_its_target():
    def nll(input, target):
        out = -input[range(target.shape[0]), target].mean()
        target.zero_()
        return out

    assert grade("nll", nll) == in_place("target")


def test_nll_that_writes_into_its_input():
    def nll(input, target):
        out = -input[range(target.shape[0]), target].mean()
        input.sub_(out)
        return out

    assert grade("nll", nll) == in_place("input")


def test_nll_is_given_log_probabilities_of_each_row():
    """nll's input is log_softmax over the classes (dim -1) of each case's logits: each row's probabilities sum to 1."""
    seen = []

    def nll(input, target):
        seen.append(input.clone())
        return -input[range(target.shape[0]), target].mean()

    assert grade("nll", nll)[0] == "pass"
    for k, (case, inp) in enumerate(zip(CASES, seen, strict=True)):
        assert torch.equal(inp, F.log_softmax(tensors(case, k)["logits"], -1))
        assert torch.allclose(inp.exp().sum(-1), torch.ones(case.bs, dtype=torch.float64))


# ------------------------------------------------------------------ cross_entropy_grad


def ce_grad(inp, targ):
    return (inp.softmax(-1) - onehot(inp, targ)) / inp.shape[0]


def test_cross_entropy_grad_passes_and_is_confirmed_by_finite_differences():
    def cross_entropy_grad(inp, targ):
        inp.g = ce_grad(inp, targ)

    r = grade_rule(BY_RULE["cross_entropy_grad"], cross_entropy_grad, seconds=10)
    assert r.status == "pass" and r.max_rel < 1e-12


def test_cross_entropy_grad_without_the_onehot():
    def cross_entropy_grad(inp, targ):
        inp.g = inp.softmax(-1) / inp.shape[0]

    assert grade("cross_entropy_grad", cross_entropy_grad) == ("wrong", "missing_onehot", NO_ONEHOT)


def test_cross_entropy_grad_softmax_over_the_batch():
    def cross_entropy_grad(inp, targ):
        inp.g = (inp.softmax(0) - onehot(inp, targ)) / inp.shape[0]

    assert grade("cross_entropy_grad", cross_entropy_grad) == ("wrong", "softmax_dim", CE_DIM)


def test_cross_entropy_grad_softmax_over_the_batch_and_no_onehot():
    """Both mistakes at once: the wrong dimension is named (it is the one the missing onehot hides behind)."""
    def cross_entropy_grad(inp, targ):
        inp.g = inp.softmax(0) / inp.shape[0]

    assert grade("cross_entropy_grad", cross_entropy_grad) == ("wrong", "softmax_dim", CE_DIM)


def test_cross_entropy_grad_without_the_onehot_only_at_bs_1_is_still_named():
    """At bs == 1 only the missing onehot is a candidate (dim 0 is meaningless there) and it is recognised."""
    def cross_entropy_grad(inp, targ):
        inp.g = inp.softmax(-1) / inp.shape[0] if inp.shape[0] == 1 else ce_grad(inp, targ)

    assert grade("cross_entropy_grad", cross_entropy_grad) == ("wrong", "missing_onehot", NO_ONEHOT)


def test_cross_entropy_grad_dim0_at_bs_1_is_not_called_the_wrong_dimension():
    """softmax over dim 0 of one row is all ones: at bs == 1 that is not evidence of the dimension mistake."""
    def cross_entropy_grad(inp, targ):
        sm = inp.softmax(0) if inp.shape[0] == 1 else inp.softmax(-1)
        inp.g = (sm - onehot(inp, targ)) / inp.shape[0]

    status, key, hint = grade("cross_entropy_grad", cross_entropy_grad)
    assert (status, key) == ("wrong", "values") and hint.startswith("inp.g is wrong (max rel diff ")


def test_cross_entropy_grad_missing_1_over_bs_names_the_first_batch_size():
    def cross_entropy_grad(inp, targ):
        inp.g = inp.softmax(-1) - onehot(inp, targ)

    status, key, hint = grade("cross_entropy_grad", cross_entropy_grad)
    assert (status, key) == ("wrong", "missing_bs") and hint.startswith("missing 1/bs: inp.g is 7× the right answer")


def test_cross_entropy_grad_returned_instead_of_stored():
    assert grade("cross_entropy_grad", ce_grad) == (
        "wrong", "returned", "the result is returned, not stored: assign it to inp.g (a backward rule sets .g on the "
                             "tensors it gets and returns nothing)")


def test_cross_entropy_grad_that_stores_nothing():
    assert grade("cross_entropy_grad", lambda inp, targ: None) == (
        "wrong", "unset", "inp.g is never set: the rule must store its gradient in inp.g")


def test_cross_entropy_grad_that_writes_into_the_logits():
    def cross_entropy_grad(inp, targ):
        inp.g = ce_grad(inp, targ)
        inp.mul_(2)

    assert grade("cross_entropy_grad", cross_entropy_grad) == in_place("inp")


def test_cross_entropy_grad_that_writes_into_the_targets():
    def cross_entropy_grad(inp, targ):
        inp.g = ce_grad(inp, targ)
        targ.fill_(0)

    assert grade("cross_entropy_grad", cross_entropy_grad) == in_place("targ")


def test_cross_entropy_grad_off_at_its_small_entries_is_caught_by_finite_differences():
    """In float32 the comparison allows 1e-5 of the largest entry; an error of 2e-6 of it on every entry passes
    that, but entries of size ~1e-4 are then far off, which the central differences on sampled entries see."""
    def cross_entropy_grad(inp, targ):
        g = ce_grad(inp, targ)
        inp.g = (g + 2e-6 * g.abs().max()).float()

    status, key, hint = grade("cross_entropy_grad", cross_entropy_grad)
    assert (status, key) == ("wrong", "fd")
    assert hint.startswith("inp.g disagrees with central finite differences (max rel diff ")
