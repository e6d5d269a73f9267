"""by_ratio: a result that is c times the right one reads as the learner's mistake, in the exact sentence they see.

The ratio's sign, the batch size (bs == 1 hides a 1/bs; bs == 2 must not read as "twice") and the tolerance edge of
each recognised factor are pinned, so a reworded hint or a shifted boundary shows up here.
"""

import pytest

from mnist_scratch.grader.diagnose import Diagnosis, by_ratio

MISSING_7 = ("missing 1/bs: w.g is 7× the right answer, and 7 is the batch size (the loss is a mean over the batch, "
             "so its gradient has a 1/bs)")
EXTRA_7 = ("extra 1/bs: w.g is 1/7 of the right answer (7 is the batch size); the 1/bs is already in the loss's "
           "gradient, don't divide again")
BIAS_MEAN_7 = ("bias gradient is a mean over the batch (1/7 of the right answer): it is a sum, out.g.sum(0); the 1/bs "
               "is already in the loss's gradient")
FACTOR2 = "missing factor 2: w.g is half the right answer (the derivative of (x - t)² is 2(x - t))"
DOUBLE = "w.g is twice the right answer: a factor 2 too many"


@pytest.mark.parametrize("c,bs,role,want", [
    # the learner wrote the rule backwards (t - x instead of x - t): exactly minus the answer
    (-1.0, 7, "", Diagnosis("sign", "sign flipped: w.g is minus the right answer (ratio -1)")),
    # forgot the mean's 1/bs in the loss gradient: bs times the answer
    (7.0, 7, "", Diagnosis("missing_bs", MISSING_7)),
    # ... and also flipped the sign: both named, sign first
    (-7.0, 7, "", Diagnosis("missing_bs", "sign flipped and " + MISSING_7)),
    # took b.g = out.g.mean(0): the bias gradient is 1/bs of the sum
    (1 / 7, 7, "bias", Diagnosis("bias_mean", BIAS_MEAN_7)),
    (-1 / 7, 7, "bias", Diagnosis("bias_mean", "sign flipped and " + BIAS_MEAN_7)),
    # divided a weight gradient by bs again: the same 1/bs, but not the bias' mean
    (1 / 7, 7, "", Diagnosis("extra_bs", EXTRA_7)),
    (1 / 7, 7, "weight", Diagnosis("extra_bs", EXTRA_7)),
    (-1 / 7, 7, "", Diagnosis("extra_bs", "sign flipped and " + EXTRA_7)),
    # dropped the 2 of d(x - t)²/dx: half the answer
    (0.5, 7, "", Diagnosis("factor2", FACTOR2)),
    (-0.5, 7, "", Diagnosis("factor2", "sign flipped and " + FACTOR2)),
    # added a 2 too many: twice the answer
    (2.0, 7, "", Diagnosis("double", DOUBLE)),
    (-2.0, 7, "", Diagnosis("double", "sign flipped and " + DOUBLE)),
    # any other constant: the factor itself, signed, to 4 significant digits, and no "sign flipped" prefix
    (3.0, 7, "", Diagnosis("scale", "w.g is 3× the right answer: a wrong constant factor")),
    (-3.0, 7, "", Diagnosis("scale", "w.g is -3× the right answer: a wrong constant factor")),
    (0.123456, 7, "", Diagnosis("scale", "w.g is 0.1235× the right answer: a wrong constant factor")),
    (0.25, 7, "", Diagnosis("scale", "w.g is 0.25× the right answer: a wrong constant factor")),
])
def test_each_constant_factor_mistake_gets_its_exact_diagnosis(c, bs, role, want):
    assert by_ratio("w.g", c, bs, role) == want


def test_the_label_is_the_one_given():
    """A hint naming another tensor than the wrong one sends the learner to the wrong line."""
    assert by_ratio("inp.g", 0.5, 7, "") == Diagnosis(
        "factor2", "missing factor 2: inp.g is half the right answer (the derivative of (x - t)² is 2(x - t))")


# ------------------------------------------------------------------ batch-size boundaries


def test_bs_2_a_factor_2_is_the_missing_1_over_bs_not_twice():
    """At bs == 2 a missing 1/bs and a doubled gradient look alike; the batch size is named (it is checked first)."""
    assert by_ratio("inp.g", 2.0, 2, "") == Diagnosis(
        "missing_bs", "missing 1/bs: inp.g is 2× the right answer, and 2 is the batch size (the loss is a mean over "
                      "the batch, so its gradient has a 1/bs)")


def test_bs_2_a_half_is_an_extra_1_over_bs_not_a_missing_factor_2():
    assert by_ratio("w.g", 0.5, 2, "") == Diagnosis(
        "extra_bs", "extra 1/bs: w.g is 1/2 of the right answer (2 is the batch size); the 1/bs is already in the "
                    "loss's gradient, don't divide again")


def test_bs_2_a_half_bias_gradient_is_the_mean_over_the_batch():
    assert by_ratio("b.g", 0.5, 2, "bias") == Diagnosis(
        "bias_mean", "bias gradient is a mean over the batch (1/2 of the right answer): it is a sum, out.g.sum(0); "
                     "the 1/bs is already in the loss's gradient")


@pytest.mark.parametrize("c,want", [
    (-1.0, Diagnosis("sign", "sign flipped: w.g is minus the right answer (ratio -1)")),
    (0.5, Diagnosis("factor2", FACTOR2)),
    (2.0, Diagnosis("double", DOUBLE)),
])
def test_bs_1_never_blames_the_batch_size(c, want):
    """At bs == 1 a 1/bs changes nothing, so a factor is never put down to it: sign, factor 2 and double remain."""
    assert by_ratio("w.g", c, 1, "") == want
    assert by_ratio("w.g", c, 1, "bias") == want


def test_bs_0_graded_without_a_batch_is_never_blamed_on_it():
    """Rules with no batch (matmul, a layer's call) pass bs=0: a factor is judged on its own."""
    assert by_ratio("x.g after backward()", 2.0, 0, "").key == "double"
    assert by_ratio("calling a layer", 0.5, 0, "bias").key == "factor2"


# ------------------------------------------------------------------ tolerance edges: 1e-6 relative, or absolute below 1


@pytest.mark.parametrize("c,key", [
    (7.000006, "missing_bs"),  # 6e-6 off a ratio of 7: within 1e-6 relative (7e-6), float round-off
    (7.00001, "scale"),  # 1e-5 off: beyond it, a different constant
    (-7.000006, "missing_bs"),
    (2.0 + 1.5e-6, "double"),  # 2e-6 allowed around 2
    (2.0 + 2.5e-6, "scale"),
    (0.5 + 0.9e-6, "factor2"),  # below 1 the tolerance is absolute, 1e-6
    (0.5 + 1.5e-6, "scale"),  # so 1.5e-6 off a half is not a half
    (-1.0 + 0.9e-6, "sign"),
    (-1.0 + 1.5e-6, "scale"),
])
def test_a_ratio_counts_as_a_known_factor_only_within_round_off(c, key):
    """Round-off must not hide a known mistake, and a genuinely different factor must not be named as one."""
    assert by_ratio("w.g", c, 7, "").key == key


def test_a_ratio_just_off_the_batch_size_is_a_scale_printed_to_4_digits():
    """7.00001 is not 7 within round-off: the hint gives the factor (to 4 digits, so it reads as 7)."""
    assert by_ratio("w.g", 7.00001, 7, "") == Diagnosis("scale", "w.g is 7× the right answer: a wrong constant factor")


def test_1_over_32_at_the_largest_graded_batch():
    assert by_ratio("b.g", 1 / 32, 32, "bias").key == "bias_mean"
    assert by_ratio("w.g", 32.00003, 32, "").key == "missing_bs"  # 3e-5 off 32 is inside 1e-6 relative (3.2e-5)
    assert by_ratio("w.g", 32.00004, 32, "").key == "scale"
