"""The grader proves it can fail: a catalogue of broken solutions, each the classic mistake it must diagnose.

Each mutant is the reference solutions with one definition replaced by a broken one, written as a learner would.
"""

import time
from dataclasses import dataclass

from mnist_scratch.grader.grade import TIMEOUT, grade_namespace, grade_rule
from mnist_scratch.grader.result import CheckResult
from mnist_scratch.grader.solutions import cells
from mnist_scratch.grader.spec import BY_RULE

FILENAME = "<mutant>"


@dataclass(frozen=True)
class Mutant:
    """One broken definition, the mistake it makes and the diagnosis key the grader must answer with."""

    name: str
    rule: str
    mistake: str
    expect: str
    source: str


CATALOGUE = (
    Mutant("mse_grad_sign", "mse_grad", "sign flipped", "sign",
           "def mse_grad(inp, targ):\n    inp.g = 2.0 * (targ[:, None] - inp) / inp.shape[0]\n"),
    Mutant("mse_grad_no_bs", "mse_grad", "missing 1/bs", "missing_bs",
           "def mse_grad(inp, targ):\n    inp.g = 2.0 * (inp[:, 0] - targ)[:, None]\n"),
    Mutant("mse_grad_no_2", "mse_grad", "missing factor 2", "factor2",
           "def mse_grad(inp, targ):\n    inp.g = (inp[:, 0] - targ)[:, None] / inp.shape[0]\n"),
    Mutant("mse_grad_broadcast", "mse_grad", "(bs, 1) - (bs,) broadcast to (bs, bs)", "broadcast",
           "def mse_grad(inp, targ):\n    inp.g = 2.0 * (inp - targ.reshape(-1)) / inp.shape[0]\n"),
    Mutant("mse_grad_returns", "mse_grad", "returned instead of stored in .g", "returned",
           "def mse_grad(inp, targ):\n    return 2.0 * (inp[:, 0] - targ)[:, None] / inp.shape[0]\n"),
    Mutant("lin_grad_w_transposed", "lin_grad", "weight gradient transposed", "transposed",
           "def lin_grad(inp, out, w, b):\n    inp.g = out.g @ w.t()\n    w.g = out.g.t() @ inp\n"
           "    b.g = out.g.sum(0)\n"),
    Mutant("lin_grad_w_wrong_axis", "lin_grad", "weight gradient summed over the wrong axis", "wrong_axis",
           "def lin_grad(inp, out, w, b):\n    inp.g = out.g @ w.t()\n"
           "    w.g = (inp.unsqueeze(-1) * out.g.unsqueeze(1)).sum(1)\n    b.g = out.g.sum(0)\n"),
    Mutant("lin_grad_w_extra_bs", "lin_grad", "extra 1/bs on the weight gradient", "extra_bs",
           "def lin_grad(inp, out, w, b):\n    inp.g = out.g @ w.t()\n    w.g = inp.t() @ out.g / inp.shape[0]\n"
           "    b.g = out.g.sum(0)\n"),
    Mutant("lin_grad_b_mean", "lin_grad", "bias gradient a mean instead of a sum", "bias_mean",
           "def lin_grad(inp, out, w, b):\n    inp.g = out.g @ w.t()\n    w.g = inp.t() @ out.g\n"
           "    b.g = out.g.mean(0)\n"),
    Mutant("lin_grad_b_unset", "lin_grad", ".g left unset (bias forgotten)", "unset",
           "def lin_grad(inp, out, w, b):\n    inp.g = out.g @ w.t()\n    w.g = inp.t() @ out.g\n"),
    Mutant("relu_grad_no_mask", "relu_grad", "no ReLU mask: negatives let through", "relu_no_mask",
           "def relu_grad(inp, out):\n    inp.g = out.g.clone()\n"),
    Mutant("relu_grad_mask_on_grad", "relu_grad", "ReLU mask on the wrong tensor (out.g)", "relu_mask_wrong",
           "def relu_grad(inp, out):\n    inp.g = (out.g > 0).float() * out.g\n"),
    Mutant("relu_grad_in_place", "relu_grad", "upstream gradient modified in place", "inplace",
           "def relu_grad(inp, out):\n    out.g[inp <= 0] = 0.0\n    inp.g = out.g\n"),
    Mutant("ce_grad_softmax_dim0", "cross_entropy_grad", "softmax over the batch dimension", "softmax_dim",
           "def cross_entropy_grad(inp, targ):\n    sm = inp.softmax(0)\n    onehot = torch.zeros_like(sm)\n"
           "    onehot[range(targ.shape[0]), targ] = 1.0\n    inp.g = (sm - onehot) / inp.shape[0]\n"),
    Mutant("ce_grad_no_onehot", "cross_entropy_grad", "missing - onehot", "missing_onehot",
           "def cross_entropy_grad(inp, targ):\n    inp.g = inp.softmax(-1) / inp.shape[0]\n"),
    Mutant("ce_grad_no_bs", "cross_entropy_grad", "missing 1/bs", "missing_bs",
           "def cross_entropy_grad(inp, targ):\n    sm = inp.softmax(-1)\n    onehot = torch.zeros_like(sm)\n"
           "    onehot[range(targ.shape[0]), targ] = 1.0\n    inp.g = sm - onehot\n"),
    Mutant("mse_broadcast", "mse", "(bs, 1) - (bs,) broadcast to (bs, bs) in the loss", "broadcast",
           "def mse(output, targ):\n    return (output - targ.reshape(-1)).pow(2).mean()\n"),
    Mutant("relu_in_place", "relu", "input modified in place", "inplace",
           "def relu(x):\n    return x.clamp_min_(0.0)\n"),
    Mutant("he_init_no_2", "he_init", "He init without its factor 2", "he_factor2",
           "def he_init(n_in, n_out):\n    return torch.randn(n_in, n_out) / math.sqrt(n_in)\n"),
    Mutant("log_softmax_overflow", "log_softmax", "log of a sum of exps without the max shift", "nonfinite",
           "def log_softmax(x):\n    return x - x.exp().sum(-1, keepdim=True).log()\n"),
    Mutant("nll_block", "nll", "input[:, target] picks a (bs, bs) block", "broadcast",
           "def nll(input, target):\n    return -input[:, target].mean()\n"),
    Mutant("Mse_bwd_no_bs", "Mse", "missing 1/bs in the class's bwd", "missing_bs",
           "class Mse(Module):\n    def forward(self, inp, targ):\n        return (inp[:, 0] - targ).pow(2).mean()\n\n"
           "    def bwd(self, out, inp, targ):\n        inp.g = 2.0 * (inp[:, 0] - targ)[:, None]\n"),
    Mutant("Model_backward_skips_relu", "Model", "relu layer skipped in Model.backward", "first_wrong:l1",
           "class Model:\n    def __init__(self, w1, b1, w2, b2):\n"
           "        self.layers = [Lin(w1, b1), Relu(), Lin(w2, b2)]\n        self.loss = Mse()\n\n"
           "    def __call__(self, x, targ):\n        for l in self.layers:\n            x = l(x)\n"
           "        return self.loss(x, targ)\n\n    def backward(self):\n        self.loss.backward()\n"
           "        self.layers[2].backward()\n        self.layers[0].out.g = self.layers[1].out.g\n"
           "        self.layers[0].backward()\n"),
    Mutant("forward_and_backward_skips_relu", "forward_and_backward", "relu_grad skipped in the chain",
           "first_wrong:l1",
           "def forward_and_backward(inp, targ):\n    l1 = lin(inp, w1, b1)\n    l2 = relu(l1)\n"
           "    out = lin(l2, w2, b2)\n    mse_grad(out, targ)\n    lin_grad(l2, out, w2, b2)\n"
           "    l1.g = l2.g\n    lin_grad(inp, l1, w1, b1)\n"),
)


@dataclass(frozen=True)
class MutantResult:
    """How the grader judged one mutant."""

    mutant: Mutant
    status: str
    key: str
    hint: str

    @property
    def caught(self) -> bool:
        """Failed, and for the reason the mutant was built to show."""
        return self.status != "pass" and self.key == self.mutant.expect


@dataclass(frozen=True)
class MutantsReport:
    """The reference solutions' check and every mutant's verdict."""

    reference: CheckResult
    results: list[MutantResult]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.reference.ok and all(r.caught for r in self.results)


def solutions_namespace() -> dict:
    """The reference solutions run into a fresh namespace (the same text `exercise --solutions` writes)."""
    ns: dict = {"__name__": "__solutions__"}
    exec(compile("\n\n".join(src for kind, src in cells(solutions=True) if kind == "code"), "<solutions>", "exec"), ns)
    return ns


def run_mutant(m: Mutant, *, seconds: float = TIMEOUT) -> MutantResult:
    """Grade the one rule a mutant breaks, with every other definition the reference one."""
    ns = solutions_namespace()
    exec(compile(m.source, FILENAME, "exec"), ns)
    r = grade_rule(BY_RULE[m.rule], ns[m.rule], seconds=seconds, filenames=frozenset({FILENAME, "<solutions>"}))
    return MutantResult(m, r.status, r.key, r.hint)


def run_catalogue(*, seconds: float = TIMEOUT) -> MutantsReport:
    """The reference solutions, then every mutant."""
    t0 = time.perf_counter()
    ref = grade_namespace(solutions_namespace(), seconds=seconds, source="reference solutions")
    return MutantsReport(ref, [run_mutant(m, seconds=seconds) for m in CATALOGUE], time.perf_counter() - t0)
