"""Turning a learner's file into cells of plain Python: IPython magics and shell lines blanked with line numbers kept,
`# %%` cells of a .py split at their markers, a notebook's code cells named by their number.
"""

import nbformat
import pytest
from nbformat import v4

from mnist_scratch.errors import UsageError
from mnist_scratch.grader.load import ipynb_cells, py_cells, strip_magics

# ------------------------------------------------------------------ strip_magics


@pytest.mark.parametrize("src,want", [
    ("%matplotlib inline\nimport torch", "\nimport torch\n"),  # a line magic: blanked, the line kept
    ("!pip install torch\nx = 1", "\nx = 1\n"),  # a shell escape
    ("  !ls", "\n"),
    ("files = !ls\nn = 2", "\nn = 2\n"),  # a shell capture
    ("x.path = %pwd", "\n"),
    ("y =%env HOME", "\n"),
    ("a = b % c\nd = e != f", "a = b % c\nd = e != f\n"),  # Python's own % and != are not magics
    ("%time t = mm(a, b)", "t = mm(a, b)\n"),  # %time keeps its statement: the lesson times its matmul that way
    ("%timeit mm(a, b)", "mm(a, b)\n"),
    ("for i in r:\n    %time f(i)", "for i in r:\n    f(i)\n"),  # the statement keeps its indent
    ("%timeit -n 10 -r 3 mm(a, b)", "mm(a, b)\n"),  # -n and -r take a value: both dropped
    ("%timeit -q mm(a, b)", "mm(a, b)\n"),  # a flag without a value: dropped alone
    ("%timeit -n10 -o f(x)", "f(x)\n"),
    ("  %time   x = 1  ", "  x = 1\n"),
    ("%time ", "\n"),  # nothing to time: a blank line, not an IndexError that stops the whole check
    ("%timeit -n", "\n"),  # an option with nothing after it: a blank line, not an endless loop
    ("%timeit -q", "\n"),
    ("%timer x", "\n"),  # not %time: an unknown magic, blanked
    ("x = 1\n\ny = 2", "x = 1\n\ny = 2\n"),
    ("", "\n"),
    ("init.kaiming_normal_??\nx = 1", "\nx = 1\n"),  # IPython help: obj??, obj?, ?obj, ??obj
    ("lin?", "\n"), ("?lin", "\n"), ("??torch.randn", "\n"), ("  x.shape?  ", "\n"), ("f()?", "\n"),
    ("q = 'why?'\nz = a if b else c", "q = 'why?'\nz = a if b else c\n"),  # a ? inside a string is Python
    ("get_ipython().run_line_magic('timeit', 'mm(a, b)')", "\n"),  # what nbconvert writes for a magic
    ("files = get_ipython().getoutput('ls')\nn = 1", "\nn = 1\n"),
])
def test_line_magics_and_shell_lines(src, want):
    assert strip_magics(src) == want


@pytest.mark.parametrize("magic", ["%%bash", "%%writefile lesson.py", "%%html", "  %%bash"])
def test_a_cell_magic_that_is_not_python_blanks_the_whole_cell(magic):
    """%%bash's body is shell: running it as Python would fail; its lines are kept as blanks for the numbering."""
    assert strip_magics(f"{magic}\necho hi\nls -l") == "\n\n\n"


@pytest.mark.parametrize("magic", ["%%time", "%%timeit -n 3", "%%capture out"])
def test_a_timing_or_capture_cell_runs_its_body(magic):
    """%%time's body is the learner's Python (their definitions often sit in it): only the magic line goes."""
    assert strip_magics(f"{magic}\ndef relu(x):\n    return x.clamp_min(0.)") == \
        "\ndef relu(x):\n    return x.clamp_min(0.)\n"


def test_what_is_skipped_is_listed_for_the_note():
    skipped = []
    strip_magics("%matplotlib inline\nlin??\n!ls\nfiles = !ls\nget_ipython().system('ls')\n%time x = 1", skipped)
    assert skipped == ["%matplotlib", "lin??", "!ls", "!ls", "get_ipython()"]


def test_a_cell_magic_counts_only_on_the_first_line():
    assert strip_magics("x = 1\n%%bash\necho hi") == "x = 1\n\necho hi\n"


# ------------------------------------------------------------------ py_cells


def test_a_py_file_without_markers_is_one_cell():
    assert py_cells("import torch\nx = 1", "l.py") == [("l.py", "import torch\nx = 1\n", 1)]


def test_a_py_file_is_split_at_its_markers_with_first_line_numbers():
    text = "# %%\nimport torch\n\n# %% [markdown]\n# text\n#%%\ndef f():\n    return 1\n"
    assert py_cells(text, "l.py") == [
        ("l.py", "# %%\nimport torch\n\n", 1),  # a marker on line 1 starts no empty cell before it
        ("l.py", "# %% [markdown]\n# text\n", 4),
        ("l.py", "#%%\ndef f():\n    return 1\n", 6),  # "#%%" counts too
    ]


def test_code_before_the_first_marker_is_a_cell():
    assert py_cells("x = 1\n# %%\ny = 2", "l.py") == [("l.py", "x = 1\n", 1), ("l.py", "# %%\ny = 2\n", 2)]


def test_an_indented_or_inline_marker_is_not_a_cell_boundary():
    text = "def f():\n    # %% not a cell\n    return 1  # %%\n"
    assert py_cells(text, "l.py") == [("l.py", text, 1)]


def test_an_empty_py_file_is_one_empty_cell():
    assert py_cells("", "l.py") == [("l.py", "", 1)]


# ------------------------------------------------------------------ ipynb_cells


def test_notebook_code_cells_are_numbered_among_code_cells_only():
    nb = v4.new_notebook()
    nb.cells = [v4.new_markdown_cell("# title"), v4.new_code_cell("import torch"), v4.new_raw_cell("raw"),
                v4.new_markdown_cell("more"), v4.new_code_cell("def f():\n    return 1")]
    assert ipynb_cells(nbformat.writes(nb), "l.ipynb") == [
        ("l.ipynb [code cell 1]", "import torch", 1), ("l.ipynb [code cell 2]", "def f():\n    return 1", 1)]


def test_a_notebook_without_code_cells_has_none():
    nb = v4.new_notebook()
    nb.cells = [v4.new_markdown_cell("only words")]
    assert ipynb_cells(nbformat.writes(nb), "l.ipynb") == []


def test_a_broken_notebook_is_a_usage_error_naming_the_file_and_the_problem():
    with pytest.raises(UsageError) as e:
        ipynb_cells("{not json", "l.ipynb")
    assert str(e.value) == ("l.ipynb is not a readable notebook: not JSON (Expecting property name enclosed in "
                            "double quotes: line 1 column 2 (char 1))")


@pytest.mark.parametrize("text,why", [("[1, 2]", "not a JSON object"), ('{"cells": 3}', "it has no list of cells"),
                                      ("{}", "it has no list of cells")])
def test_json_that_is_not_a_notebook_is_a_usage_error(text, why):
    with pytest.raises(UsageError) as e:
        ipynb_cells(text, "l.ipynb")
    assert str(e.value) == f"l.ipynb is not a readable notebook: {why}"


@pytest.mark.parametrize("minor", [0, 1, 2, 3, 4, 5])
def test_every_nbformat_4_minor_reads_without_a_warning(minor, recwarn, capfd):
    """4.0-4.4 notebooks have no cell ids and 4.5 ones may lack them: read as JSON, nothing validated or warned."""
    nb = {"nbformat": 4, "nbformat_minor": minor, "metadata": {},
          "cells": [{"cell_type": "code", "execution_count": 3, "metadata": {}, "outputs": [],
                     "source": ["x = 1\n", "y = 2"]},
                    {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": "z = 3"}]}
    import json

    assert ipynb_cells(json.dumps(nb), "l.ipynb") == [("l.ipynb [In [3]]", "x = 1\ny = 2", 1),
                                                      ("l.ipynb [code cell 2]", "z = 3", 1)]
    assert len(recwarn) == 0 and capfd.readouterr().err == ""


def test_an_nbformat_3_notebook_reads_its_worksheets():
    import json

    nb = {"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "code", "input": ["a = 1"], "prompt_number": 2}]}]}
    assert ipynb_cells(json.dumps(nb), "l.ipynb") == [("l.ipynb [In [2]]", "a = 1", 1)]


def test_a_repeated_execution_count_falls_back_to_the_cells_place():
    """Two cells showing In [4] (a cell re-run after editing another): the second is named by its place."""
    import json

    c = {"cell_type": "code", "execution_count": 4, "source": "a = 1"}
    assert [f for f, _, _ in ipynb_cells(json.dumps({"cells": [c, c]}), "l.ipynb")] == [
        "l.ipynb [In [4]]", "l.ipynb [code cell 2]"]


def test_an_nbconvert_export_is_split_at_its_in_markers_and_labelled_with_them():
    from mnist_scratch.grader.load import py_cell_list

    text = "#!/usr/bin/env python\n# coding: utf-8\n\n# In[3]:\n\n\nx = 1\n\n\n# In[ ]:\n\n\ny = 2\n"
    got = [(c.first, c.label) for c in py_cell_list(text, "l.py")]
    assert got == [(1, ""), (4, "In [3]"), (10, "")]


def test_an_exported_timing_cell_runs_its_body_as_a_cell_of_its_own(tmp_path):
    """nbconvert writes `%%time` + definitions as one get_ipython().run_cell_magic line: the definitions still
    run, named after that line, and the file's later lines keep their numbers."""
    from mnist_scratch.grader.load import load_file

    p = tmp_path / "l.py"
    p.write_text("# In[2]:\n\n\n"
                 "get_ipython().run_cell_magic('time', '', 'def relu(x):\\n    return x\\nq = 1 / 0\\n')\n"
                 "z = 3\nw = z / 0\n")
    got = load_file(p, seconds=5)
    assert callable(got.namespace["relu"]) and got.namespace["z"] == 3
    assert got.notes[0].startswith(f'File "{p} [line 4: %%cell body]", line 3, in <module>\n    q = 1 / 0')
    assert got.notes[1].startswith(f'File "{p}", line 6, in <module>\n    w = z / 0')
