"""The pieces under the grader: time limits on and off the main thread, kink-aware differences, diagnoses."""

import signal
import threading

import pytest
import torch

from mnist_scratch.gradcheck.kink import kink_difference
from mnist_scratch.grader.diagnose import diagnose
from mnist_scratch.grader.sandbox import RuleTimeout, time_limit


def spin():
    while True:
        pass


def test_time_limit_stops_a_loop_on_the_main_thread_and_restores_an_outer_timer():
    old = signal.signal(signal.SIGALRM, lambda *a: None)
    try:
        signal.setitimer(signal.ITIMER_REAL, 100.0)
        with pytest.raises(RuleTimeout), time_limit(0.2):
            spin()
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 90 < remaining <= 100  # the caller's own alarm is still set
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_time_limit_stops_a_loop_off_the_main_thread():
    seen = []

    def worker():
        try:
            with time_limit(0.2):
                spin()
        except RuleTimeout:
            seen.append("stopped")

    t = threading.Thread(target=worker)
    t.start()
    t.join(10)
    assert seen == ["stopped"] and not t.is_alive()


def test_a_body_that_finishes_in_time_is_left_alone():
    with time_limit(5):
        x = sum(range(1000))
    assert x == 499500


def test_kink_difference_is_central_away_from_the_kink_and_one_sided_on_it():
    p = torch.tensor([0.3, 0.0], dtype=torch.float64)

    def f():  # relu(p0) + 2 relu(p1), reporting which side of 0 each input lies on
        return (p.clamp_min(0) * torch.tensor([1.0, 2.0], dtype=torch.float64)).sum().item(), (p > 0,)

    d, how = kink_difference(f, p, 0, 1e-6)
    assert how == "central" and d == pytest.approx(1.0, rel=1e-6)
    d, how = kink_difference(f, p, 1, 1e-6)  # exactly on the kink: the side it is on (p1 <= 0) has slope 0
    assert how == "one-sided" and d == pytest.approx(0.0, abs=1e-6)


def test_a_point_just_past_the_kink_shrinks_the_step_before_going_one_sided():
    p = torch.tensor([5e-7], dtype=torch.float64)

    def f():
        return p.clamp_min(0).sum().item(), (p > 0,)

    d, how = kink_difference(f, p, 0, 1e-6)  # h crosses the kink, h/10 does not
    assert how == "central" and d == pytest.approx(1.0, rel=1e-6)


def test_diagnosis_of_a_constant_factor_names_the_batch_size():
    want = torch.randn(7, 1, dtype=torch.float64)
    assert diagnose("inp.g", want * 7, want, bs=7).key == "missing_bs"
    assert diagnose("inp.g", -want * 7, want, bs=7).hint.startswith("sign flipped and missing 1/bs")
    assert diagnose("b.g", want / 7, want, bs=7, role="bias").key == "bias_mean"
    assert diagnose("w.g", want * 3.3, want, bs=7).key == "scale"
    assert diagnose("w.g", want + 0.1 * torch.randn(7, 1, dtype=torch.float64), want, bs=7).key == "values"
