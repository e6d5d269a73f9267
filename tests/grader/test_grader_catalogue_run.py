"""mutants.py: the reference namespace, one mutant's verdict, and the catalogue's report with its source and time."""

import time

from mnist_scratch.grader import mutants
from mnist_scratch.grader.mutants import Mutant, MutantResult, run_catalogue, run_mutant, solutions_namespace
from mnist_scratch.grader.result import CheckResult, RuleResult
from mnist_scratch.grader.spec import RULES

# a relu that reports the time limit it runs under (the seconds left on the alarm the grader set for this call)
SPY = "import signal\n\ndef relu(x):\n    raise RuntimeError(f'limit {signal.getitimer(signal.ITIMER_REAL)[0]:.0f}s')\n"


def test_the_reference_namespace_is_a_fresh_module_named_solutions():
    ns = solutions_namespace()
    assert ns["__name__"] == "__solutions__"  # `if __name__ == "__main__"` blocks in the solutions never run
    # classes and functions say where they come from: the reference solutions, not builtins or the caller
    assert ns["Lin"].__module__ == "__solutions__" and ns["lin"].__module__ == "__solutions__"
    assert ns["lin_grad"].__code__.co_filename == "<solutions>"  # the name a mutant's grading counts as learner code
    assert solutions_namespace() is not ns and solutions_namespace()["lin"] is not ns["lin"]  # fresh every time


def test_a_mutant_is_graded_on_its_rule_with_the_other_definitions_the_reference_ones():
    # Model's own mistake must be found while Lin, Relu and Mse are the reference classes around it
    m = next(m for m in mutants.CATALOGUE if m.name == "Model_backward_skips_relu")
    r = run_mutant(m, seconds=10)
    assert (r.mutant, r.status, r.key) == (m, "wrong", "first_wrong:l1") and r.caught
    assert r.hint.startswith("the gradient reaching l1 (relu's input) is wrong; everything from the loss up to "
                             "l2 (relu's output, lin2's input) is right. ")


def test_a_mutant_that_raises_is_an_error_and_not_caught():
    m = Mutant("typo", "relu", "a typo", "relu_side", "def relu(x):\n    return x.clamp_mn(0.0)\n")
    r = run_mutant(m, seconds=10)
    assert r == MutantResult(m, "error", "exception", "AttributeError: 'Tensor' object has no attribute 'clamp_mn'")
    assert not r.caught  # the grader failed it, but not with the diagnosis it promised


def test_caught_means_failed_with_the_promised_diagnosis():
    m = Mutant("x", "relu", "x", "relu_side", "")
    assert MutantResult(m, "wrong", "relu_side", "h").caught
    assert not MutantResult(m, "wrong", "values", "h").caught  # failed for another reason: the grader is blind to it
    assert not MutantResult(m, "pass", "relu_side", "").caught  # passed: not caught whatever the key


def spying_catalogue(monkeypatch):
    """The catalogue run on a reference holding only the spying relu and one mutant that is that relu."""
    def reference():
        ns: dict = {"__name__": "__solutions__"}
        exec(SPY, ns)
        return ns

    m = Mutant("spy", "relu", "reports its time limit", "exception", SPY)
    monkeypatch.setattr(mutants, "solutions_namespace", reference)
    monkeypatch.setattr(mutants, "CATALOGUE", (m,))
    return m


def test_the_catalogue_grades_the_reference_and_every_mutant_under_the_time_limit_given(monkeypatch):
    m = spying_catalogue(monkeypatch)
    t0 = time.perf_counter()
    rep = run_catalogue(seconds=3)
    elapsed = time.perf_counter() - t0
    # the reference is reported as such (the JSON's "reference.source"), all 18 rules in the lesson's order
    assert rep.reference.source == "reference solutions"
    assert [r.name for r in rep.reference.rules] == [r.name for r in RULES]
    assert rep.reference["relu"] == RuleResult("relu", "forward", "error", hint="RuntimeError: limit 3s",
                                               key="exception",
                                               traceback=('File "<string>", line 4, in relu', "RuntimeError: limit 3s"))
    assert rep.results == [MutantResult(m, "error", "exception", "RuntimeError: limit 3s")]
    assert 0 < rep.seconds <= elapsed  # how long the whole run took, not a clock reading
    assert not rep.ok  # the spying reference fails its rules


def test_the_report_is_ok_only_when_the_reference_passes_and_every_mutant_is_caught():
    ok_ref = CheckResult([RuleResult("relu", "forward", "pass", 0.0)], "reference solutions")
    bad_ref = CheckResult([RuleResult("relu", "forward", "wrong")], "reference solutions")
    m = Mutant("x", "relu", "x", "relu_side", "")
    caught, missed = MutantResult(m, "wrong", "relu_side", "h"), MutantResult(m, "pass", "", "")
    assert mutants.MutantsReport(ok_ref, [caught], 1.0).ok
    assert not mutants.MutantsReport(bad_ref, [caught], 1.0).ok
    assert not mutants.MutantsReport(ok_ref, [caught, missed], 1.0).ok
