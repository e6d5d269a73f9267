"""forward_and_backward graded as a chain: which tensors the grader finds, the first wrong one, the globals restored."""

import functools

import pytest
from pytest import approx

from mnist_scratch.grader.grade import grade_rule
from mnist_scratch.grader.mutants import solutions_namespace
from mnist_scratch.grader.result import RuleResult
from mnist_scratch.grader.spec import BY_RULE

FORWARD = "def forward_and_backward(inp, targ):\n    l1 = inp @ w1 + b1\n    l2 = l1.clamp_min(0.0)\n" \
          "    out = l2 @ w2 + b2\n"
OUT = "the gradient reaching out (the model output, mse's input) is wrong; it is the first gradient in backward order. "
L1 = "the gradient reaching l1 (relu's input) is wrong; everything from the loss up to l2 (relu's output, lin2's " \
     "input) is right. "
L2 = "the gradient reaching l2 (relu's output, lin2's input) is wrong; everything from the loss up to b2 is right. "
HALF = "Missing factor 2: out.g is half the right answer (the derivative of (x - t)² is 2(x - t))"


def grade(src: str, *, drop: "tuple[str, ...]" = ()) -> RuleResult:
    """The learner's cells: the reference solutions with `src` run after them (and `drop` never defined)."""
    ns = solutions_namespace()
    for name in drop:
        del ns[name]
    exec(src, ns)
    return grade_rule(BY_RULE["forward_and_backward"], ns["forward_and_backward"])


def wrong(key: str, hint: str, max_rel=None) -> RuleResult:
    rel = None if max_rel is None else approx(max_rel, rel=1e-9)
    return RuleResult("forward_and_backward", "backward", "wrong", rel, hint, f"first_wrong:{key}")


# ------------------------------------------------------------------ finding the tensors through the learner's calls


def test_keyword_arguments_do_not_confuse_which_call_is_which_layer():
    # lin_grad(l2, out, w=w2, b=b2) is neither layer's positional call: nothing may be read from it (its out.g is
    # not l1's gradient); relu's and the first layer's backward are written out, so l1 is never exposed
    src = FORWARD + "    mse_grad(out, targ)\n    lin_grad(l2, out, w=w2, b=b2)\n    l1.g = (l1 > 0) * l2.g\n" \
                    "    w1.g = inp.t() @ l1.g\n    b1.g = l1.g.sum(0)\n    inp.g = l1.g @ w1.t()\n"
    r = grade(src)
    assert (r.status, r.key, r.hint) == ("pass", "", "") and r.max_rel < 1e-12


def test_the_first_layers_lin_grad_with_b_as_a_keyword_still_exposes_l1():
    # relu's backward written out without its mask: l1 is found through lin_grad(inp, l1, w1, b=b1) alone
    src = FORWARD + "    mse_grad(out, targ)\n    lin_grad(l2, out, w2, b2)\n    l1.g = l2.g.clone()\n" \
                    "    lin_grad(inp, l1, w1, b=b1)\n"
    assert grade(src) == wrong("l1", L1 + "No ReLU mask: negatives let through", 0.7850016045179555)


def test_relu_grad_called_with_out_as_a_keyword_is_still_where_l1_is_found():
    # l1 is found through relu_grad(l1, ...) alone here; l2 through lin_grad(l2, out, w2, b=b2) (3 positional)
    src = "def relu_grad(inp, out):\n    inp.g = out.g.clone()\n\n" + FORWARD + \
          "    mse_grad(out, targ)\n    lin_grad(l2, out, w2, b=b2)\n    relu_grad(l1, out=l2)\n" \
          "    lin_grad(inp, l1, w=w1, b=b1)\n"
    assert grade(src) == wrong("l1", L1 + "No ReLU mask: negatives let through", 0.7850016045179555)


def test_a_wrong_mse_grad_is_blamed_on_out_when_only_mse_grad_shows_it():
    src = "def mse_grad(inp, targ):\n    inp.g = (inp[:, 0] - targ)[:, None] / inp.shape[0]\n\n" + FORWARD + \
          "    mse_grad(out, targ)\n    lin_grad(l2, out, w=w2, b=b2)\n    relu_grad(l1, l2)\n" \
          "    lin_grad(inp, l1, w1, b1)\n"
    assert grade(src) == wrong("out", OUT + HALF, 0.5)


def test_out_set_by_hand_is_found_through_the_second_layers_lin_grad():
    src = FORWARD + "    out.g = (out[:, 0] - targ)[:, None] / inp.shape[0]\n    lin_grad(l2, out, w2, b2)\n" \
                    "    relu_grad(l1, l2)\n    lin_grad(inp, l1, w1, b1)\n"
    assert grade(src) == wrong("out", OUT + HALF, 0.5)


def test_tensors_the_grader_cannot_see_are_skipped_and_a_mean_bias_is_named():
    # out and l2 are never exposed (inlined, keywords): judged from w2 on; mse_grad isn't even defined
    src = FORWARD + "    out.g = 2.0 * (out[:, 0] - targ)[:, None] / inp.shape[0]\n" \
                    "    lin_grad(l2, out, w=w2, b=b2)\n    b2.g = b2.g / inp.shape[0]\n" \
                    "    relu_grad(l1, l2)\n    lin_grad(inp, l1, w1, b1)\n"
    assert grade(src, drop=("mse_grad",)) == wrong(
        "b2", "the gradient reaching b2 is wrong; everything from the loss up to w2 is right. Bias gradient is a mean "
              "over the batch (1/7 of the right answer): it is a sum, out.g.sum(0); the 1/bs is already in the loss's "
              "gradient", 0.8571428571428571)


# ------------------------------------------------------------------ judging


def test_a_chain_gradient_is_judged_to_1e_8_and_a_tiny_error_is_not_mistaken_for_a_missing_mask():
    src = FORWARD + "    mse_grad(out, targ)\n    lin_grad(l2, out, w2, b2)\n    l2.g = l2.g * (1 + 5e-7)\n" \
                    "    relu_grad(l1, l2)\n    lin_grad(inp, l1, w1, b1)\n"
    assert grade(src) == wrong("l2", L2 + "l2.g is wrong (max rel diff 5.00e-07) and not a constant multiple of the "
                                          "right answer", 5.000000000179624e-07)


def test_a_gradient_that_is_not_a_tensor_is_wrong_without_a_difference():
    r = grade(FORWARD + "    mse_grad(out, targ)\n    lin_grad(l2, out, w2, b2)\n    b2.g = 0.5\n")
    assert (r.status, r.key, r.max_rel) == ("wrong", "first_wrong:b2", None)
    assert r.hint.startswith("the gradient reaching b2 is wrong; everything from the loss up to w2 is right. ")


@pytest.mark.parametrize("src,key,hint", [
    # a lin_grad that forgets inp.g, and the chain stops there
    ("def lin_grad(inp, out, w, b):\n    w.g = inp.t() @ out.g\n    b.g = out.g.sum(0)\n\n" + FORWARD +
     "    mse_grad(out, targ)\n    lin_grad(l2, out, w2, b2)\n", "l2",
     L2 + "l2.g is never set: the rule must store its gradient in l2.g"),
    # an mse_grad that returns its gradient, and nothing after it
    ("def mse_grad(inp, targ):\n    return 2.0 * (inp[:, 0] - targ)[:, None] / inp.shape[0]\n\n" + FORWARD +
     "    mse_grad(out, targ)\n", "out", OUT + "out.g is never set: the rule must store its gradient in out.g"),
    # a relu_grad that returns its gradient, and nothing after it
    ("def relu_grad(inp, out):\n    return (inp > 0) * out.g\n\n" + FORWARD +
     "    mse_grad(out, targ)\n    lin_grad(l2, out, w2, b2)\n    relu_grad(l1, l2)\n", "l1",
     L1 + "l1.g is never set: the rule must store its gradient in l1.g"),
    # placeholder lin_grads (`pass`) and no mse_grad yet
    ("def lin_grad(inp, out, w, b):\n    pass\n\n" + FORWARD + "    lin_grad(l2, out, w2, b2)\n"
     "    lin_grad(inp, l1, w1, b1)\n", "out", OUT + "out.g is never set: the rule must store its gradient in out.g"),
], ids=["lin_grad_no_inp_g", "mse_grad_returns", "relu_grad_returns", "placeholders"])
def test_an_unfinished_chain_names_the_first_gradient_never_set(src, key, hint):
    assert grade(src) == wrong(key, hint)


def test_a_callable_that_is_not_a_plain_function_is_refused():
    fn = functools.partial(solutions_namespace()["forward_and_backward"])  # no __globals__ to put w1, b1... in
    assert grade_rule(BY_RULE["forward_and_backward"], fn) == RuleResult(
        "forward_and_backward", "backward", "error", None,
        "forward_and_backward must be a plain function (it reads the globals w1, b1, w2, b2)", "type")


def test_the_learners_globals_are_theirs_again_after_grading():
    ns = solutions_namespace()
    ns["w1"] = "my own w1"  # say, the weights of their training run: never swapped for the grader's
    own = {n: ns[n] for n in ("mse_grad", "lin_grad", "relu_grad")}
    assert grade_rule(BY_RULE["forward_and_backward"], ns["forward_and_backward"]).status == "pass"
    assert ns["w1"] == "my own w1" and not {"b1", "w2", "b2"} & set(ns)  # absent before, absent after
    assert all(ns[n] is fn for n, fn in own.items())  # their functions, not the grader's spies
