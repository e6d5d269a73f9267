"""by_shape: a result of the wrong shape reads as the mistake that made it, with both shapes printed as Python does.

Broadcast (bs, bs), transposed weight, a kept batch axis, mixed-up axes, or just the shapes; bs == 1 (where a size-1
axis is no evidence) and bs == 2 (the smallest batch that is) are the boundaries.
"""

import pytest
import torch

from mnist_scratch.grader.diagnose import Diagnosis, by_shape


def rnd(*shape):
    return torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


BROADCAST_TAIL = ("a (bs, 1) tensor minus a (bs,) one broadcasts to (bs, bs); take the column, inp[:, 0] - targ, or "
                  "index targ[:, None]")
BATCH_TAIL = "it keeps the batch axis, so it was reduced over the wrong axis; sum over axis 0, the batch"
MIXED_TAIL = "the axes are mixed up (reduced or multiplied along the wrong one)"


# ------------------------------------------------------------------ broadcast: (bs, 1) - (bs,) is (bs, bs)


@pytest.mark.parametrize("want_shape,shown", [((7, 1), "(7, 1)"), ((7,), "(7,)"), ((), "()")])
def test_broadcast_of_a_column_against_the_targets(want_shape, shown):
    """inp - targ with inp (bs, 1) and targ (bs,): a (bs, bs) result, whatever the right shape around bs."""
    assert by_shape("inp.g", rnd(7, 7), rnd(*want_shape), 7) == Diagnosis(
        "broadcast", f"inp.g has shape (7, 7) instead of {shown}: {BROADCAST_TAIL}")


def test_broadcast_at_bs_2():
    assert by_shape("inp.g", rnd(2, 2), rnd(2, 1), 2) == Diagnosis(
        "broadcast", f"inp.g has shape (2, 2) instead of (2, 1): {BROADCAST_TAIL}")


def test_bs_1_a_1_by_1_is_not_called_a_broadcast():
    """At bs == 1 (bs, bs) is (1, 1), the shape of any column: no evidence of the broadcast, just the shapes."""
    assert by_shape("inp.g", rnd(1, 1), rnd(1), 1) == Diagnosis("shape", "inp.g has shape (1, 1) instead of (1,)")


def test_a_square_result_is_a_broadcast_only_against_a_batch_shaped_answer():
    """(7, 7) for a (7, 4) answer is not the (bs, 1) - (bs,) mistake: no broadcast advice."""
    assert by_shape("out", rnd(7, 7), rnd(7, 4), 7) == Diagnosis("shape", "out has shape (7, 7) instead of (7, 4)")


def test_a_lost_column_is_a_shape_mistake_not_a_broadcast():
    """inp.g = 2 * (inp[:, 0] - targ) / bs is (bs,) where (bs, 1) is right: the shapes, no broadcast advice."""
    assert by_shape("inp.g", rnd(7), rnd(7, 1), 7) == Diagnosis("shape", "inp.g has shape (7,) instead of (7, 1)")


# ------------------------------------------------------------------ transposed weight gradient


def test_transposed_weight_gradient():
    """out.g.T @ inp: the right values, transposed, (n_out, n_in) instead of (n_in, n_out)."""
    want = rnd(6, 4)
    assert by_shape("w.g", want.T.clone(), want, 7) == Diagnosis(
        "transposed", "w.g is transposed: shape (4, 6) instead of (6, 4); w is (n_in, n_out), so w.g = inp.T @ out.g")


def test_transposed_shape_with_other_values_is_mixed_up_axes():
    """The swapped shape alone is not the transpose mistake: wrong values too, so the axes are mixed up."""
    want = rnd(6, 4)
    assert by_shape("w.g", 2 * want.T, want, 7) == Diagnosis(
        "wrong_axis", f"w.g has shape (4, 6) instead of (6, 4): {MIXED_TAIL}")


def test_a_3d_result_with_reversed_axes_is_not_the_2d_transpose():
    """The transposed hint is about w (n_in, n_out); a 3-d result whose axes are reversed is mixed-up axes."""
    want = rnd(2, 3, 5)
    assert by_shape("w.g", want.permute(2, 1, 0).clone(), want, 7) == Diagnosis(
        "wrong_axis", f"w.g has shape (5, 3, 2) instead of (2, 3, 5): {MIXED_TAIL}")


# ------------------------------------------------------------------ reduced over the wrong axis


def test_bias_gradient_that_keeps_the_batch_axis():
    """b.g = out.g (no sum) or out.g.sum(1, keepdim=...) mistakes keep bs in the shape where the answer has none."""
    assert by_shape("b.g", rnd(7, 4), rnd(4), 7) == Diagnosis(
        "wrong_axis", f"b.g has shape (7, 4) instead of (4,): {BATCH_TAIL}")


def test_a_loss_that_keeps_the_batch_axis():
    """The mean over the batch was skipped: (bs,) where a scalar is right."""
    assert by_shape("mse(out, targ)", rnd(7), rnd(), 7) == Diagnosis(
        "wrong_axis", f"mse(out, targ) has shape (7,) instead of (): {BATCH_TAIL}")


def test_batch_axis_kept_at_bs_2():
    assert by_shape("b.g", rnd(2, 4), rnd(4), 2) == Diagnosis(
        "wrong_axis", f"b.g has shape (2, 4) instead of (4,): {BATCH_TAIL}")


def test_bs_1_a_size_1_axis_is_not_taken_for_the_batch_axis():
    """At bs == 1 a leading 1 may be anything: the shapes are shown, with no claim about the batch axis."""
    assert by_shape("b.g", rnd(1, 4), rnd(4), 1) == Diagnosis("shape", "b.g has shape (1, 4) instead of (4,)")


def test_bs_in_both_shapes_is_not_a_kept_batch_axis():
    """(7, 3) vs (7, 4): the batch axis is where it belongs; the other one is wrong."""
    assert by_shape("out", rnd(7, 3), rnd(7, 4), 7) == Diagnosis("shape", "out has shape (7, 3) instead of (7, 4)")


def test_reduced_over_the_wrong_axis_with_the_same_sizes():
    """relu_grad of a (4, 6) as (6, 4): the same sizes in another order, values not a transpose."""
    want = rnd(4, 6)
    assert by_shape("inp.g", rnd(6, 4), want, 7) == Diagnosis(
        "wrong_axis", f"inp.g has shape (6, 4) instead of (4, 6): {MIXED_TAIL}")


# ------------------------------------------------------------ nothing recognised: the shapes, as Python prints them


@pytest.mark.parametrize("got,want,shown", [
    ((3,), (4,), "(3,) instead of (4,)"),  # a 1-element shape keeps its comma, as Python writes a 1-tuple
    ((5,), (), "(5,) instead of ()"),
    ((3, 5), (4, 5), "(3, 5) instead of (4, 5)"),  # same rank, different sizes: not mixed-up axes
    ((2, 3, 4), (3, 4), "(2, 3, 4) instead of (3, 4)"),
    ((), (6,), "() instead of (6,)"),
])
def test_any_other_shape_mistake_prints_both_shapes(got, want, shown):
    assert by_shape("w.g", rnd(*got), rnd(*want), 7) == Diagnosis("shape", f"w.g has shape {shown}")
