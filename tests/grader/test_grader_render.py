"""The exercise file a learner gets, exactly: its cells, their text, the .py markers and the notebook's metadata."""

import re

import nbformat
import pytest

from mnist_scratch.grader.exercise import render, render_ipynb, render_py
from mnist_scratch.grader.solutions import BY_NAME, DATA_CELL, PARTS, TRAIN_CELL, Piece, cells, piece_source

INTRO = ("# The lesson as an exercise\n\nFill in every `raise NotImplementedError`, then run "
         "`mnist-scratch check THIS_FILE` (or, in a notebook, `from mnist_scratch import check; check()`).")
PREAMBLE = "import math\n\nimport torch\nfrom torch import tensor"

# the whole .py of part forward: markdown lines commented with no trailing blanks ("#" alone on an empty line),
# each code cell ends at its last line (one blank line before the next marker), stubs and never answers
FORWARD_PY = '''\
# %% [markdown]
# # The lesson as an exercise
#
# Fill in every `raise NotImplementedError`, then run `mnist-scratch check THIS_FILE` (or, in a notebook, \
`from mnist_scratch import check; check()`).

# %%
import math

import torch
from torch import tensor

# %% [markdown]
# ## The data

# %%
from mnist_scratch import load_mnist

# the lesson's data: (50000, 784) floats in [0, 1) and labels 0..9; nothing loads while `check` grades
x_train, y_train, x_valid, y_valid = load_mnist()
n, m = x_train.shape
nh = 50
w1, b1 = torch.randn(m, nh) * math.sqrt(2 / m), torch.zeros(nh)  # forward_and_backward reads these
w2, b2 = torch.randn(nh, 1) / math.sqrt(nh), torch.zeros(1)

# %% [markdown]
# ## The forward pass as functions (part `forward`)
#
# The lesson's model: lin -> relu -> lin, one output regressed onto the digit with MSE.

# %%
def lin(x, w, b):
    """The affine layer x @ w + b."""
    # x (bs, n_in), w (n_in, n_out), b (n_out,) -> (bs, n_out)
    raise NotImplementedError

# %%
def relu(x):
    """max(x, 0) entry by entry, in a new tensor."""
    # x (bs, nh) -> (bs, nh)
    raise NotImplementedError

# %%
def mse(output, targ):
    """Mean squared error of one output column against targ."""
    # output (bs, 1), targ (bs,) -> scalar; beware (bs, 1) - (bs,) broadcasts to (bs, bs)
    raise NotImplementedError

# %% [markdown]
# ## Watch your rules learn
#
# Once `check` passes, train the model on MNIST with your own rules.

# %%
from mnist_scratch import train

# SGD through your own forward and backward code; does nothing while `check` grades
history = train(rules=globals(), epochs=1)
'''

# the notebook of part init, cell by cell: (type, stable id, source)
INIT_CELLS = [
    ("markdown", "cell-0", INTRO),
    ("code", "cell-1", PREAMBLE),
    ("markdown", "cell-2", "## The data"),
    ("code", "cell-3", DATA_CELL),
    ("markdown", "cell-4", "## Normalize the inputs and initialize the weights (part `init`)\n\n"
                           "He init keeps the variance of a ReLU layer's output near its input's."),
    ("code", "cell-5", 'def normalize(x, m, s):\n    """x shifted by the mean m and scaled by the std s."""\n'
                       "    # x (n, 784); m, s scalars (the training set's mean and std)\n"
                       "    raise NotImplementedError"),
    ("code", "cell-6", 'def he_init(n_in, n_out):\n    """A (n_in, n_out) weight drawn from N(0, 2 / n_in)."""\n'
                       "    # -> (n_in, n_out); std sqrt(2 / n_in) because ReLU zeroes half of each layer's output\n"
                       "    raise NotImplementedError"),
    ("markdown", "cell-7", "## Watch your rules learn\n\nOnce `check` passes, train the model on MNIST with your "
                           "own rules."),
    ("code", "cell-8", TRAIN_CELL),
]


def test_the_py_exercise_of_a_part_is_exactly_its_cells_with_stubs_by_default():
    assert render_py(("forward",)) == FORWARD_PY
    assert render("py", ("forward",)) == FORWARD_PY  # the blanks unless the answers are asked for


def test_the_py_solutions_carry_the_reference_bodies():
    bodies = iter(["return x @ w + b", "return x.clamp_min(0.0)", "return (output[:, 0] - targ).pow(2).mean()"])
    text = render_py(("forward",), solutions=True)
    assert text == re.sub("(?m)^    raise NotImplementedError$", lambda _: "    " + next(bodies), FORWARD_PY)
    assert render("py", ("forward",), solutions=True) == text


def test_the_notebook_is_valid_nbformat_4_with_a_python_kernel_and_exactly_these_cells():
    nb = nbformat.reads(render_ipynb(("init",)), as_version=4)
    nbformat.validate(nb)
    # Jupyter opens it with a Python kernel without asking; a wrong key or name and it asks which kernel to use
    assert dict(nb.metadata) == {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    assert [(c.cell_type, c.id, c.source) for c in nb.cells] == INIT_CELLS  # stubs by default
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    assert render("ipynb", ("init",)) == render_ipynb(("init",))


def test_the_notebook_solutions_carry_the_reference_bodies():
    nb = nbformat.reads(render_ipynb(("init",), solutions=True), as_version=4)
    assert [c.source.splitlines()[-1].strip() for c in nb.cells[5:7]] == [
        "return (x - m) / s", "return torch.randn(n_in, n_out) * math.sqrt(2 / n_in)"]
    assert render("ipynb", ("init",), solutions=True) == render_ipynb(("init",), solutions=True)


def test_an_unknown_format_is_refused_by_name():
    with pytest.raises(ValueError) as e:
        render("txt")
    assert str(e.value) == "format must be py or ipynb, got 'txt'"


# ------------------------------------------------------------------ the cells and pieces under the files


def test_cells_are_the_blanks_by_default_in_the_lessons_order():
    assert cells() == cells(PARTS, False)
    assert not any("inp.t() @ out.g" in src for _, src in cells())  # no answer leaks into the default
    assert cells()[:2] == [("markdown", INTRO), ("code", PREAMBLE)]
    # parts asked for out of order still come in the lesson's order
    heads = [src.splitlines()[0] for kind, src in cells(("ce", "init")) if kind == "markdown"]
    assert heads[1:] == ["## The data", "## Normalize the inputs and initialize the weights (part `init`)",
                         "## Extension: softmax cross-entropy for 10 outputs (part `ce`)", "## Watch your rules learn"]


def test_a_class_piece_has_a_blank_line_between_its_comments_and_its_methods():
    assert piece_source(BY_NAME["Relu"], False) == (
        'class Relu(Module):\n    """max(inp, 0) with its backward rule."""\n'
        "    # forward: inp (bs, nh) -> (bs, nh); bwd sets inp.g from out.g\n\n"
        "    def forward(self, inp):\n        raise NotImplementedError\n\n"
        "    def bwd(self, out, inp):\n        raise NotImplementedError\n")
    assert piece_source(BY_NAME["Relu"], True).endswith(
        "out.g\n\n    def forward(self, inp):\n        return inp.clamp_min(0.0)\n\n"
        "    def bwd(self, out, inp):\n        inp.g = (inp > 0).to(out.g.dtype) * out.g\n")


def test_a_function_piece_has_no_blank_line_and_every_shape_line_is_a_comment_of_its_own():
    p = Piece("relu", "forward", "def", "def relu(x)", "max(x, 0).", "# x (bs, nh)\n# -> (bs, nh)",
              "    return x.clamp_min(0.0)\n")
    assert piece_source(p, False) == ('def relu(x):\n    """max(x, 0)."""\n    # x (bs, nh)\n    # -> (bs, nh)\n'
                                      "    raise NotImplementedError\n")
    assert piece_source(p, True) == ('def relu(x):\n    """max(x, 0)."""\n    # x (bs, nh)\n    # -> (bs, nh)\n'
                                     "    return x.clamp_min(0.0)\n")
