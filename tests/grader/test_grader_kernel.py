"""check() in a real Jupyter kernel (ipykernel, run by nbclient): its table shows once, print()/str() give the
table, and an nbgrader-style assert cell per rule fails with the diagnosis as its message."""

import contextlib
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import v4

ROOT = str(Path(__file__).resolve().parents[2])
CELLS = [
    "from mnist_scratch import check\n\ndef relu(x):\n    return x.clamp_min(0.)\n\n"
    "def relu_grad(inp, out):\n    inp.g = out.g  # forgot the mask\n\ncheck(relu)",
    "r = check(relu)\nprint(r)",
    "str(r).splitlines()[0].strip()",
    "res = check(relu_grad)\nassert res.ok, res  # nbgrader: one assert cell per rule",
]


@pytest.fixture(scope="module")
def ran():
    """The notebook executed once in a fresh python3 kernel of this interpreter, this checkout first on the path."""
    nb = v4.new_notebook()
    nb.cells = [v4.new_code_cell(src) for src in CELLS]
    with this_checkout():
        NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    return nb.cells


@contextlib.contextmanager
def this_checkout():
    """The kernel (a child process) imports the package from this checkout first, as the test process does."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, old) if p)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = old


def test_the_result_of_check_shows_once_as_html_with_a_plain_text_table(ran):
    outs = ran[0].outputs
    assert [o.output_type for o in outs] == ["execute_result"]
    data = outs[0]["data"]
    assert "<pre" in data["text/html"] and "relu" in data["text/html"]
    assert "rule" in data["text/plain"] and "pass" in data["text/plain"] and "PASS: all 1 rules pass" in \
        data["text/plain"]


def test_print_and_str_give_the_table(ran):
    assert [o.output_type for o in ran[1].outputs] == ["stream"]
    assert "PASS: all 1 rules pass" in ran[1].outputs[0]["text"]
    assert ran[2].outputs[0]["data"]["text/plain"] == "'check relu'"


def test_an_assert_cell_fails_with_the_diagnosis(ran):
    (err,) = ran[3].outputs
    assert err.output_type == "error" and err["ename"] == "AssertionError"
    assert "relu_grad" in err["evalue"] and "wrong" in err["evalue"]


def test_the_kernel_ran_this_checkout():
    """Guard: the kernel imported the package from this worktree, not another checkout's editable install."""
    nb = v4.new_notebook()
    nb.cells = [v4.new_code_cell("import mnist_scratch, os\n"
                                 "print(os.path.dirname(os.path.dirname(mnist_scratch.__file__)))")]
    with this_checkout():
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    assert nb.cells[0].outputs[0]["text"].strip() == ROOT
    assert nbformat.validate(nb) is None
