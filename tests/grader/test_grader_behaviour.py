"""Rules judged by what they compute, whichever course's API they follow, with hints that are true (issue 19)."""

import torch

from mnist_scratch.grader.grade import grade_rule
from mnist_scratch.grader.mutants import solutions_namespace
from mnist_scratch.grader.result import CheckResult
from mnist_scratch.grader.spec import BY_RULE
from mnist_scratch.report.check import plain

SRC_2019 = '''
import torch

class Relu():
    def __call__(self, inp):
        self.inp = inp
        self.out = inp.clamp_min(0.) - SHIFT
        return self.out

    def backward(self):
        self.inp.g = (self.inp > 0).float() * self.out.g

class Lin():
    def __init__(self, w, b):
        self.w, self.b = w, b

    def __call__(self, inp):
        self.inp = inp
        self.out = inp @ self.w + self.b
        return self.out

    def backward(self):
        self.inp.g = self.out.g @ self.w.t()
        self.w.g = (self.inp.unsqueeze(-1) * self.out.g.unsqueeze(1)).sum(0)
        self.b.g = self.out.g.sum(0)

class Mse():
    def __call__(self, inp, targ):
        self.inp, self.targ = inp, targ
        self.out = (inp.squeeze(-1) - targ).pow(2).mean()
        return self.out

    def backward(self):
        self.inp.g = 2. * (self.inp.squeeze(-1) - self.targ).unsqueeze(-1) / self.targ.shape[0]

class Model():
    def __init__(self, w1, b1, w2, b2):
        self.layers = [Lin(w1, b1), Relu(), Lin(w2, b2)]
        self.loss = Mse()

    def __call__(self, x, targ):
        for l in self.layers:
            x = l(x)
        return self.loss(x, targ)

    def backward(self):
        self.loss.backward()
        for l in reversed(self.layers):
            l.backward()
'''


def ns_2019(shift: float) -> dict:
    ns = {}
    exec(compile(SRC_2019.replace("SHIFT", repr(shift)), "<2019>", "exec"), ns)
    return ns


def grade(name, obj):
    return grade_rule(BY_RULE[name], obj, seconds=10)


def test_the_2019_layers_with_call_and_backward_and_their_own_attribute_names_pass():
    ns = ns_2019(0.0)
    for name in ("Lin", "Relu", "Mse", "Model"):
        assert grade(name, ns[name]).status == "pass", name


def test_the_2019_shifted_relu_is_told_it_is_an_offset():
    r = grade("Relu", ns_2019(0.5)["Relu"])
    assert (r.status, r.key) == ("wrong", "offset") and "-0.5" in r.hint


def test_a_model_whose_backward_matches_its_shifted_forward_is_told_about_the_forward():
    r = grade("Model", ns_2019(0.5)["Model"])
    assert (r.status, r.key) == ("wrong", "forward:l2") and "forward" in r.hint and "constant -0.5" in r.hint


def test_a_module_that_keeps_its_tensors_under_its_own_names_passes():
    class Module:
        def __call__(self, *args):
            self.input = args
            self.output = self.forward(*args)
            return self.output

        def backward(self):
            self.bwd(self.output, *self.input)

    assert grade("Module", Module).status == "pass"


def test_a_gradient_in_grad_instead_of_g_passes_with_a_note():
    def mse_grad(inp, targ):
        inp.grad = 2.0 * (inp[:, 0] - targ)[:, None] / inp.shape[0]

    r = grade("mse_grad", mse_grad)
    assert r.status == "pass" and ".grad" in r.hint


def test_a_loss_of_shape_1_is_the_same_number():
    def mse(output, targ):
        return (output[:, 0] - targ).pow(2).mean().reshape(1)

    assert grade("mse", mse).status == "pass"


def test_a_rule_computed_in_float32_is_graded_with_float32_tolerances():
    def lin(x, w, b):
        return x.float() @ w.float() + b.float()

    assert grade("lin", lin).status == "pass"


def test_autograd_inside_a_rule_is_caught_in_process_too():
    def mse_grad(inp, targ):
        with torch.enable_grad():
            i = inp.detach().requires_grad_()
            (i[:, 0] - targ).pow(2).mean().backward()
        inp.g = i.grad

    r = grade("mse_grad", mse_grad)
    assert (r.status, r.key) == ("autograd", "autograd")


def test_a_wrong_one_element_tensor_gets_no_arbitrary_ratio():
    ns = solutions_namespace()
    src = ("class Model(Model):\n    def __call__(self, x, targ):\n"
           "        return 3.7 * super().__call__(x, targ)\n")
    exec(compile(src, "<mine>", "exec"), ns)
    r = grade("Model", ns["Model"])
    assert r.status == "wrong" and "×" not in r.hint and "the right answer is" in r.hint


def test_tensor_names_keep_the_learners_case_in_the_chained_hint():
    ns = solutions_namespace()
    src = ("class Model(Model):\n    def backward(self):\n        super().backward()\n"
           "        self.layers[2].w.g = 2 * self.layers[2].w.g\n")
    exec(compile(src, "<mine>", "exec"), ns)
    r = grade("Model", ns["Model"])
    assert r.key == "first_wrong:w2" and "w2.g is twice" in r.hint and "W2.g" not in r.hint


def test_a_fast_check_never_says_it_took_0_0_s():
    res = CheckResult([grade("relu", solutions_namespace()["relu"])], "relu", seconds=0.004)
    assert "took 0.0 s" not in plain(res) and "took 0.004 s" in plain(res)


def test_a_float32_mse_grad_feeding_float64_layers_is_graded_in_float32_not_a_dtype_crash():
    ns = solutions_namespace()
    src = "def mse_grad(inp, targ):\n    inp.g = (2.0 * (inp[:, 0] - targ)[:, None] / inp.shape[0]).float()\n"
    exec(compile(src, "<mine>", "exec"), ns)
    r = grade("forward_and_backward", ns["forward_and_backward"])
    assert r.status == "pass" and "float32" in r.hint


def test_an_mse_written_for_column_targets_passes_with_a_note_and_a_broadcast_one_is_still_wrong():
    def mse(output, targ):  # right when targ is (bs, 1), as after y_train.unsqueeze(-1)
        return (output - targ).pow(2).mean()

    def mse_flat(output, targ):  # (bs, 1) minus (bs,) whatever shape targ comes in
        return (output - targ.reshape(-1)).pow(2).mean()

    r = grade("mse", mse)
    assert r.status == "pass" and "(bs, 1) targets" in r.hint
    assert (grade("mse", mse_flat).status, grade("mse", mse_flat).key) == ("wrong", "broadcast")
