"""The comparisons every verdict rests on: close (pass or not), max_rel (the figure shown), the ratio and nearness.

Exact edges: close and _near are inclusive at their tolerance, close is relative to the right answer's largest entry
(even when that is tiny), _ratio accepts a multiple only when its residual is within 1e-6 of the scaled answer.
"""

import math

import pytest
import torch

from mnist_scratch.grader.diagnose import _near, _ratio, _shape, close, max_rel


def t(*xs):
    return torch.tensor(xs, dtype=torch.float64)


EMPTY = torch.zeros(0, 3, dtype=torch.float64)

# ------------------------------------------------------------------ close: the pass test


def test_close_default_tolerance_is_1e_6_relative():
    """float64 round-off passes; a result 2e-6 off (float32-sized error on a float64 rule) does not."""
    b = t(1.0, -4.0, 2.5)
    assert close(b * (1 + 5e-7), b)
    assert not close(b * (1 + 2e-6), b)


def test_close_is_inclusive_at_the_tolerance():
    """|a - b| == rtol * max|b| exactly is still close (3 vs 2 with rtol 0.5: 1 <= 0.5 * 2)."""
    assert close(t(3.0), t(2.0), 0.5)
    assert not close(t(3.0), t(2.0), 0.49)


def test_close_scales_the_tolerance_by_the_answers_largest_entry():
    """2.5 vs 2: off by 0.5, allowed 0.5 * 2 = 1 (multiplied by the scale, not divided)."""
    assert close(t(2.5), t(2.0), 0.5)
    assert close(t(1.0, 100.0 + 5e-5), t(1.0, 100.0))  # 5e-5 off on a scale of 100: within 1e-6 relative


def test_close_on_a_tiny_answer_is_relative_not_absolute():
    """A gradient of size 1e-3 that is 10% off must fail: the scale is max|b|, however small, never floored at 1."""
    assert not close(t(1.1e-3), t(1e-3))
    assert not close(t(1e-12, 0.0), t(0.0, 0.0))  # an all-zero answer only matches zeros
    assert close(t(0.0, 0.0), t(0.0, 0.0))


@pytest.mark.parametrize("a,b", [
    (torch.ones(3, dtype=torch.float64), torch.ones(3, 1, dtype=torch.float64)),  # a shape mismatch never passes
    (t(1.0, math.inf), t(1.0, 2.0)),
    (t(1.0, math.nan), t(1.0, 2.0)),
    (t(math.inf), t(math.inf)),  # not even against an infinite "answer"
])
def test_close_refuses_other_shapes_and_non_finite_results(a, b):
    assert not close(a, b)


def test_close_on_empty_tensors_is_true():
    """Nothing to compare (a 0-row batch) is agreement, not a crash on max() of nothing."""
    assert close(EMPTY.clone(), EMPTY)


def test_close_compares_float32_against_float64_in_float64():
    b = t(0.1, 0.2, 0.3)
    assert close(b.float(), b, 1e-5) and not close(b.float(), b, 1e-9)


# ------------------------------------------------------------------ max_rel: the figure the learner sees


@pytest.mark.parametrize("a,b,want", [
    (t(1.0, 2.5), t(1.0, 2.0), 0.25),  # max |a - b| / max |b|
    (t(1.0, -4.0), t(1.0, 2.0), 3.0),
    (t(0.0, 0.0), t(0.0, 0.0), 0.0),  # an all-zero answer matched exactly: 0, not 0/0
    (t(0.0, 1e-9), t(0.0, 0.0), math.inf),  # anything else against an all-zero answer: infinitely off
    (EMPTY.clone(), EMPTY, 0.0),
    (torch.ones(2, dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64), math.inf),
    (t(1.0, math.nan), t(1.0, 2.0), math.inf),
])
def test_max_rel(a, b, want):
    assert max_rel(a, b) == want


# ------------------------------------------------------------------ _ratio: got == c * want, or None


def test_ratio_of_an_exact_multiple():
    assert _ratio(t(3.0), t(1.0)) == 3.0  # a one-entry answer of 1 (sum of squares 1) has a ratio too
    assert _ratio(t(-1.0, 2.0, -0.5) * 7, t(-1.0, 2.0, -0.5)) == 7.0
    assert _ratio(t(0.0, 0.0), t(1.0, 2.0)) == 0.0


def test_no_ratio_against_an_all_zero_answer():
    assert _ratio(t(1.0, 2.0), t(0.0, 0.0)) is None
    assert _ratio(t(0.0, 0.0), t(0.0, 0.0)) is None


def test_no_ratio_when_not_a_multiple():
    assert _ratio(t(1.0, 1.0), t(1.0, 2.0)) is None


@pytest.mark.parametrize("got,want,ratio", [
    # the residual allowed is 1e-6 * max(|c|, 1e-12) * max|want|, inclusive
    ((1.0, 1e-6), (1.0, 0.0), 1.0),  # residual 1e-6 == 1e-6 * 1 * 1: accepted
    ((1.0, 1.1e-6), (1.0, 0.0), None),
    ((2.0, 1.5e-6), (2.0, 0.0), 1.0),  # allowed 1e-6 * 1 * 2: grows with the answer's size
    ((2.0, 2.5e-6), (2.0, 0.0), None),
    ((4.0, 3.5e-6), (1.0, 0.0), 4.0),  # allowed 1e-6 * 4 * 1: grows with the ratio
    ((4.0, 4.5e-6), (1.0, 0.0), None),
    ((0.5, 0.4e-6), (1.0, 0.0), 0.5),  # allowed 0.5e-6: shrinks with a ratio below 1
    ((0.5, 0.8e-6), (1.0, 0.0), None),
    ((0.0, 1e-12), (1.0, 0.0), None),  # a ratio of 0 allows almost nothing: 1e-18
])
def test_ratio_residual_tolerance(got, want, ratio):
    """Round-off must not hide a constant factor, and a result that is only nearly a multiple is not one."""
    assert _ratio(t(*got), t(*want)) == ratio


# ------------------------------------------------------------------ _near and _shape


@pytest.mark.parametrize("x,y,near", [
    (1e-6, 0.0, True),  # inclusive: |x - y| == 1e-6 exactly
    (1.1e-6, 0.0, False),
    (0.5 + 0.9e-6, 0.5, True),  # below 1 in size the tolerance is absolute: 1e-6
    (0.5 + 1.5e-6, 0.5, False),
    (7 + 6e-6, 7.0, True),  # above 1 it is relative: 7e-6 around 7
    (7 + 8e-6, 7.0, False),
])
def test_near(x, y, near):
    assert _near(x, y) is near


@pytest.mark.parametrize("shape,shown", [((), "()"), ((5,), "(5,)"), ((7, 1), "(7, 1)"), ((2, 3, 4), "(2, 3, 4)")])
def test_shape_prints_as_python_prints_a_tuple(shape, shown):
    """(5,) with its comma: "(5)" would read as the number 5 in parentheses."""
    assert _shape(shape) == shown == str(tuple(shape))
