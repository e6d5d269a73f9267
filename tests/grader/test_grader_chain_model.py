"""Model graded as a chain (its loss, then backward() tensor by tensor), and the fixed tensors both chains run on."""

import pytest
import torch
from pytest import approx

from mnist_scratch.grader.chain import model_tensors
from mnist_scratch.grader.core import CASES
from mnist_scratch.grader.grade import grade_rule
from mnist_scratch.grader.mutants import solutions_namespace
from mnist_scratch.grader.result import RuleResult
from mnist_scratch.grader.spec import BY_RULE

OUT = "the gradient reaching out (the model output, mse's input) is wrong; it is the first gradient in backward order. "
INIT = "class Model:\n    def __init__(self, w1, b1, w2, b2):\n" \
       "        self.layers = [Lin(w1, b1), Relu(), Lin(w2, b2)]\n        self.loss = Mse()\n\n"
CALL = "    def __call__(self, x, targ):\n        for l in self.layers:\n            x = l(x)\n" \
       "        return self.loss(x, targ)\n\n"
BACKWARD = "    def backward(self):\n        self.loss.backward()\n        for l in reversed(self.layers):\n" \
           "            l.backward()\n"


def grade(src: str) -> RuleResult:
    """The learner's cells: the reference Lin, Relu, Mse... with `src` run after them."""
    ns = solutions_namespace()
    exec(src, ns)
    return grade_rule(BY_RULE["Model"], ns["Model"])


def wrong(hint: str, key: str, max_rel=None) -> RuleResult:
    return RuleResult("Model", "classes", "wrong", None if max_rel is None else approx(max_rel, rel=1e-9), hint, key)


def test_a_wrong_loss_is_named_as_what_model_returns():
    src = INIT + CALL.replace("return self.loss(x, targ)", "return self.loss(x, targ) * 2") + BACKWARD
    assert grade(src) == wrong("the loss model(x, targ) returns is twice the right answer: a factor 2 too many",
                               "double", 1.0)


def test_a_backward_that_does_nothing_names_the_models_output_first():
    assert grade(INIT + CALL + "    def backward(self):\n        pass\n") == wrong(
        OUT + "out.g is never set: the rule must store its gradient in out.g", "first_wrong:out")


def test_a_wrong_loss_backward_is_found_on_the_last_layers_output_and_read_by_batch_size():
    src = "class Mse(Module):\n    def forward(self, inp, targ):\n        return (inp[:, 0] - targ).pow(2).mean()\n\n" \
          "    def bwd(self, out, inp, targ):\n        inp.g = 2.0 * (inp[:, 0] - targ)[:, None]\n\n" \
          + INIT + CALL + BACKWARD
    assert grade(src) == wrong(OUT + "Missing 1/bs: out.g is 7× the right answer, and 7 is the batch size (the loss "
                                     "is a mean over the batch, so its gradient has a 1/bs)", "first_wrong:out", 6.0)


@pytest.mark.parametrize("src", [
    # layers kept under their own names: no .layers at all
    "class Model:\n    def __init__(self, w1, b1, w2, b2):\n"
    "        self.lin1, self.relu, self.lin2, self.mse = Lin(w1, b1), Relu(), Lin(w2, b2), Mse()\n\n"
    "    def __call__(self, x, targ):\n        return self.mse(self.lin2(self.relu(self.lin1(x))), targ)\n\n"
    "    def backward(self):\n        self.mse.backward()\n        self.lin2.backward()\n"
    "        self.relu.backward()\n        self.lin1.backward()\n",
    # .layers holds the two linear layers only, the relu lives beside them
    "class Model:\n    def __init__(self, w1, b1, w2, b2):\n        self.layers = [Lin(w1, b1), Lin(w2, b2)]\n"
    "        self.relu, self.loss = Relu(), Mse()\n\n"
    "    def __call__(self, x, targ):\n        return self.loss(self.layers[1](self.relu(self.layers[0](x))), targ)\n\n"
    "    def backward(self):\n        self.loss.backward()\n        self.layers[1].backward()\n"
    "        self.relu.backward()\n        self.layers[0].backward()\n",
], ids=["no_layers", "two_layers"])
def test_a_right_model_built_another_way_passes(src):
    # the grader reads l1, l2 and out from .layers only when it is the lesson's [Lin, Relu, Lin]
    r = grade(src)
    assert (r.status, r.key, r.hint) == ("pass", "", "") and r.max_rel < 1e-12


# ------------------------------------------------------------------ the tensors the chains are graded on

# fingerprints of the fixed grading data: a change would move every learner's reported numbers without anyone
# deciding it (and could flip a verdict sitting near a tolerance)
SUMS = [
    {"inp": -4.024153939817, "w1": -3.948522529528, "b1": 1.446015731584, "w2": 1.413096618403, "b2": 3.096515472436},
    {"inp": -5.312709376397, "w1": -0.922355057666, "b1": 0.153421189762, "w2": 1.731486793208, "b2": 1.407146245914},
    {"inp": -42.237530969767, "w1": 8.527205674293, "b1": 0.637502774949, "w2": 0.404033480417,
     "b2": 2.199244430696},
]
TARGS = [[6, 5, 4, 1, 1, 3, 9], [8],
         [6, 8, 1, 0, 1, 3, 5, 1, 6, 9, 7, 1, 6, 8, 3, 3, 3, 7, 8, 9, 5, 9, 1, 5, 7, 0, 1, 7, 3, 4, 5, 3]]


@pytest.mark.parametrize("k", range(len(CASES)))
def test_model_tensors_are_the_lessons_shapes_in_float64_with_digit_targets(k):
    case, t = CASES[k], model_tensors(k)
    nh = case.n_out + 2  # a hidden width unlike the output's
    assert {n: (tuple(v.shape), v.dtype) for n, v in t.items()} == {
        "inp": ((case.bs, case.n_in), torch.float64), "w1": ((case.n_in, nh), torch.float64),
        "b1": ((nh,), torch.float64), "w2": ((nh, 1), torch.float64), "b2": ((1,), torch.float64),
        "targ": ((case.bs,), torch.float64)}
    assert t["targ"].tolist() == TARGS[k]
    assert {n: t[n].sum().item() for n in SUMS[k]} == approx(SUMS[k], rel=1e-11)
    assert bool(((t["inp"] @ t["w1"] + t["b1"]).abs() >= 1e-3).all())  # relu's inputs off its kink


def test_model_tensors_do_not_depend_on_or_touch_the_learners_random_stream():
    torch.manual_seed(1)
    state = torch.get_rng_state()
    first = model_tensors(0)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(2)
    assert all(torch.equal(v, first[n]) for n, v in model_tensors(0).items())
