"""`exercise` writes the blanks (py or ipynb); they grade `not implemented` until filled; check() in a notebook."""

import json

import nbformat
import pytest
from typer.testing import CliRunner

import mnist_scratch
from mnist_scratch.cli import app
from mnist_scratch.grader import PARTS, RULES, check_file, rules_of
from mnist_scratch.grader.mutants import solutions_namespace


def cli(*args):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


@pytest.mark.parametrize("fmt", ["py", "ipynb"])
def test_an_unfilled_exercise_is_not_implemented_everywhere(tmp_path, fmt):
    p = tmp_path / f"lesson.{fmt}"
    assert cli("exercise", str(p)).exit_code == 0
    res = cli("check", str(p), "--json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert [r["name"] for r in doc["rules"]] == [r.name for r in RULES]
    assert {r["status"] for r in doc["rules"]} == {"not implemented"}


def test_the_py_file_has_cells_names_docstrings_shapes_and_stubs(tmp_path):
    p = tmp_path / "lesson.py"
    cli("exercise", str(p))
    text = p.read_text()
    assert text.count("# %%\n") >= len(RULES) and "# %% [markdown]" in text
    for sig in ("def matmul(a, b):", "def lin(x, w, b):", "def mse_grad(inp, targ):", "def relu_grad(inp, out):",
                "def lin_grad(inp, out, w, b):", "def forward_and_backward(inp, targ):", "class Module:",
                "class Lin(Module):", "class Relu(Module):", "class Mse(Module):", "class Model:",
                "def log_softmax(x):", "def nll(input, target):", "def cross_entropy_grad(inp, targ):"):
        assert sig in text
    assert "# inp (bs, n_in), out (bs, n_out) carrying out.g, w (n_in, n_out), b (n_out,)" in text
    assert "inp.t() @ out.g" not in text  # no answers in the blanks


def test_the_notebook_is_a_valid_nbformat_4_notebook(tmp_path):
    p = tmp_path / "lesson.ipynb"
    assert cli("exercise", str(p)).exit_code == 0  # the suffix picks the format
    nb = nbformat.read(p, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert any(c.source.startswith("def lin_grad(inp, out, w, b):") for c in code)
    assert all(not c.outputs for c in code)


@pytest.mark.parametrize("part", PARTS)
def test_a_part_passes_only_once_filled(tmp_path, part):
    blank, filled = tmp_path / "blank.py", tmp_path / "filled.py"
    assert cli("exercise", str(blank), "--part", part).exit_code == 0
    assert cli("exercise", str(filled), "--part", part, "--solutions").exit_code == 0
    res = check_file(blank, part=part)
    assert not res.ok and {r.status for r in res.rules} == {"not implemented"}
    assert [r.name for r in res.rules] == [r.name for r in rules_of(part)]
    res = cli("check", str(filled), "--part", part)
    assert res.exit_code == 0, res.stdout


def test_never_overwrites_without_force(tmp_path):
    p = tmp_path / "lesson.py"
    p.write_text("my work\n")
    res = cli("exercise", str(p))
    assert res.exit_code == 2 and "--force" in res.stderr and p.read_text() == "my work\n"
    assert cli("exercise", str(p), "--force").exit_code == 0 and "NotImplementedError" in p.read_text()


@pytest.mark.parametrize("args,needle", [
    (["--format", "txt"], "--format"), (["--part", "nope"], "--part"), (["x.py", "--format", "ipynb"], "does not end"),
])
def test_exercise_usage_errors(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    res = cli("exercise", *args)
    assert res.exit_code == 2 and needle in res.stderr and not list(tmp_path.iterdir())


def test_default_name_in_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = cli("exercise", "--format", "ipynb", "--solutions")
    assert res.exit_code == 0 and (tmp_path / "lesson.ipynb").exists()
    assert "mnist-scratch check lesson.ipynb" in res.stdout
    assert check_file(tmp_path / "lesson.ipynb").ok


# ------------------------------------------------------------------ the library call, as in a notebook


def test_check_a_function_a_class_or_a_namespace():
    ns = solutions_namespace()
    res = mnist_scratch.check(ns["lin_grad"])
    assert res.ok and [r.name for r in res.rules] == ["lin_grad"]
    assert mnist_scratch.check(ns["Lin"]).ok and mnist_scratch.check(ns).ok
    assert mnist_scratch.check(ns, part="ce").ok


def test_check_with_no_argument_grades_the_callers_globals():
    ns = solutions_namespace()
    code = "from mnist_scratch import check\nresult = check(part='backward')\n"
    exec(compile(code, "<notebook cell>", "exec"), ns)
    assert ns["result"].ok and len(ns["result"].rules) == 4


def test_the_result_renders_in_jupyter_and_a_terminal():
    ns = solutions_namespace()
    exec("def relu_grad(inp, out):\n    inp.g = out.g.clone()\n", ns)
    res = mnist_scratch.check(ns["relu_grad"])
    assert not res.ok and res["relu_grad"].key == "relu_no_mask"
    html = res._repr_html_()
    assert "<pre" in html and "relu_grad" in html and "no ReLU mask" in html
    text = repr(res)
    assert "relu_grad" in text and "wrong" in text and "FAIL: 1 of 1" in text and "\x1b[" not in text
    assert res.__rich__() is not None


def test_check_refuses_an_unknown_name():
    def helper():
        pass

    with pytest.raises(ValueError, match="lesson's names"):
        mnist_scratch.check(helper)


def test_command_modules_do_not_import_torch():
    import subprocess
    import sys

    code = "import sys, mnist_scratch.commands.check, mnist_scratch.commands.exercise; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_commands_part_choices_are_the_lessons_parts():
    from mnist_scratch.commands.exercise import Part

    assert tuple(p.value for p in Part) == PARTS


def test_a_check_cell_in_a_file_being_checked_does_not_grade_twice(tmp_path):
    from mnist_scratch.grader.exercise import render

    p = tmp_path / "mine.py"
    p.write_text(render("py", ("forward",), solutions=True)
                 + "\n# %%\nfrom mnist_scratch import check\ninner = check()\nprint(inner.source)\n")
    from mnist_scratch.grader.load import load_file

    loaded = load_file(p, seconds=10)
    assert not loaded.notes and loaded.namespace["inner"].rules == []  # skipped, not a second grading
    assert loaded.namespace["inner"].source.startswith("skipped")
    assert check_file(p, part="forward").ok
