"""RuleResult and CheckResult: when a check counts as passed, the row lookup, and the JSON rows autograders read."""

import math

import pytest

from mnist_scratch.grader.result import STATUSES, CheckResult, RuleResult
from mnist_scratch.report.check import shown


def row(name="relu", status="pass", **kw):
    return RuleResult(name, "forward", status, **kw)


@pytest.mark.parametrize("status,ok", [(s, s == "pass") for s in STATUSES])
def test_only_a_pass_row_is_ok(status, ok):
    """wrong, error, missing and not implemented all count as not passing."""
    assert row(status=status).ok is ok


def test_statuses_are_the_seven_verdicts():
    # "autograd": a backward rule whose gradient came from autograd, counted as failing (issue 20); "skipped": only
    # an autograd torch.nn.Module under the name (issue 19)
    assert STATUSES == ("pass", "wrong", "error", "missing", "not implemented", "autograd", "skipped")


def test_a_row_defaults_to_nothing_compared_and_no_hint():
    r = row()
    assert (r.max_rel, r.hint, r.key, r.traceback) == (None, "", "", ())


@pytest.mark.parametrize("max_rel,shown", [(3.5e-9, 3.5e-9), (0.0, 0.0), (None, None), (math.inf, None),
                                           (math.nan, None)])
def test_json_row_has_no_infinity_or_nan(max_rel, shown):
    """JSON has no inf/nan: a row compared to an infinite difference (wrong shape) gives null, not invalid JSON."""
    d = row(status="wrong", max_rel=max_rel, hint="w.g is wrong", key="values").to_dict()
    assert d == {"name": "relu", "part": "forward", "status": "wrong", "max_rel": shown, "hint": "w.g is wrong",
                 "key": "values", "traceback": []}


def test_json_row_carries_the_part_the_key_and_the_learners_traceback():
    """An autograder shows the learner's own frames, and a class summary groups files by the diagnosis' key."""
    d = row(status="error", hint="boom", key="exception", traceback=("File x", "ValueError: boom")).to_dict()
    assert d == {"name": "relu", "part": "forward", "status": "error", "max_rel": None, "hint": "boom",
                 "key": "exception", "traceback": ["File x", "ValueError: boom"]}


# ------------------------------------------------------------------ CheckResult.ok


def test_a_check_passes_only_when_every_graded_rule_passes():
    assert CheckResult([row("lin"), row("relu")], "f.py").ok is True
    assert CheckResult([row("lin"), row("relu", "wrong")], "f.py").ok is False
    assert CheckResult([row("lin", "missing"), row("relu")], "f.py").ok is False


def test_nothing_graded_is_not_a_pass():
    """An empty check (no rule of the part found to grade) must not read as success to an autograder."""
    assert CheckResult([], "f.py").ok is False


def test_a_load_error_fails_the_check_even_with_passing_rows():
    assert CheckResult([row()], "f.py", error="syntax error at line 4").ok is False


# ------------------------------------------------------------------ lookup by rule name


def test_lookup_by_rule_name():
    rows = [row("lin"), row("relu", "wrong"), row("relu", "pass")]
    res = CheckResult(rows, "f.py")
    assert res["lin"] is rows[0]
    assert res["relu"] is rows[1]  # the first row of that name


def test_lookup_of_a_rule_not_graded_raises_keyerror_naming_it():
    """res["mse"] when only part forward's lin was graded: a KeyError that says which name, not a None row."""
    res = CheckResult([row("lin")], "f.py")
    with pytest.raises(KeyError) as e:
        res["mse"]
    assert e.value.args == ("mse",)


# ------------------------------------------------------------------ the JSON document


def test_json_document_of_a_passing_check():
    res = CheckResult([row("lin", max_rel=1e-9)], "f.py", seconds=1.23456)
    assert res.to_dict() == {"ok": True, "source": "f.py", "seconds": 1.235, "rules": [
        {"name": "lin", "part": "forward", "status": "pass", "max_rel": 1e-9, "hint": "", "key": "", "traceback": []}]}


def test_json_document_carries_the_load_error_and_notes_only_when_there_are_some():
    res = CheckResult([row("lin", "error", hint="the file does not compile")], "f.py", error="syntax error at line 4",
                      notes=["f.py: NameError"])
    d = res.to_dict()
    assert d["ok"] is False and d["error"] == "syntax error at line 4" and d["notes"] == ["f.py: NameError"]
    assert list(d) == ["ok", "source", "seconds", "rules", "error", "notes"]
    assert set(CheckResult([], "ns").to_dict()) == {"ok", "source", "seconds", "rules"}


def test_a_fresh_result_has_its_own_notes_list():
    a, b = CheckResult([], "a"), CheckResult([], "b")
    a.notes.append("x")
    assert b.notes == [] and (a.seconds, a.error) == (0.0, "")


# ------------------------------------------------------------------ rendering hooks (terminal, plain prompt, Jupyter)


def test_repr_is_the_plain_text_report():
    res = shown(CheckResult([row("lin"), row("relu", "wrong", max_rel=0.5, hint="relu(x) is wrong")], "f.py"))
    text = repr(res)
    assert text.startswith("check f.py") and "relu(x) is wrong" in text and "5.0e-01" in text
    assert "FAIL: 1 of 2 rules not passing (1 wrong)" in text and "\x1b[" not in text


def test_html_and_rich_render_the_same_report():
    from rich.console import Group

    res = shown(CheckResult([row("lin")], "f.py"))
    assert "PASS: all 1 rules pass" in res._repr_html_() and isinstance(res.__rich__(), Group)


def test_the_shown_result_keeps_every_field():
    res = CheckResult([row("lin")], "f.py", seconds=1.5, error="", notes=["cell 2 raised"])
    s = shown(res)
    assert (s.rules, s.source, s.seconds, s.notes, s.ok) == (res.rules, res.source, res.seconds, res.notes, res.ok)
    assert s.to_dict() == res.to_dict()
