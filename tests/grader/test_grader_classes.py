"""The layer classes graded end to end: Module's bookkeeping (call keeps args and out, backward calls bwd), and Lin,
Relu, Mse each against their function's rule, whatever the learner's own Module does.
"""

import torch

from mnist_scratch.grader.core import CASES, tensors
from mnist_scratch.grader.grade import grade_rule
from mnist_scratch.grader.mutants import solutions_namespace
from mnist_scratch.grader.spec import BY_RULE

NS = solutions_namespace()


def grade(name, obj):
    r = grade_rule(BY_RULE[name], obj, seconds=10)
    return r.status, r.key, r.hint


class Module:
    """The lesson's Module, as a learner writes it."""

    def __call__(self, *args):
        self.args = args
        self.out = self.forward(*args)
        return self.out

    def backward(self):
        self.bwd(self.out, *self.args)


def module(**methods):
    """A Module with some methods replaced by a learner's broken ones."""
    return type("Module", (Module,), methods)


# ------------------------------------------------------------------ Module


def test_the_lessons_module_passes():
    r = grade_rule(BY_RULE["Module"], Module, seconds=10)
    assert r.status == "pass" and r.max_rel == 0.0


def test_module_is_called_with_case_1s_inputs_and_a_plain_number():
    """The layer gets a tensor and a non-tensor argument (3.0): args must keep both, in order."""
    seen = []

    def __call__(self, *args):
        seen.append(args)
        return Module.__call__(self, *args)

    assert grade("Module", module(__call__=__call__))[0] == "pass"
    (x, k), = seen
    assert torch.equal(x, tensors(CASES[1], 0)["inp"]) and k == 3.0


def test_call_that_does_not_return_the_output():
    def __call__(self, *args):
        Module.__call__(self, *args)

    assert grade("Module", module(__call__=__call__)) == (
        "wrong", "unset", "calling a layer gave None: the function must return its result")


def test_call_that_scales_the_output_is_judged_without_a_batch_size():
    """bs=0 for the layer's call: a factor 2 reads as a factor 2 (never a batch size)."""
    status, key, hint = grade("Module", module(__call__=lambda self, *args: 2 * Module.__call__(self, *args)))
    assert (status, key, hint) == ("wrong", "double", "calling a layer is twice the right answer: a factor 2 too many")


def test_call_that_does_not_keep_its_output():
    def __call__(self, *args):
        self.args = args
        return self.forward(*args)

    assert grade("Module", module(__call__=__call__)) == (
        "wrong", "module_out", "__call__ must keep its result in self.out (backward reads it from there)")


def test_call_that_keeps_a_copy_of_its_output():
    """backward reads self.out.g: a copy of the output never gets the .g the caller sets on the returned tensor."""
    def __call__(self, *args):
        self.args = args
        self.out = self.forward(*args)
        return self.out.clone()

    assert grade("Module", module(__call__=__call__))[1] == "module_out"


ARGS_HINT = "__call__ must keep all its inputs in self.args, a tuple (backward passes them to bwd)"


def keeping(args_of):
    def __call__(self, *args):
        self.args = args_of(args)
        self.out = self.forward(*args)
        return self.out

    return module(__call__=__call__)


def test_call_that_never_sets_args():
    def __call__(self, *args):
        self.out = self.forward(*args)
        return self.out

    assert grade("Module", module(__call__=__call__)) == ("wrong", "module_args", ARGS_HINT)


def test_call_that_keeps_no_args():
    assert grade("Module", keeping(lambda a: None)) == ("wrong", "module_args", ARGS_HINT)


def test_call_that_keeps_args_as_a_list_is_right():
    """list(args) unpacks into bwd as the tuple does: the course notebooks' variants are both right (issue 19)."""
    assert grade("Module", keeping(list))[0] == "pass"


def test_call_that_keeps_only_the_first_input():
    assert grade("Module", keeping(lambda a: a[:1])) == ("wrong", "module_args", ARGS_HINT)


def test_call_that_keeps_the_inputs_reversed():
    assert grade("Module", keeping(lambda a: a[::-1])) == ("wrong", "module_args", ARGS_HINT)


def test_call_that_keeps_a_copy_of_the_input_tensor():
    """bwd must set .g on the caller's own tensor: a clone in args gets the gradient nobody reads."""
    assert grade("Module", keeping(lambda a: (a[0].clone(), a[1]))) == ("wrong", "module_args", ARGS_HINT)


def test_call_that_keeps_another_number():
    assert grade("Module", keeping(lambda a: (a[0], 2.0))) == ("wrong", "module_args", ARGS_HINT)


def test_backward_that_does_not_call_bwd():
    assert grade("Module", module(backward=lambda self: None)) == (
        "wrong", "module_backward", "backward() must call self.bwd(self.out, *self.args)")


def test_backward_that_calls_bwd_with_a_wrong_gradient():
    """x.g after backward() must be k * out.g = 3 * 0.5: a backward that doubles out.g first is caught by value."""
    def backward(self):
        self.out.g = self.out.g * 2
        self.bwd(self.out, *self.args)

    assert grade("Module", module(backward=backward)) == (
        "wrong", "double", "x.g after backward() is twice the right answer: a factor 2 too many")


def test_call_of_a_misspelled_method_names_the_graders_layer():
    """Their __call__ calls self.fwd: the error names the two-input layer the grader built on their Module, Scale."""
    def __call__(self, *args):
        self.args = args
        self.out = self.fwd(*args)
        return self.out

    assert grade("Module", module(__call__=__call__)) == ("error", "exception",
                                                          "AttributeError: 'Scale' object has no attribute 'fwd'")


def test_module_whose_call_is_not_implemented():
    def __call__(self, *args):
        raise NotImplementedError

    assert grade("Module", module(__call__=__call__)) == ("not implemented", "not_implemented",
                                                          "still raises NotImplementedError")


# ------------------------------------------------------------------ Lin, Relu, Mse: built as the learner builds them


def test_the_reference_layers_pass():
    for name in ("Lin", "Relu", "Mse"):
        r = grade_rule(BY_RULE[name], NS[name], seconds=10)
        assert (name, r.status) == (name, "pass") and r.max_rel < 1e-12


def test_lin_bwd_is_graded_without_relying_on_their_module():
    """A Lin whose Module.__call__ is broken still gets bwd graded: args and out are set as __call__ would."""
    class Lin:
        def __init__(self, w, b):
            self.w, self.b = w, b

        def forward(self, inp):
            return inp @ self.w + self.b

        def bwd(self, out, inp):
            assert self.args == (inp,) and self.out is out
            inp.g = out.g @ self.w.t()
            self.w.g = inp.t() @ out.g
            self.b.g = out.g.mean(0)

    assert grade("Lin", Lin) == (
        "wrong", "bias_mean", "bias gradient is a mean over the batch (1/7 of the right answer): it is a sum, "
                              "out.g.sum(0); the 1/bs is already in the loss's gradient")


def test_lin_forward_is_named_as_the_class_call():
    class Lin(NS["Lin"]):
        def forward(self, inp):
            return 2 * (inp @ self.w + self.b)

    assert grade("Lin", Lin) == ("wrong", "double", "Lin(w, b).forward(x) is twice the right answer: a factor 2 too "
                                                    "many")


def test_relu_bwd_with_the_args_and_out_as_call_keeps_them():
    class Relu(NS["Relu"]):
        def bwd(self, out, inp):
            assert self.args == (inp,) and self.out is out
            inp.g = out.g.clone()

    assert grade("Relu", Relu) == ("wrong", "relu_no_mask", "no ReLU mask: negatives let through; multiply out.g by "
                                                            "(inp > 0)")


def test_relu_forward_is_named_as_the_class_call():
    class Relu(NS["Relu"]):
        def forward(self, inp):
            return -inp.clamp_min(0.0)

    assert grade("Relu", Relu) == ("wrong", "sign", "sign flipped: Relu().forward(x) is minus the right answer "
                                                    "(ratio -1)")


def test_mse_bwd_gets_its_loss_as_out_and_both_inputs_as_args():
    class Mse(NS["Mse"]):
        def bwd(self, out, inp, targ):
            assert self.args == (inp, targ) and self.out is out and out.shape == ()
            assert torch.equal(out, (inp[:, 0] - targ).pow(2).mean())
            inp.g = (inp[:, 0] - targ)[:, None] / inp.shape[0]

    assert grade("Mse", Mse)[:2] == ("wrong", "factor2")


def test_mse_forward_is_named_as_the_class_call():
    class Mse(NS["Mse"]):
        def forward(self, inp, targ):
            return (inp[:, 0] - targ).pow(2).mean() / 2

    assert grade("Mse", Mse) == ("wrong", "factor2", "missing factor 2: Mse().forward(inp, targ) is half the right "
                                                     "answer (the derivative of (x - t)² is 2(x - t))")
