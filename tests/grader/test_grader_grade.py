"""grade.py: the rows of one rule, a namespace, a file and check(), every field as learners and autograders see it."""

import time
import types

import pytest

from mnist_scratch.grader.grade import check_file, check_object, grade_namespace, grade_rule
from mnist_scratch.grader.mutants import solutions_namespace
from mnist_scratch.grader.result import RuleResult
from mnist_scratch.grader.spec import BY_RULE

# a relu that reports the time limit it runs under (the seconds left on the alarm the grader set for this call)
SPY = "import signal\n\ndef relu(x):\n    raise RuntimeError(f'limit {signal.getitimer(signal.ITIMER_REAL)[0]:.0f}s')\n"
# a relu that calls code from another file (a pasted helper, a library): only the learner's own frames are shown
PASTED = "def helper(t):\n    return t.nonexistent()\n"
NO_ATTR = "AttributeError: 'Tensor' object has no attribute 'nonexistent'"
FORWARD = ("lin", "relu", "mse")


def spied(*frames: str) -> list[RuleResult]:
    """The forward part's rows when only the spying relu is defined, it ran under a 3 s limit and raised there."""
    return [RuleResult("lin", "forward", "missing", hint="no lin defined"),
            RuleResult("relu", "forward", "error", hint="RuntimeError: limit 3s", key="exception",
                       traceback=(*frames, "RuntimeError: limit 3s")),
            RuleResult("mse", "forward", "missing", hint="no mse defined")]


IN_STRING = 'File "<string>", line 4, in relu'  # exec'd without a file name, as a notebook's globals may be


def timed(call):
    t0 = time.perf_counter()
    res = call()
    return res, time.perf_counter() - t0


# ------------------------------------------------------------------ grade_rule: one row


def test_a_missing_name_is_a_missing_row_of_its_own_part():
    # the row must carry the rule's part: the report groups rows by part, autograders filter on it
    assert grade_rule(BY_RULE["lin"], None) == RuleResult("lin", "forward", "missing", hint="no lin defined")


def test_a_function_where_a_class_is_wanted_is_refused_before_it_is_called():
    def Lin(w, b):  # a callable, but not the class the lesson asks for: grading must not try to instantiate it
        return None

    assert grade_rule(BY_RULE["Lin"], Lin) == RuleResult("Lin", "classes", "error",
                                                         hint="Lin should be a class, got function", key="type")


def test_a_class_or_a_value_where_a_function_is_wanted_is_refused():
    class lin:  # noqa: N801 - the learner named a class like the function
        pass

    assert grade_rule(BY_RULE["lin"], lin) == RuleResult("lin", "forward", "error",
                                                         hint="lin should be a function, got type", key="type")
    # not callable at all (a tensor or a number left under the name): named by its own type
    assert grade_rule(BY_RULE["relu"], 42) == RuleResult("relu", "forward", "error",
                                                         hint="relu should be a function, got int", key="type")


def test_pass_and_wrong_rows_carry_name_and_part():
    ns = solutions_namespace()
    assert grade_rule(BY_RULE["relu"], ns["relu"]) == RuleResult("relu", "forward", "pass", 0.0)
    exec("def relu_grad(inp, out):\n    inp.g = out.g.clone()\n", ns)
    r = grade_rule(BY_RULE["relu_grad"], ns["relu_grad"])
    assert (r.name, r.part, r.status, r.key) == ("relu_grad", "backward", "wrong", "relu_no_mask")


def learner_ns() -> dict:
    ns: dict = {}
    exec(compile(PASTED, "<pasted>", "exec"), ns)
    exec(compile("def relu(x):\n    return helper(x)\n", "<theirs>", "exec"), ns)
    return ns


def test_known_learner_files_keep_other_code_out_of_the_traceback():
    # with the learner's files named, a frame from anywhere else (here "<pasted>") is not theirs and is left out;
    # without names, everything outside the grader, torch and the standard library is shown
    theirs = frozenset({"<theirs>"})
    r = grade_rule(BY_RULE["relu"], learner_ns()["relu"], filenames=theirs)
    assert r.traceback == ('File "<theirs>", line 2, in relu', NO_ATTR) and r.hint == NO_ATTR
    r = grade_rule(BY_RULE["relu"], learner_ns()["relu"])
    assert r.traceback == ('File "<theirs>", line 2, in relu', 'File "<pasted>", line 2, in helper', NO_ATTR)
    (r,) = grade_namespace(learner_ns(), names=("relu",), filenames=theirs).rules
    assert r.traceback == ('File "<theirs>", line 2, in relu', NO_ATTR)


# ------------------------------------------------------------------ grade_namespace: rows in order, source, time


def test_a_namespace_is_graded_in_the_lessons_order_and_timed():
    res, elapsed = timed(lambda: grade_namespace({}, part="forward"))
    assert res.rules == [RuleResult(n, "forward", "missing", hint=f"no {n} defined") for n in FORWARD]
    assert res.source == "namespace"  # the default name a report shows for a bare dict
    assert 0 < res.seconds <= elapsed  # the time it took, not a clock reading
    res = grade_namespace({}, names=("nll", "lin"), source="mine")
    assert [r.name for r in res.rules] == ["nll", "lin"] and res.source == "mine"


# ------------------------------------------------------------------ check_file


def test_a_file_that_does_not_compile_gets_one_error_row_per_rule_of_the_part(tmp_path):
    p = tmp_path / "mine.py"
    p.write_text("def relu(x):\n    return x.clamp_min(0.\n")
    res, elapsed = timed(lambda: check_file(p, part="forward"))
    assert res.rules == [RuleResult(n, "forward", "error", hint="the file does not compile", key="syntax")
                         for n in FORWARD]
    assert res.source == str(p) and res.error.startswith("syntax error at line 2: ")
    assert 0 < res.seconds <= elapsed and not res.ok


def test_a_file_is_graded_with_its_own_frames_only_its_path_as_source_and_load_time_counted(tmp_path):
    p = tmp_path / "mine.py"
    p.write_text(f"exec(compile({PASTED!r}, '<pasted>', 'exec'))\n\n\ndef relu(x):\n    return helper(x)\n")
    res, elapsed = timed(lambda: check_file(p, part="forward"))
    assert res["relu"].traceback == (f'File "{p}", line 5, in relu', "    return helper(x)", NO_ATTR)
    assert res.source == str(p) and 0 < res.seconds <= elapsed


# ------------------------------------------------------------------ check(): every kind of argument


def test_check_with_no_argument_grades_the_callers_globals_as_your_notebook():
    ns: dict = {}
    exec(SPY, ns)
    res = check_object(part="forward", seconds=3, caller_globals=ns)
    assert res.source == "your notebook"
    assert res.rules == spied(IN_STRING)  # under the caller's time limit
    assert check_object(part="forward").rules == [RuleResult(n, "forward", "missing", hint=f"no {n} defined")
                                                  for n in FORWARD]  # no globals given: nothing defined


@pytest.mark.parametrize("as_path", [str, lambda p: p], ids=["str", "Path"])
def test_check_of_a_path_grades_that_file_with_the_part_and_time_limit_given(tmp_path, as_path):
    p = tmp_path / "mine.py"
    p.write_text(SPY)
    res = check_object(as_path(p), part="forward", seconds=3)
    assert res.source == str(p)
    assert res.rules == spied(f'File "{p}", line 4, in relu', "    " + SPY.splitlines()[-1].strip())


def test_check_of_a_dict_or_a_module_grades_its_names_with_the_part_and_time_limit_given():
    ns: dict = {}
    exec(SPY, ns)
    res = check_object(ns, part="forward", seconds=3)
    assert res.source == "namespace" and res.rules == spied(IN_STRING)
    mod = types.ModuleType("my_lesson")
    exec(SPY, vars(mod))
    res = check_object(mod, part="forward", seconds=3)
    assert res.source == "my_lesson" and res.rules == spied(IN_STRING)


def test_check_of_a_function_grades_that_rule_alone_under_its_name():
    ns: dict = {}
    exec(SPY, ns)
    res = check_object(ns["relu"], seconds=3)
    assert res.source == "relu" and res.rules == spied(IN_STRING)[1:2]


KNOWN = ("matmul, normalize, he_init, lin, relu, mse, mse_grad, relu_grad, lin_grad, forward_and_backward, Module, "
         "Lin, Relu, Mse, Model, log_softmax, nll, cross_entropy_grad")


def test_check_of_something_else_names_the_lessons_names_and_what_it_got():
    def helper():
        pass

    with pytest.raises(ValueError) as e:
        check_object(helper)
    assert str(e.value) == f"check() grades the lesson's names ({KNOWN}); got 'helper'"
    with pytest.raises(ValueError) as e:  # no __name__ at all: named by its type, never an AttributeError
        check_object(42)
    assert str(e.value) == f"check() grades the lesson's names ({KNOWN}); got 'int'"
