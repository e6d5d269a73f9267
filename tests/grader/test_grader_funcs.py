"""The forward rules' grading (funcs.py): what each is fed, and the row a learner gets for each classic mistake."""

import math

import pytest
import torch
from pytest import approx

from mnist_scratch.grader.grade import grade_rule
from mnist_scratch.grader.result import RuleResult
from mnist_scratch.grader.spec import BY_RULE

IN_PLACE = "{} is modified in place: it is the caller's tensor, and the backward pass reads it again; compute into a " \
           "new tensor instead"


def grade(name: str, body: str) -> RuleResult:
    """Grade `def name...: body` as a learner's cell would define it (torch and math imported)."""
    ns: dict = {"torch": torch, "math": math}
    exec(body, ns)
    return grade_rule(BY_RULE[name], ns[name])


def wrong(name: str, part: str, hint: str, key: str, max_rel=None) -> RuleResult:
    return RuleResult(name, part, "wrong", None if max_rel is None else approx(max_rel, rel=1e-9), hint, key)


def spied(name: str, fn) -> "tuple[RuleResult, list]":
    """Grade fn under the rule `name`, recording the arguments of every call."""
    calls = []

    def spy(*args):
        calls.append(args)
        return fn(*args)

    return grade_rule(BY_RULE[name], spy), calls


# ------------------------------------------------------------------ matmul


def test_matmul_is_graded_on_a_row_a_general_and_an_outer_product_shape():
    r, calls = spied("matmul", lambda a, b: a @ b)
    assert [(tuple(a.shape), tuple(b.shape)) for a, b in calls] == [((1, 4), (4, 3)), ((5, 12), (12, 7)),
                                                                    ((3, 1), (1, 4))]
    assert r.status == "pass" and r.max_rel < 1e-6  # float32 inputs: float32 round-off is accepted


def test_matmul_inputs_are_the_same_every_run_and_leave_the_learners_random_stream_alone():
    torch.manual_seed(1)
    state = torch.get_rng_state()
    _, first = spied("matmul", lambda a, b: a @ b)
    assert torch.equal(torch.get_rng_state(), state)  # grading drew nothing from the notebook's generator
    torch.manual_seed(2)
    _, second = spied("matmul", lambda a, b: a @ b)
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(first, second, strict=True))


def test_a_wrong_matmul_is_named_with_the_shapes_it_failed_on():
    assert grade("matmul", "def matmul(a, b):\n    return a @ b * 2\n") == wrong(
        "matmul", "matmul", "matmul of 1×4 by 4×3 is twice the right answer: a factor 2 too many", "double",
        0.999999957112631)


@pytest.mark.parametrize("name", ["a", "b"])
def test_matmul_writing_into_an_input_is_named(name):
    r = grade("matmul", f"def matmul(a, b):\n    {name}.mul_(2)\n    return a @ b\n")
    assert r == wrong("matmul", "matmul", IN_PLACE.format(name), "inplace")


# ------------------------------------------------------------------ normalize


def test_normalize_is_graded_with_a_mean_and_std_that_are_not_0_and_1():
    r, calls = spied("normalize", lambda x, m, s: (x - m) / s)
    ((x, m, s),) = calls
    assert tuple(x.shape) == (1, 5) and x.dtype == torch.float64 and (m, s) == (0.13, 0.31)
    assert r == RuleResult("normalize", "init", "pass", 0.0)


@pytest.mark.parametrize("body,hint,key,rel", [
    ("(x - m) * s", "multiplied by the std: divide by it, (x - m) / s", "normalize_mul", 0.9039),
    ("x / s - m", "divided before subtracting the mean: (x - m) / s", "normalize_order", 0.30140270479492787),
    ("(x - s) / m", "mean and std swapped: (x - m) / s", "normalize_swap", 2.388382729920983),
    ("(x - m) / s * 3", "normalize(x, m, s) is 3× the right answer: a wrong constant factor", "scale", 2.0),
], ids=["times_std", "divide_first", "swapped", "scaled"])
def test_each_normalize_mistake_gets_its_own_diagnosis(body, hint, key, rel):
    assert grade("normalize", f"def normalize(x, m, s):\n    return {body}\n") == wrong("normalize", "init", hint,
                                                                                          key, rel)


def test_normalize_writing_into_x_is_named():
    r = grade("normalize", "def normalize(x, m, s):\n    return x.sub_(m).div_(s)\n")
    assert r == wrong("normalize", "init", IN_PLACE.format("x"), "inplace")


# ------------------------------------------------------------------ he_init


def he(body: str) -> RuleResult:
    return grade("he_init", f"def he_init(n_in, n_out):\n{body}")


def drawn(rel: float):
    """he_init's figure |std / sqrt(2 / n_in) - 1| of a float32 draw: torch's vectorized randn rounds differently on
    other CPUs, moving the std by up to one float32 eps relative, so the figure by eps * (1 + rel)."""
    return approx(rel, rel=0, abs=torch.finfo(torch.float32).eps * (1 + rel))


def he_wrong(hint: str, key: str, rel: float) -> RuleResult:
    return RuleResult("he_init", "init", "wrong", drawn(rel), hint, key)


def test_he_init_is_asked_for_the_lessons_first_layer_under_a_fixed_seed():
    r, calls = spied("he_init", lambda n_in, n_out: torch.randn(n_in, n_out) * math.sqrt(2 / n_in))
    assert calls == [(784, 300)]
    # the figure shown is the std's relative error of the draw under seed 0: the same number every run
    torch.manual_seed(0)
    std = (torch.randn(784, 300) * math.sqrt(2 / 784)).double().std().item()
    assert r == RuleResult("he_init", "init", "pass", approx(abs(std / math.sqrt(2 / 784) - 1), rel=1e-9))


@pytest.mark.parametrize("body,shape", [("torch.randn(n_out, n_in) * math.sqrt(2 / n_in)", "(300, 784)"),
                                        ("[[0.0] * n_out] * n_in", "list")], ids=["transposed", "not_a_tensor"])
def test_he_init_of_the_wrong_shape_or_type_says_what_it_gave(body, shape):
    assert he(f"    return {body}\n") == wrong("he_init", "init",
                                               f"he_init(784, 300) gave {shape}, expected a (784, 300) tensor", "shape")


def test_he_init_off_centre_is_told_to_draw_from_randn():
    # a constant 0.05: std 0 (relative error 1), mean 0.05
    r = he("    return torch.full((n_in, n_out), 0.05)\n")
    assert r == wrong("he_init", "init", "the mean is 0.05, not 0: draw from randn", "mean", 1.0)
    # a right std with its mean moved 5.5 standard errors off 0 is refused; 4.5 standard errors is noise
    shifted = "    w = torch.randn(n_in, n_out) * math.sqrt(2 / n_in)\n" \
              "    return w - w.mean() + {} * math.sqrt(2 / n_in) / math.sqrt(w.numel())\n"
    assert he(shifted.format(5.5)) == he_wrong("the mean is 0.000573, not 0: draw from randn", "mean",
                                               0.0005220733493209728)
    assert he(shifted.format(4.5)).status == "pass"


@pytest.mark.parametrize("scale,hint,key,rel", [
    ("math.sqrt(1 / n_in) * 1.02", "std is sqrt(1 / n_in), the LeCun/Xavier scale: ReLU zeroes half the outputs, so "
                                   "He init doubles the variance, sqrt(2 / n_in)", "he_factor2", 0.27837452216213154),
    ("math.sqrt(2 / n_out)", "scaled by n_out: He init uses the fan-in, sqrt(2 / n_in)", "he_fan_out",
     0.617424779705851),
    ("(2 / n_in)", "missing the square root: the std is sqrt(2 / n_in), the variance 2 / n_in", "he_sqrt",
     0.9494660053268245),
    ("math.sqrt(2 / n_in) * 1.04", "std is 0.05256, expected sqrt(2 / n_in) = 0.05051", "scale", 0.04054291785557118),
], ids=["lecun_2pct_off", "fan_out", "variance_not_std", "4pct_off"])
def test_each_he_init_scale_mistake_gets_its_own_diagnosis_within_3_percent(scale, hint, key, rel):
    assert he(f"    return torch.randn(n_in, n_out) * {scale}\n") == he_wrong(hint, key, rel)


def test_he_init_2_percent_off_passes_and_unscaled_randn_is_named():
    assert he("    return torch.randn(n_in, n_out) * math.sqrt(2 / n_in) * 1.02\n") == RuleResult(
        "he_init", "init", "pass", drawn(0.02053249528447476))
    # randn itself, centred (so the mean test passes): std 1
    r = he("    w = torch.randn(n_in, n_out)\n    return w - w.mean()\n")
    assert r == he_wrong("not scaled: multiply randn by sqrt(2 / n_in)", "he_unscaled", 18.80932631710301)


# ------------------------------------------------------------------ lin, relu, mse


@pytest.mark.parametrize("name,body,hint,key,rel", [
    ("lin", "x @ w", "the bias is not added: x @ w + b", "no_bias", 0.3916823459896547),
    ("lin", "(x @ w + b) * 2", "lin(x, w, b) is twice the right answer: a factor 2 too many", "double", 1.0),
    ("relu", "x.clamp(max=0)", "kept the negatives and zeroed the positives: relu is max(x, 0), x.clamp_min(0.)",
     "relu_side", 1.0020450211733494),
    ("relu", "x.clamp(min=0) * 2", "relu(x) is twice the right answer: a factor 2 too many", "double", 1.0),
    ("mse", "(output - targ.reshape(-1)).pow(2).mean()",
     "(bs, 1) minus (bs,) broadcasts to (bs, bs), so this averages bs² differences: use output[:, 0]", "broadcast",
     0.8465483784862807),
    ("mse", "(output[:, 0] - targ).pow(2).mean() * 2", "mse(output, targ) is twice the right answer: a factor 2 too "
                                                       "many", "double", 1.0),
], ids=["lin_no_bias", "lin_double", "relu_side", "relu_double", "mse_broadcast", "mse_double"])
def test_each_forward_mistake_is_named_with_the_call_it_failed(name, body, hint, key, rel):
    args = {"lin": "x, w, b", "relu": "x", "mse": "output, targ"}[name]
    assert grade(name, f"def {name}({args}):\n    return {body}\n") == wrong(name, "forward", hint, key, rel)


@pytest.mark.parametrize("name,args,arg", [("lin", "x, w, b", "x"), ("lin", "x, w, b", "w"), ("lin", "x, w, b", "b"),
                                           ("relu", "x", "x"), ("mse", "output, targ", "output"),
                                           ("mse", "output, targ", "targ")])
def test_a_forward_rule_writing_into_an_input_is_named(name, args, arg):
    right = {"lin": "x @ w + b", "relu": "x.clamp_min(0.0)", "mse": "(output[:, 0] - targ).pow(2).mean()"}[name]
    r = grade(name, f"def {name}({args}):\n    out = {right}\n    {arg}.mul_(1.5)\n    return out\n")
    assert r == wrong(name, "forward", IN_PLACE.format(arg), "inplace")


def test_mse_at_batch_size_1_never_blames_broadcasting():
    # (1, 1) - (1,) broadcasts harmlessly, so a small error that only shows at bs = 1 is just a wrong value there
    r = grade("mse", "def mse(output, targ):\n    e = (output[:, 0] - targ).pow(2).mean()\n"
                     "    return e * (1 + 1e-6) if output.shape[0] == 1 else e\n")
    assert r == wrong("mse", "forward", "mse(output, targ) is 4.9306686; the right answer is 4.9306637", "values",
                      9.999999999382235e-07)
