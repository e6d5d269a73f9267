"""diagnose: from the learner's tensor (or its absence) and the right one, the exact diagnosis they are shown.

Each test is one learner mistake, fed through diagnose() as Ctx.expect feeds it: what was stored in .g (or None),
what the rule returned, the known wrong answers of the rule (candidates), the batch size and the tensor's role.
"""

import math

import pytest
import torch

from mnist_scratch.grader.diagnose import Diagnosis, diagnose

# a weight gradient (n_in, n_out) = (3, 2) of a batch of 7: no zeros, distinct magnitudes
WANT = torch.tensor([[0.5, -1.25], [2.0, 0.75], [-0.3, 4.0]], dtype=torch.float64)
UNSET = Diagnosis("unset", "w.g is never set: the rule must store its gradient in w.g")
RETURNED = Diagnosis("returned", "the result is returned, not stored: assign it to w.g (a backward rule sets .g on "
                                 "the tensors it gets and returns nothing)")
NONFINITE = Diagnosis("nonfinite", "w.g holds inf or nan where the right answer is finite: an overflow (exp of a large "
                                   "number? subtract the row max first, as logsumexp does)")


def values(rel: str) -> Diagnosis:
    return Diagnosis("values", f"w.g is wrong (max rel diff {rel}) and not a constant multiple of the right answer")


# ------------------------------------------------------------------ nothing stored in .g


def test_unset_when_nothing_is_stored_and_nothing_returned():
    assert diagnose("w.g", None, WANT, bs=7) == UNSET


def test_a_forward_result_of_none_is_told_to_return_not_to_store():
    """lin(x, w, b) without `return`: the learner must return the output; there is no .g to store."""
    assert diagnose("lin(x, w, b)", None, WANT, bs=7) == Diagnosis(
        "unset", "lin(x, w, b) gave None: the function must return its result")
    # a gradient read after a call is still a gradient the rule must store
    assert diagnose("x.g after backward()", None, WANT, bs=7).hint == (
        "x.g after backward() is never set: the rule must store its gradient in x.g after backward()")


def test_returned_instead_of_stored():
    """The learner wrote `return inp.T @ out.g` instead of `w.g = ...`: say so, not just "never set"."""
    assert diagnose("w.g", None, WANT, bs=7, returned=WANT.clone()) == RETURNED


def test_returned_in_float32_still_counts_as_returned():
    """A float32 computation is off by ~1e-6 relative: still the right answer, returned (tolerance 1e-5)."""
    assert diagnose("w.g", None, WANT, bs=7, returned=WANT * (1 + 5e-6)) == RETURNED


@pytest.mark.parametrize("returned", [2 * WANT, WANT * (1 + 3e-5), WANT.T.clone(), WANT.tolist(), 1.0, None])
def test_a_wrong_or_non_tensor_return_is_just_unset(returned):
    """Only the right answer returned means "returned"; a wrong one or a list must not send them to store it."""
    assert diagnose("w.g", None, WANT, bs=7, returned=returned) == UNSET


def test_returned_is_judged_only_when_nothing_was_stored():
    """A stored (wrong) gradient is diagnosed on its own, whatever the rule also returned."""
    assert diagnose("w.g", -WANT, WANT, bs=7, returned=WANT.clone()).key == "sign"


# ------------------------------------------------------------------ candidates: the rule's known wrong answers


MASK = Diagnosis("relu_no_mask", "no ReLU mask: negatives let through")


def test_a_known_mistake_is_named_by_its_candidate():
    cand = WANT.abs()
    assert diagnose("w.g", cand.clone(), WANT, bs=7, candidates=((cand, MASK),)) == MASK


def test_a_candidate_matches_within_float32_round_off():
    """A candidate computed in float32 by the learner is still recognised (1e-5 relative), not called "values"."""
    cand = WANT.abs()
    assert diagnose("w.g", cand * (1 + 5e-6), WANT, bs=7, candidates=((cand, MASK),)) == MASK


def test_the_first_matching_candidate_wins_and_a_far_one_is_skipped():
    other = Diagnosis("softmax_dim", "softmax over the wrong dimension")
    assert diagnose("w.g", -WANT, WANT, bs=7, candidates=((WANT * 3, other), (-WANT, MASK), (-WANT, other))) == MASK
    assert diagnose("w.g", -WANT, WANT, bs=7, candidates=((WANT * 3, other),)).key == "sign"  # 3x is far: skipped


def test_candidates_are_checked_before_the_shape():
    """The broadcast of nll is a known candidate with its own words even though its shape is also wrong."""
    bc = Diagnosis("broadcast", "input[:, target] picks a (bs, bs) block")
    got = torch.ones(7, 7, dtype=torch.float64)
    assert diagnose("nll", got, torch.tensor(1.0, dtype=torch.float64), bs=7, candidates=((got.clone(), bc),)) == bc


# ------------------------------------------------------------------ shape, then non-finite, then a constant factor


def test_a_wrong_shape_is_diagnosed_by_shape_with_the_label():
    assert diagnose("b.g", torch.ones(7, 2, dtype=torch.float64), WANT[0], bs=7) == Diagnosis(
        "wrong_axis", "b.g has shape (7, 2) instead of (2,): it keeps the batch axis, so it was reduced over the "
                      "wrong axis; sum over axis 0, the batch")


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_an_overflow_is_nonfinite(bad):
    """exp of large logits overflowed: inf or nan somewhere, named before any ratio is tried."""
    got = WANT.clone()
    got[1, 0] = bad
    assert diagnose("w.g", got, WANT, bs=7) == NONFINITE


def test_sign_flipped():
    assert diagnose("w.g", -WANT, WANT, bs=7) == Diagnosis(
        "sign", "sign flipped: w.g is minus the right answer (ratio -1)")


def test_missing_1_over_bs_names_the_batch_size_of_the_case():
    assert diagnose("inp.g", 7 * WANT, WANT, bs=7) == Diagnosis(
        "missing_bs", "missing 1/bs: inp.g is 7× the right answer, and 7 is the batch size (the loss is a mean over "
                      "the batch, so its gradient has a 1/bs)")


def test_bias_mean_needs_the_bias_role():
    """b.g = out.g.mean(0) is 1/bs of the sum: with role "bias" the hint says so; without, it is an extra 1/bs."""
    b = WANT[:, 0]
    assert diagnose("b.g", b / 7, b, bs=7, role="bias").key == "bias_mean"
    assert diagnose("b.g", b / 7, b, bs=7) == Diagnosis(
        "extra_bs", "extra 1/bs: b.g is 1/7 of the right answer (7 is the batch size); the 1/bs is already in the "
                    "loss's gradient, don't divide again")


def test_twice_the_answer_is_double():
    assert diagnose("w.g", 2 * WANT, WANT, bs=7) == Diagnosis(
        "double", "w.g is twice the right answer: a factor 2 too many")


def test_a_zero_gradient_is_a_factor_of_0():
    """All zeros is the answer times 0: reported as that factor (there is no "all zeros" diagnosis)."""
    assert diagnose("w.g", torch.zeros_like(WANT), WANT, bs=7) == Diagnosis(
        "scale", "w.g is 0× the right answer: a wrong constant factor")


# ------------------------------------------------------------------ wrong values, not a multiple


def test_wrong_values_give_the_max_relative_difference():
    got = WANT.clone()
    got[2, 1] = 4.4  # 0.4 off the largest entry, 4: max rel diff 0.1
    assert diagnose("w.g", got, WANT, bs=7) == values("1.00e-01")


def test_a_ratio_within_round_off_of_1_is_values_not_a_factor():
    """Off by 1e-7 overall (a too-loose float32 step): that is no "1× the right answer" factor, but values."""
    assert diagnose("w.g", WANT * (1 + 1e-7), WANT, bs=7) == values("1.00e-07")


def test_a_zero_right_answer_has_no_ratio():
    """When the right answer is all zeros no factor exists; any non-zero result is wrong values, infinitely off."""
    want = torch.zeros(3, 2, dtype=torch.float64)
    assert diagnose("w.g", torch.ones(3, 2, dtype=torch.float64), want, bs=7) == values("inf")
