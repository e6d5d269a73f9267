"""A class at once: `check FOLDER` grades every submission (in parallel), one row per file and a summary of the
mistakes; --json, --format csv and --format gradescope (results.json checked field by field against the format)."""

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.grader.exercise import render_py
from mnist_scratch.grader.mutants import CATALOGUE

MUTANT = {m.name: m for m in CATALOGUE}
# the class: 30 submissions of part backward, each the reference answers with at most one classic mistake
CLASS = {"mse_grad_no_bs": 12, "lin_grad_b_mean": 8, "relu_grad_no_mask": 4, None: 6}
GRADESCOPE_TEST_KEYS = {"name": str, "score": float, "max_score": float, "output": str, "visibility": str}
VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}


def check(*args):
    return CliRunner().invoke(app, ["check", *args], env={"COLUMNS": "250"})


def submission(mutant: "str | None") -> str:
    """The reference answers of part backward, then (as a learner's later cell) one broken definition."""
    return render_py(("forward", "backward"), solutions=True) + ("" if mutant is None else
                                                                  "\n# %%\n" + MUTANT[mutant].source)


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    i = 0
    for mutant, n in CLASS.items():
        for _ in range(n):
            (root / f"student{i:02d}").mkdir()
            (root / f"student{i:02d}" / "lesson.py").write_text(submission(mutant))
            i += 1
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "lesson-checkpoint.py").write_text("raise SystemExit")  # never graded
    return root


@pytest.fixture(scope="module")
def graded(klass):
    """The class graded once, as JSON, two files at a time."""
    r = check(str(klass), "--part", "backward", "--json", "--jobs", "2")
    return r.exit_code, json.loads(r.stdout)


def test_the_class_summary_counts_each_known_mistake(graded):
    code, doc = graded
    assert code == 1 and doc["ok"] is False and len(doc["files"]) == 30
    assert [f["source"] for f in doc["files"] if f.get("error")] == []  # parallel loading never trips (gh-106905)
    s = doc["summary"]
    assert (s["files"], s["passing"]) == (30, 6)
    counts = {m["mistake"]: m["files"] for m in s["mistakes"]}
    for mutant, n in CLASS.items():
        if mutant is not None:
            m = MUTANT[mutant]
            assert counts[f"{m.rule}: {m.expect}"] == n, (mutant, counts)
    failing = dict((r["rule"], r["files"]) for r in s["failing_rules"])
    assert failing["mse_grad"] == 12 and failing["lin_grad"] == 8 and failing["relu_grad"] == 4
    assert s["mistakes"][0]["mistake"] == "mse_grad: missing_bs"  # the most common first


def test_each_file_is_its_own_check_document(graded):
    _, doc = graded
    first = doc["files"][0]
    assert first["source"].endswith("student00/lesson.py") and [r["name"] for r in first["rules"]] == [
        "mse_grad", "relu_grad", "lin_grad", "forward_and_backward"]
    row = first["rules"][0]
    assert (row["part"], row["status"], row["key"]) == ("backward", "wrong", "missing_bs")
    assert isinstance(row["traceback"], list)


def test_the_table_has_one_row_per_file_and_the_summary(klass):
    r = check(str(klass / "student00"), str(klass / "student29"), "--part", "backward")
    assert r.exit_code == 1
    assert "student00/lesson.py" in r.stdout and "mse_grad: wrong (missing 1/bs" in r.stdout and "2 / 4" in r.stdout
    assert "mse_grad: missing_bs" in r.stdout and "1 of 2" in r.stdout
    assert "FAIL: 1 of 2 files pass every rule" in r.stdout


def test_all_passing_files_exit_0(klass):
    r = check(str(klass / "student24"), str(klass / "student25"), "--part", "backward")
    assert r.exit_code == 0 and "PASS: 2 of 2 files pass every rule" in r.stdout


def test_a_broken_file_costs_only_its_own_row(klass, tmp_path):
    bad = tmp_path / "broken.ipynb"
    bad.write_text("{not json")
    r = check(str(bad), str(klass / "student24" / "lesson.py"), "--part", "backward", "--json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 1 and [f["ok"] for f in doc["files"]] == [False, True]
    assert "not a readable notebook" in doc["files"][0]["error"] and doc["files"][0]["rules"] == []


def test_the_csv_gradebook_has_a_column_per_rule_and_a_total(klass):
    r = check(str(klass / "student00"), str(klass / "student29"), "--part", "backward", "--format", "csv")
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["file", "mse_grad", "relu_grad", "lin_grad", "forward_and_backward", "passed", "graded"]
    assert rows[1][0].endswith("student00/lesson.py") and rows[1][1] == "wrong" and rows[1][2] == "pass"
    assert rows[2][1:] == ["pass", "pass", "pass", "pass", "4", "4"] and len(rows) == 3


def assert_gradescope(doc: dict) -> None:
    """Gradescope's results.json, field by field: score, output, tests[{name, score, max_score, output,
    visibility}], numbers finite and within their max."""
    assert set(doc) == {"score", "output", "tests"} and isinstance(doc["output"], str)
    assert isinstance(doc["score"], float) and isinstance(doc["tests"], list) and doc["tests"]
    for t in doc["tests"]:
        assert set(t) == set(GRADESCOPE_TEST_KEYS)
        assert all(isinstance(t[k], kind) for k, kind in GRADESCOPE_TEST_KEYS.items())
        assert 0 <= t["score"] <= t["max_score"] and t["visibility"] in VISIBILITIES
    assert doc["score"] == sum(t["score"] for t in doc["tests"])


def test_gradescope_results_for_one_submission_with_points(klass, tmp_path):
    pts = tmp_path / "points.toml"
    pts.write_text('[points]\nmse_grad = 2\nlin_grad = 3\nrelu_grad = 1.5\n\n'
                   '[visibility]\nlin_grad = "after_due_date"\n')
    out = tmp_path / "results.json"
    r = check(str(klass / "student00" / "lesson.py"), "--part", "backward", "--format", "gradescope",
              "--points", str(pts), "--out", str(out))
    assert r.exit_code == 1
    doc = json.loads(out.read_text())
    assert_gradescope(doc)
    tests = {t["name"]: t for t in doc["tests"]}
    assert list(tests) == ["mse_grad", "lin_grad", "relu_grad"] and doc["score"] == 4.5
    assert (tests["mse_grad"]["score"], tests["mse_grad"]["max_score"]) == (0.0, 2.0)
    assert tests["mse_grad"]["output"].startswith("wrong: ") and "bs" in tests["mse_grad"]["output"]
    assert tests["lin_grad"]["visibility"] == "after_due_date" and tests["relu_grad"]["visibility"] == "visible"


def test_gradescope_results_for_a_folder_one_file_each(klass, tmp_path):
    r = check(str(klass / "student00"), str(klass / "student29"), "--part", "backward", "--format", "gradescope",
              "--out", str(tmp_path / "gs"))
    files = sorted(p.name for p in (tmp_path / "gs").iterdir())
    assert r.exit_code == 1 and len(files) == 2 and all(f.endswith("lesson.py.json") for f in files)
    docs = [json.loads((tmp_path / "gs" / f).read_text()) for f in files]
    for d in docs:
        assert_gradescope(d)
        assert [t["max_score"] for t in d["tests"]] == [1.0] * 4  # one point per graded rule by default
    assert sorted(d["score"] for d in docs) == [2.0, 4.0]  # mse_grad and the chain through it fail


@pytest.mark.parametrize("text,msg", [
    ("[points]\nnope = 1\n", "'nope' is not a rule"), ("[points]\nlin = -1\n", "lin must be a number of points"),
    ("[points]\nlin = true\n", "lin must be a number"), ("lin = 1\n", "needs a [points] table"),
    ('[points]\nlin = 1\n[visibility]\nlin = "soon"\n', "visibility of lin must be one of"),
    ("[points", "not valid TOML"),
])
def test_a_bad_points_file_is_one_usage_error(tmp_path, text, msg):
    p = tmp_path / "points.toml"
    p.write_text(text)
    (tmp_path / "l.py").write_text("x = 1\n")
    r = check(str(tmp_path / "l.py"), "--format", "gradescope", "--points", str(p), "--out", str(tmp_path / "o.json"))
    assert r.exit_code == 2 and msg in r.output and not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("args,msg", [
    (["--json", "--format", "csv"], "--json and --format csv are two outputs"),
    (["--out", "x.json"], "--out is where --format gradescope writes"),
    (["--jobs", "-1"], "--jobs must be 0"),
])
def test_contradictory_options_are_usage_errors(tmp_path, args, msg):
    (tmp_path / "l.py").write_text("x = 1\n")
    r = check(str(tmp_path / "l.py"), *args)
    assert r.exit_code == 2 and msg in r.output


def test_an_empty_folder_is_a_usage_error(tmp_path):
    r = check(str(tmp_path))
    assert r.exit_code == 2 and "no .py or .ipynb file in" in r.output
