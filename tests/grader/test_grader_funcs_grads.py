"""The backward rules' grading (funcs.py): consistent inputs, each classic mistake's row, finite differences last."""

import math
from dataclasses import replace

import pytest
import torch
from pytest import approx

from mnist_scratch.grader.grade import grade_rule
from mnist_scratch.grader.result import RuleResult
from mnist_scratch.grader.spec import BY_RULE

IN_PLACE = "{} is modified in place: it is the caller's tensor, and the backward pass reads it again; compute into a " \
           "new tensor instead"
RETURNED = "the result is returned, not stored: assign it to inp.g (a backward rule sets .g on the tensors it gets " \
           "and returns nothing)"
FD = "{} disagrees with central finite differences (max rel diff {:.2e})"
RIGHT = {"mse_grad": "    inp.g = 2.0 * (inp[:, 0] - targ)[:, None] / inp.shape[0]\n",
         "relu_grad": "    inp.g = (inp > 0) * out.g\n",
         "lin_grad": "    inp.g = out.g @ w.t()\n    w.g = inp.t() @ out.g\n    b.g = out.g.sum(0)\n"}
EPS32 = torch.finfo(torch.float32).eps
ARGS = {"mse_grad": "inp, targ", "relu_grad": "inp, out", "lin_grad": "inp, out, w, b"}


def grade(name: str, body: str) -> RuleResult:
    """Grade `def name(ARGS):` + body, defined as a learner's cell would (torch and math imported)."""
    ns: dict = {"torch": torch, "math": math}
    exec(f"def {name}({ARGS[name]}):\n{body}", ns)
    return grade_rule(BY_RULE[name], ns[name])


def wrong(name: str, hint: str, key: str, max_rel=None) -> RuleResult:
    return RuleResult(name, "backward", "wrong", None if max_rel is None else approx(max_rel, rel=1e-9), hint, key)


# ------------------------------------------------------------------ what the rules are fed


def test_relu_grad_and_lin_grad_get_the_layers_real_output_with_its_gradient_on_it():
    seen = []

    def relu_grad(inp, out):
        seen.append(torch.equal(out, inp.clamp_min(0)) and out.g.shape == out.shape)
        inp.g = (out > 0) * out.g  # masking with the output is right too, when out really is relu(inp)

    def lin_grad(inp, out, w, b):
        seen.append(torch.allclose(out, inp @ w + b) and out.g.shape == out.shape)
        inp.g, w.g, b.g = out.g @ w.t(), inp.t() @ out.g, out.g.sum(0)

    assert grade_rule(BY_RULE["relu_grad"], relu_grad).status == "pass"
    assert grade_rule(BY_RULE["lin_grad"], lin_grad).status == "pass"
    assert seen == [True] * 6  # three cases each


# ------------------------------------------------------------------ relu_grad


@pytest.mark.parametrize("body,hint,key,rel", [
    ("inp.g = (inp > 0) * out", "the mask multiplies the layer's output, not its gradient: inp.g = (inp > 0) * out.g",
     "relu_mask_wrong", 1.8735867686958219),
    ("inp.g = (inp <= 0) * out.g", "the mask is inverted: the gradient passes where inp > 0, not where inp <= 0",
     "relu_mask_wrong", 1.0),
    ("inp.g = (out.g > 0) * out.g", "the mask comes from the wrong tensor (the sign of out.g); the gradient passes "
                                    "where inp > 0", "relu_mask_wrong", 0.8243595882919801),
    ("inp.g = out.g.clone()", "no ReLU mask: negatives let through; multiply out.g by (inp > 0)", "relu_no_mask",
     0.7004120239188621),
    ("inp.g = (inp > 0) * out.g * 3", "inp.g is 3× the right answer: a wrong constant factor", "scale",
     2.0000000000000004),
    ("return (inp > 0) * out.g", RETURNED, "returned", math.inf),
], ids=["times_output", "inverted", "mask_of_grad", "no_mask", "scaled", "returned"])
def test_each_relu_grad_mistake_gets_its_own_diagnosis(body, hint, key, rel):
    assert grade("relu_grad", f"    {body}\n") == wrong("relu_grad", hint, key, rel)


@pytest.mark.parametrize("arg", ["inp", "out"])
def test_relu_grad_writing_into_its_input_or_output_is_named(arg):
    assert grade("relu_grad", f"    g = (inp > 0) * out.g\n    {arg}.mul_(2)\n    inp.g = g\n") == wrong(
        "relu_grad", IN_PLACE.format(arg), "inplace")


# ------------------------------------------------------------------ mse_grad


def test_a_wrong_mse_grad_is_named_by_its_tensor():
    assert grade("mse_grad", "    inp.g = 2.0 * (inp[:, 0] - targ)[:, None] / inp.shape[0] * 3\n") == wrong(
        "mse_grad", "inp.g is 3× the right answer: a wrong constant factor", "scale", 1.9999999999999998)


@pytest.mark.parametrize("arg", ["inp", "targ"])
def test_mse_grad_writing_into_its_input_is_named(arg):
    assert grade("mse_grad", RIGHT["mse_grad"] + f"    {arg}.mul_(2)\n") == wrong("mse_grad", IN_PLACE.format(arg),
                                                                                   "inplace")


# ------------------------------------------------------------------ lin_grad


@pytest.mark.parametrize("label", ["inp.g", "w.g", "b.g"])
def test_a_wrong_lin_grad_names_the_tensor_that_is_wrong(label):
    body = RIGHT["lin_grad"].replace(f"    {label} = ", f"    {label} = 2 * ")
    assert grade("lin_grad", body) == wrong("lin_grad", f"{label} is twice the right answer: a factor 2 too many",
                                            "double", 1.0)


def test_a_lin_grad_that_returns_instead_of_storing_is_told_so():
    assert grade("lin_grad", "    return out.g @ w.t()\n") == wrong("lin_grad", RETURNED, "returned", math.inf)


@pytest.mark.parametrize("arg", ["inp", "w", "b"])
def test_lin_grad_writing_into_an_input_is_named(arg):
    assert grade("lin_grad", RIGHT["lin_grad"] + f"    {arg}.mul_(2)\n") == wrong("lin_grad", IN_PLACE.format(arg),
                                                                                   "inplace")


def test_lin_grad_writing_into_the_upstream_gradient_is_named():
    # out.g is read again by whoever runs next (a second layer sharing it): it must come out as it went in
    assert grade("lin_grad", RIGHT["lin_grad"] + "    out.g.mul_(2)\n") == wrong(
        "lin_grad", "out.g is modified in place: it is the gradient of another tensor and must stay right for whoever "
                    "reads it next; compute into a new tensor instead", "inplace")


# ------------------------------------------------------------------ the second opinion: finite differences
# A float32 gradient passes the first comparison at 1e-5 of the largest entry. An error that size on a small entry
# (a stray "+ eps") is still far off for that entry: central differences catch it and name the tensor.


@pytest.mark.parametrize("name,body,label,rel", [
    ("mse_grad", "    inp.g = (2.0 * (inp[:, 0] - targ)[:, None] / inp.shape[0]).float() + 1e-5\n", "inp.g",
     7.472423548165696e-06),
    ("relu_grad", "    inp.g = ((inp > 0) * out.g).float() + 1e-6\n", "inp.g", 1.364316349696573e-06),
    ("lin_grad", RIGHT["lin_grad"].replace("inp.g = out.g @ w.t()", "inp.g = (out.g @ w.t()).float() + 1e-5"),
     "inp.g", 2.5110111910053583e-05),
    ("lin_grad", RIGHT["lin_grad"].replace("w.g = inp.t() @ out.g", "w.g = (inp.t() @ out.g).float() + 3e-6"), "w.g",
     8.472165786913421e-06),
], ids=["mse_grad", "relu_grad", "lin_grad_inp", "lin_grad_w"])
def test_a_float32_gradient_with_a_stray_epsilon_fails_the_finite_differences(name, body, label, rel):
    r = grade(name, body)
    # The rule rounds a float64 result to float32: half an ulp of each entry, so max_rel (relative to the largest
    # entry) moves by up to one float32 eps when another CPU's float64 kernel lands on the other side of a rounding.
    assert r == replace(wrong(name, FD.format(label, r.max_rel), "fd"), max_rel=approx(rel, abs=EPS32))
