"""`check FILE` on learners' files: broken in every way a file can be, .py and .ipynb alike, never modified."""

import json
import os

import nbformat
import pytest
from nbformat import v4
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.grader import check_file
from mnist_scratch.grader.exercise import render

SOLUTIONS = render("py", solutions=True)


def check(*args, **env):
    return CliRunner().invoke(app, ["check", *args], env={"COLUMNS": "250", **env})


def write(tmp_path, text, name="mine.py"):
    p = tmp_path / name
    p.write_text(text)
    return p


def notebook(tmp_path, sources, name="mine.ipynb", outputs=None):
    nb = v4.new_notebook()
    nb.cells = [v4.new_markdown_cell("# my lesson")] + [v4.new_code_cell(s) for s in sources]
    if outputs:
        nb.cells[1].outputs = outputs
    p = tmp_path / name
    p.write_text(nbformat.writes(nb))
    return p


def test_solutions_pass_and_exit_0(tmp_path):
    p = write(tmp_path, SOLUTIONS)
    res = check(str(p))
    assert res.exit_code == 0, res.output
    assert "PASS: all 18 rules pass" in res.stdout


def test_py_and_ipynb_of_the_same_code_give_the_same_verdicts(tmp_path):
    broken = SOLUTIONS.replace("    b.g = out.g.sum(0)  # (n_out,)", "    b.g = out.g.mean(0)")
    assert broken != SOLUTIONS
    cells = broken.split("# %%\n")
    py = check_file(write(tmp_path, broken))
    nb = check_file(notebook(tmp_path, cells))
    assert [(r.name, r.status, r.key) for r in py.rules] == [(r.name, r.status, r.key) for r in nb.rules]
    assert py["lin_grad"].key == "bias_mean" and not py.ok


def test_json_for_autograders(tmp_path):
    p = write(tmp_path, SOLUTIONS.replace("return x @ w + b", "return x @ w"))
    res = check(str(p), "--json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["ok"] is False and len(doc["rules"]) == 18
    assert all(set(r) == {"name", "part", "status", "max_rel", "hint", "key", "traceback"} for r in doc["rules"])
    lin = next(r for r in doc["rules"] if r["name"] == "lin")
    assert lin["status"] == "wrong" and "bias is not added" in lin["hint"] and lin["max_rel"] > 0


def test_syntax_error_names_the_line(tmp_path):
    p = write(tmp_path, "import torch\n\ndef relu(x):\n    return x.clamp_min(0.\n\ndef lin(x, w, b):\n    pass\n")
    res = check(str(p), "--json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["ok"] is False and "syntax error at line 4" in doc["error"]
    assert all(r["status"] == "error" for r in doc["rules"])
    res = check(str(p))
    assert "syntax error at line 4" in res.stdout and "FAIL: nothing graded" in res.stdout


def test_syntax_error_in_a_notebook_names_the_cell(tmp_path):
    p = notebook(tmp_path, ["import torch", "def relu(x):\n    return x.clamp_min(0.)", "def lin(x, w, b)\n    pass"])
    res = check_file(p)
    assert "[code cell 3], line 1" in res.error and not res.ok


def test_missing_function_and_not_implemented(tmp_path):
    p = write(tmp_path, "def relu(x):\n    raise NotImplementedError\n")
    res = check_file(p, part="forward")
    assert [(r.name, r.status) for r in res.rules] == [("lin", "missing"), ("relu", "not implemented"),
                                                       ("mse", "missing")]
    assert res.rules[0].hint == "no lin defined"


def test_an_exception_shows_the_learners_own_traceback(tmp_path):
    src = ("import torch\n\ndef helper(t):\n    return t.nonexistent()\n\n"
           "def relu_grad(inp, out):\n    inp.g = helper(out.g)\n")
    p = write(tmp_path, src)
    res = check(str(p), "--part", "backward")
    assert res.exit_code == 1
    r = check_file(p, part="backward")["relu_grad"]
    assert r.status == "error" and "AttributeError" in r.hint
    assert r.traceback[:4] == (f'File "{p}", line 7, in relu_grad', "    inp.g = helper(out.g)",
                               f'File "{p}", line 4, in helper', "    return t.nonexistent()")
    assert not any("mnist_scratch" in line for line in r.traceback)  # the grader's frames are trimmed
    assert "relu_grad raised (your code):" in res.stdout and "return t.nonexistent()" in res.stdout


def test_an_endless_loop_is_stopped_and_reported(tmp_path):
    p = write(tmp_path, "def relu(x):\n    while True:\n        pass\n\ndef lin(x, w, b):\n    return x @ w + b\n")
    res = check(str(p), "--part", "forward", "--timeout", "0.5", "--json")
    assert res.exit_code == 1
    rules = {r["name"]: r for r in json.loads(res.stdout)["rules"]}
    assert rules["relu"]["status"] == "error" and rules["relu"]["hint"].startswith("timed out after 0.5s")
    assert rules["lin"]["status"] == "pass"  # the next rule runs normally after the stop


def test_an_endless_loop_at_load_is_stopped_too(tmp_path):
    p = write(tmp_path, "while True:\n    pass\n# %%\ndef relu(x):\n    return x.clamp_min(0.)\n")
    res = check_file(p, part="forward", seconds=0.5)
    assert res["relu"].status == "pass" and "timed out after 0.5s" in res.notes[0]


def test_a_rule_that_mutates_its_input_is_wrong_even_when_its_result_is_right(tmp_path):
    src = "def relu_grad(inp, out):\n    out.g.mul_(inp > 0)\n    inp.g = out.g.clone()\n"
    r = check_file(write(tmp_path, src), part="backward")["relu_grad"]
    assert r.status == "wrong" and r.key == "inplace" and "out.g is modified in place" in r.hint


def test_the_file_is_never_modified_and_prints_do_not_leak(tmp_path):
    p = write(tmp_path, SOLUTIONS + "\nprint('hello from the learner')\n")
    before = (p.read_bytes(), os.stat(p).st_mtime_ns)
    res = check(str(p), "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["ok"] is True  # stdout is one JSON object
    assert (p.read_bytes(), os.stat(p).st_mtime_ns) == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["mine.py"]


def test_notebook_magics_and_shell_lines_are_skipped_and_outputs_never_read(tmp_path):
    out = [v4.new_output("stream", name="stdout", text="def relu(x): return x  # an output, never code")]
    cells = ["%matplotlib inline\n!pip install nothing\nimport torch",
             "%%bash\necho this is not python",
             "%time t = torch.ones(2)",
             "def relu(x):\n    return x.clamp_min(0.)\nfiles = !ls"]
    res = check_file(notebook(tmp_path, cells, outputs=out), part="forward")
    assert res["relu"].status == "pass" and res["lin"].status == "missing"
    assert res.notes == ["skipped 4 line(s) of IPython syntax, not Python: %matplotlib, !pip, %%bash, !ls"]


def test_a_cell_that_raises_while_loading_is_noted_and_later_cells_still_run(tmp_path):
    p = notebook(tmp_path, ["x_train.mean()", "def relu(x):\n    return x.clamp_min(0.)"])
    res = check_file(p, part="forward")
    assert res["relu"].status == "pass" and "NameError" in res.notes[0] and "[code cell 1]" in res.notes[0]


@pytest.mark.parametrize("args,needle", [
    ([], "give the FILE"), (["nope.py"], "is not a file"), (["--part", "bogus", "x.py"], "--part"),
    (["--timeout", "0", "x.py"], "--timeout"), (["--mutants", "x.py"], "--mutants grades"),
])
def test_usage_errors_are_one_line_exit_2(tmp_path, args, needle):
    res = check(*args)
    assert res.exit_code == 2 and needle in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_other_file_kinds_are_refused(tmp_path):
    res = check(str(write(tmp_path, "x", "mine.txt")))
    assert res.exit_code == 2 and "reads .py or .ipynb" in res.stderr
    res = check(str(write(tmp_path, "{not json", "broken.ipynb")))
    assert res.exit_code == 2 and "not a readable notebook" in res.stderr


def test_help_says_it_runs_the_file_as_the_user():
    res = CliRunner().invoke(app, ["check", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "RUNS THE CODE IN FILE AS YOU" in res.stdout


def test_traceback_lines_match_the_file_in_a_file_with_cells(tmp_path):
    broken = SOLUTIONS.replace("    b.g = out.g.sum(0)  # (n_out,)", "    b.g = out.g.total()  # (n_out,)")
    p = write(tmp_path, broken)
    r = check_file(p, part="backward")["lin_grad"]
    lineno = broken.splitlines().index("    b.g = out.g.total()  # (n_out,)") + 1
    assert r.traceback[0] == f'File "{p}", line {lineno}, in lin_grad'
    assert r.traceback[1] == "    b.g = out.g.total()  # (n_out,)"
