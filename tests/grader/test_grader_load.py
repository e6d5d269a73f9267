"""Loading a learner's file: read with a size cap, every cell compiled before any runs, each cell run on its own in
one namespace, with what went wrong (syntax error, raising cells, endless cells) said in the learner's terms.
"""

import builtins
import io
import os

import nbformat
import pytest
from nbformat import v4

from mnist_scratch.errors import UsageError
from mnist_scratch.grader import load
from mnist_scratch.grader.load import LESSON_MODULE, MAX_BYTES, load_cells, load_file, read_bounded


def cells(*srcs, path="l.py"):
    """Cells of one .py file, each starting on the line after the previous one ends."""
    out, line = [], 1
    for src in srcs:
        out.append((path, src, line))
        line += src.count("\n")
    return out


# ------------------------------------------------------------------ read_bounded and load_file


def test_a_lesson_file_may_be_up_to_5_mb(tmp_path):
    p = tmp_path / "big.py"
    p.write_bytes(b"#" * MAX_BYTES)
    assert MAX_BYTES == 5_000_000 and len(read_bounded(p)) == MAX_BYTES


def test_a_file_over_5_mb_is_refused_unread(tmp_path):
    p = tmp_path / "big.py"
    p.write_bytes(b"#" * (MAX_BYTES + 1))
    with pytest.raises(UsageError) as e:
        read_bounded(p)
    assert str(e.value) == f"{p} is larger than 5 MB: not a lesson file"


def test_a_huge_file_is_never_read_whole(monkeypatch, tmp_path):
    """Reading stops one byte past the cap: a multi-GB file is refused after 5 MB, not loaded into memory first."""
    asked = []

    class Huge(io.BytesIO):
        def read(self, n=-1):
            asked.append(n)
            return b"#" * n

    monkeypatch.setattr(load, "open_regular", lambda path, **kw: Huge())
    with pytest.raises(UsageError, match="larger than 5 MB"):
        read_bounded(tmp_path / "huge.py")
    assert asked == [MAX_BYTES + 1]


def test_undecodable_bytes_are_replaced_not_fatal(tmp_path):
    p = tmp_path / "l.py"
    p.write_bytes(b"x = 1  # caf\xe9\n")
    assert read_bounded(p) == "x = 1  # caf\ufffd\n"


def test_a_missing_file_is_a_usage_error_with_the_reason(tmp_path):
    with pytest.raises(UsageError) as e:
        read_bounded(tmp_path / "nope.py")
    assert str(e.value) == f"cannot read {tmp_path / 'nope.py'}: No such file or directory"


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    p = tmp_path / "pipe.py"
    os.mkfifo(p)
    with pytest.raises(UsageError, match="not a regular file"):
        read_bounded(p)


@pytest.mark.parametrize("name", ["l.txt", "l", "l.py.bak", "l.PY"])
def test_load_file_takes_only_py_and_ipynb(tmp_path, name):
    p = tmp_path / name
    p.write_text("x = 1\n")
    with pytest.raises(UsageError) as e:
        load_file(p, seconds=5)
    assert str(e.value) == f"{p}: check reads .py or .ipynb files"


def test_load_file_splits_a_py_file_into_its_cells(tmp_path):
    p = tmp_path / "l.py"
    p.write_text("x = 1\n# %%\nraise ValueError('cell 2')\n# %%\ny = x + 1\n")
    got = load_file(p, seconds=5)
    assert got.namespace["y"] == 2 and len(got.notes) == 1 and "ValueError: cell 2" in got.notes[0]


def test_load_file_names_a_notebooks_cells_after_the_file(tmp_path):
    p = tmp_path / "l.ipynb"
    nb = v4.new_notebook()
    nb.cells = [v4.new_code_cell("x = 1"), v4.new_markdown_cell("text"), v4.new_code_cell("y = x + z")]
    p.write_text(nbformat.writes(nb))
    got = load_file(p, seconds=5)
    assert got.filenames == frozenset({f"{p} [code cell 1]", f"{p} [code cell 2]"})
    assert got.notes == [f'File "{p} [code cell 2]", line 1, in <module>\n    y = x + z\n'
                         "NameError: name 'z' is not defined"]


# ------------------------------------------------------------------ load_cells


def test_the_namespace_is_a_fresh_module_that_is_not_main():
    """`if __name__ == "__main__":` training loops in the learner's file must not run while grading."""
    got = load_cells(cells("name = __name__\nf = __file__\nif __name__ == '__main__':\n    ran = True\n"),
                     "l.py", seconds=5)
    ns = got.namespace
    assert (ns["name"], ns["f"], "ran" in ns) == (LESSON_MODULE, "l.py", False) and LESSON_MODULE == "__lesson__"
    assert ns["__builtins__"] is builtins  # the module, as in a notebook's __main__ (not the dict exec would add)
    assert got.filenames == frozenset({"l.py"}) and got.syntax_error == "" and got.notes == []


def test_cells_share_one_namespace_and_run_in_order():
    got = load_cells(cells("x = 1\n", "x = x * 10\n", "y = x + 1\n"), "l.py", seconds=5)
    assert (got.namespace["x"], got.namespace["y"]) == (10, 11)


def test_builtins_work_as_in_a_notebook():
    """A notebook's __builtins__ is the builtins module: code written there (__builtins__.len) runs here too."""
    got = load_cells(cells("n = __builtins__.len([1, 2, 3])\n"), "l.py", seconds=5)
    assert got.namespace["n"] == 3 and got.notes == []


def test_a_note_shows_only_the_learners_own_frames(tmp_path, monkeypatch):
    """Their cell called into another module that raised: the note quotes their cell, not the module's insides."""
    (tmp_path / "helper_mod_for_notes.py").write_text("def boom():\n    raise ValueError('inside')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    got = load_cells(cells("import helper_mod_for_notes\n", "helper_mod_for_notes.boom()\n"), "l.py", seconds=5)
    assert got.notes == ['File "l.py", line 2, in <module>\n    helper_mod_for_notes.boom()\nValueError: inside']


def test_magics_are_stripped_before_running_with_one_note():
    got = load_cells(cells("%matplotlib inline\nx = 1\n", "%time y = x + 1\nx?\n"), "l.py", seconds=5)
    assert got.namespace["y"] == 2
    assert got.notes == ["skipped 2 line(s) of IPython syntax, not Python: %matplotlib, x?"]


def test_printed_output_is_kept_aside():
    got = load_cells(cells("print('hello')\n", "print('again')\n"), "l.py", seconds=5)
    assert got.output == "hello\nagain\n"


def test_a_syntax_error_anywhere_runs_nothing_and_names_the_line_and_code():
    """Compiling every cell first: a file that does not compile has no half-run side effects."""
    got = load_cells(cells("import os\nran = True\n", "x = 1\ndef f(:\n    pass\n"), "l.py", seconds=5)
    assert got.namespace == {} and got.filenames == frozenset() and got.notes == []
    assert got.syntax_error == "syntax error at line 4: invalid syntax: def f(:"


def test_a_syntax_error_in_a_notebook_cell_names_the_cell():
    srcs = [("l.ipynb [code cell 1]", "x = 1\n", 1), ("l.ipynb [code cell 2]", "y = (\n", 1)]
    got = load_cells(srcs, "l.ipynb", seconds=5)
    assert got.syntax_error == "syntax error at l.ipynb [code cell 2], line 1: '(' was never closed: y = ("


def test_a_syntax_error_without_source_text_has_no_code_part():
    """An error past the end of the cell has no line to quote: just where and what."""
    got = load_cells(cells("if x:\n\n"), "l.py", seconds=5)
    assert got.syntax_error == "syntax error at line 2: expected an indented block after 'if' statement on line 1"


def test_a_raising_cell_is_noted_with_the_learners_traceback_and_later_cells_run():
    got = load_cells(cells("x = 1\n", "y = undefined_name\n", "z = 3\n"), "l.py", seconds=5)
    assert got.namespace["z"] == 3 and "y" not in got.namespace
    assert got.notes == ['File "l.py", line 2, in <module>\n    y = undefined_name\n'
                         "NameError: name 'undefined_name' is not defined"]


def test_line_numbers_in_tracebacks_are_the_files_own():
    """The padding puts a cell starting on line 5 at line 5, so the traceback points at the learner's line."""
    got = load_cells([("l.py", "a = 1\n\n\n\n", 1), ("l.py", "1 / 0\n", 5)], "l.py", seconds=5)
    assert got.notes[0].startswith('File "l.py", line 5, in <module>\n    1 / 0\n')


def test_an_endless_cell_is_stopped_noted_and_the_rest_still_runs():
    got = load_cells(cells("while True:\n    pass\n", "after = 1\n"), "l.py", seconds=0.3)
    assert got.namespace["after"] == 1
    assert len(got.notes) == 1 and got.notes[0].startswith("l.py: timed out after 0.3s")


def test_tracebacks_quote_the_code_as_run(monkeypatch):
    """linecache holds each cell's lines as run (magics blanked), so quoted lines match the file's numbering."""
    srcs = [("l.ipynb [code cell 1]", "%matplotlib inline\nq = 1\n", 1),
            ("l.ipynb [code cell 2]", "!ls\nq = q / 0\n", 1)]
    got = load_cells(srcs, "l.ipynb", seconds=5)
    assert got.notes[1:] == ['File "l.ipynb [code cell 2]", line 2, in <module>\n    q = q / 0\n'
                             "ZeroDivisionError: division by zero"]
    assert load.linecache.getlines("l.ipynb [code cell 2]") == ["\n", "q = q / 0\n"]


# ------------------------------------------------------------------ statement by statement


def test_a_failing_statement_costs_only_itself_definitions_before_and_after_survive():
    """A missing package in the middle of a cell: the defs above and below it are still there to grade."""
    got = load_cells(cells("def lin(x, w, b): return x @ w + b\nimport no_such_pkg_here\n"
                           "def relu(x): return x.clamp_min(0.)\n"), "l.py", seconds=5)
    assert {"lin", "relu"} <= set(got.namespace) and "no_such_pkg_here" not in got.namespace
    assert got.notes == ['File "l.py", line 2, in <module>\n    import no_such_pkg_here\n'
                         "ModuleNotFoundError: No module named 'no_such_pkg_here'"]


def test_the_cascade_of_name_errors_from_one_failure_is_one_note():
    """The data cell fails: every later line that reads x_train (or what was computed from it) is counted under
    that one note, not one note each; an unrelated NameError is its own note."""
    got = load_cells(cells("import torch\nx_train = open('/no/such/mnist.pkl').read()\n", "n, m = x_train.shape\n",
                           "w1 = torch.zeros(m, 3)\nprint(w1)\nx_train.mean()\n", "q = typo_name\n",
                           "def f(): return x_train\nf()\n"), "l.py", seconds=5)
    assert len(got.notes) == 2, got.notes
    assert got.notes[0].startswith('File "l.py", line 2, in <module>') and "FileNotFoundError" in got.notes[0]
    assert got.notes[0].endswith("(5 later statements failed for want of what this defines)")
    assert got.notes[1].endswith("NameError: name 'typo_name' is not defined") and "f" in got.namespace


def test_a_name_defined_again_later_is_no_longer_a_consequence():
    got = load_cells(cells("x = 1 / 0\n", "x = 2\n", "y = x + undefined_y\n"), "l.py", seconds=5)
    assert len(got.notes) == 2 and "undefined_y" in got.notes[1]


def test_each_cell_has_its_own_time_budget_over_its_statements():
    got = load_cells(cells("a = 1\nwhile True:\n    pass\nb = 2\n", "c = 3\n"), "l.py", seconds=0.3)
    assert (got.namespace["a"], got.namespace["c"], "b" in got.namespace) == (1, 3, False)
    assert got.notes == ["l.py: timed out after 0.3s (an endless loop?)"]


def test_a_notebook_cell_is_named_by_its_execution_count(tmp_path):
    import json

    nb = {"nbformat": 4, "nbformat_minor": 2, "metadata": {}, "cells": [
        {"cell_type": "code", "execution_count": 7, "metadata": {}, "outputs": [], "source": "a = 1\nb = a / 0"}]}
    p = tmp_path / "l.ipynb"
    p.write_text(json.dumps(nb))
    got = load_file(p, seconds=5)
    assert got.notes[0].startswith(f'File "{p} [In [7]]", line 2, in <module>')


# ------------------------------------------------------------------ definitions


def test_every_definition_is_recorded_and_the_last_hand_written_one_is_chosen():
    """Both course notebooks end with `class Model(nn.Module)`: the hand-written Model before it is the one graded."""
    got = load_cells(cells("import torch\nclass Model:\n    v = 1\n", "class Model:\n    v = 2\n",
                           "class Model(torch.nn.Module):\n    v = 3\n"), "l.py", seconds=5)
    assert [(d.where, d.autograd) for d in got.definitions["Model"]] == [
        ("line 2", False), ("line 4", False), ("line 6", True)]
    obj, note = got.handwritten("Model")
    assert obj.v == 2 and got.namespace["Model"].v == 3
    assert note == ("Model is defined 3 times: the last hand-written one (line 4) is graded, not line 2, "
                    "line 6 (a torch.nn.Module)")


def test_a_name_defined_once_has_no_note_and_an_autograd_only_one_is_skipped():
    got = load_cells(cells("import torch\ndef lin(x): return x\nclass Model(torch.nn.Module): pass\nrelu = 3\n"),
                     "l.py", seconds=5)
    assert got.handwritten("lin") == (got.namespace["lin"], "")
    assert got.handwritten("Model") == (None, "Model (line 3) is a torch.nn.Module (autograd), not hand-written: "
                                              "skipped")
    assert got.handwritten("relu") == (3, "") and got.handwritten("nope") == (None, "")


def test_names_a_failed_star_import_would_have_brought_are_its_consequences():
    """`from exp.nb_01 import *` fails: get_data() and friends, never defined anywhere, are counted under it."""
    got = load_cells(cells("from no_such_course_module import *\n", "x = get_data()\n", "y = normalize_to(x)\n",
                           "z = typo_after\n"), "l.py", seconds=5)
    assert len(got.notes) == 1 and "No module named 'no_such_course_module'" in got.notes[0]
    assert got.notes[0].endswith("(3 later statements failed for want of what this defines)")


def test_a_statement_reading_a_name_whose_definition_failed_is_a_consequence_whatever_it_raises():
    """`model = Model(w1, ...)` failed, so `model` is still an earlier function: model.backward() is no new cause."""
    got = load_cells(cells("def model(x): return x\n", "model = Model_missing(1)\n", "model.backward()\n"),
                     "l.py", seconds=5)
    assert len(got.notes) == 1 and got.notes[0].endswith("(1 later statement failed for want of what this defines)")
