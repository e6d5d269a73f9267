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

    monkeypatch.setattr(load, "open_regular", lambda path: Huge())
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


def test_magics_are_stripped_before_running():
    got = load_cells(cells("%matplotlib inline\nx = 1\n", "%time y = x + 1\n"), "l.py", seconds=5)
    assert got.namespace["y"] == 2 and got.notes == []


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
    assert got.notes == ['File "l.ipynb [code cell 2]", line 2, in <module>\n    q = q / 0\n'
                         "ZeroDivisionError: division by zero"]
    assert load.linecache.getlines("l.ipynb [code cell 2]") == ["\n", "q = q / 0\n"]
