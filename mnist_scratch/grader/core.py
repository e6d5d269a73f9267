"""The grading toolkit the rules use: test cases, calling learner code, comparing one tensor, finite differences."""

import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from mnist_scratch.gradcheck.kink import sample_differences
from mnist_scratch.grader.diagnose import Diagnosis, close, diagnose, max_rel
from mnist_scratch.grader.sandbox import Bounded, run

FD_H, FD_RTOL, FD_ATOL, FD_SAMPLES = 1e-6, 1e-4, 1e-7, 6  # float64 central differences on sampled entries
KINK_MARGIN = 1e-3  # ReLU inputs are moved at least this far from 0, so a step of FD_H never crosses the kink


@dataclass(frozen=True)
class Case:
    """One shape to grade on: batch size, layer widths."""

    bs: int
    n_in: int
    n_out: int


# bs = 7 first (not a power of two: most mistakes show there, and the diagnosis reads its ratios), then 1 (a
# missing 1/bs hides there, so it is never the only one) and 32. n_in != n_out everywhere, so a transposed weight
# gradient has the wrong shape.
CASES = (Case(7, 6, 4), Case(1, 5, 3), Case(32, 10, 3))


def away_from_kink(x: Tensor, margin: float = KINK_MARGIN) -> Tensor:
    """x with entries nearer 0 than margin pushed out to ±margin: ReLU's gradient is defined everywhere there."""
    return torch.where(x.abs() < margin, torch.where(x < 0, -margin, margin), x)


def tensors(case: Case, seed: int) -> dict[str, Tensor]:
    """Float64 inputs for one case: non-unit scales, non-zero biases, labels, an upstream gradient."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0, shift=0.0):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale + shift

    bs, n_in, n_out = case.bs, case.n_in, case.n_out
    return dict(
        inp=rnd(bs, n_in, scale=1.5), w=rnd(n_in, n_out, scale=0.7), b=rnd(n_out, scale=0.5, shift=0.3),
        upstream=rnd(bs, n_out, scale=0.3), pre=away_from_kink(rnd(bs, n_out, scale=1.2)),
        up_h=rnd(bs, n_out, scale=0.4), out1=rnd(bs, 1, scale=2.0, shift=4.0),
        targ=torch.randint(0, 10, (bs,), generator=g).double(), logits=rnd(bs, 10, scale=2.0),
        labels=torch.randint(0, 10, (bs,), generator=g),
    )


def vjp(f: Callable, inputs: tuple[Tensor, ...], upstream: "Tensor | None" = None) -> tuple[Tensor, ...]:
    """Autograd's gradients of f(*inputs) (a scalar, or dotted with upstream) w.r.t. each input, in float64.

    The right answers of the backward rules come from here, never from a hand-written formula.
    """
    leaves = tuple(t.detach().clone().requires_grad_() for t in inputs)
    with torch.enable_grad():
        out = f(*leaves)
        grads = torch.autograd.grad(out if upstream is None else (out * upstream).sum(), leaves)
    return tuple(g.detach() for g in grads)


def rtol_of(got) -> float:
    """float64 round-off, or float32's when the learner's code computed in a lower precision."""
    low = isinstance(got, Tensor) and got.dtype in (torch.float32, torch.float16, torch.bfloat16)
    return 1e-5 if low else 1e-8


class Failed(Exception):
    """A rule's verdict other than pass; raised from deep inside a rule's grading, caught once per rule."""

    def __init__(self, status: str, hint: str = "", key: str = "", max_rel: "float | None" = None,
                 traceback: tuple[str, ...] = ()):
        super().__init__(hint)
        self.status, self.hint, self.key, self.max_rel, self.traceback = status, hint, key, max_rel, traceback


@dataclass(frozen=True)
class Op:
    """A named adapter operation (adapters.OPS) on the learner's code, with its first arguments bound."""

    learner: object  # learner.LocalLearner or learner.RemoteLearner
    name: str
    bound: tuple = ()

    def __call__(self, *args):
        raise TypeError("an Op runs through Ctx.call, where its time limit and verdicts are handled")


@dataclass
class Ctx:
    """State of one rule's grading: the time limit, whose frames to show, the worst difference so far."""

    seconds: float
    is_theirs: Callable[[str], bool]
    stdout: io.TextIOBase = field(default_factory=Bounded)
    worst: float = 0.0
    notes: list[str] = field(default_factory=list)
    learner: object = None
    column_targets: bool = False  # send targets as (bs, 1) columns, as the 2019 lesson's y_train.unsqueeze(-1)

    def targets(self, targ: Tensor) -> Tensor:
        """The targets in the shape this grading sends them: (bs,) as the lesson has them, or a (bs, 1) column."""
        return targ[:, None].clone() if self.column_targets else targ

    def op(self, name: str, *bound) -> Op:
        """The learner-side operation `name` with its first arguments (a rule's name, a class's constructor args)."""
        return Op(self.learner, name, bound)

    def call(self, fn: Callable, *args):
        """fn(*args) as the learner wrote it; anything but a return becomes the rule's verdict."""
        if isinstance(fn, Op):
            ran = fn.learner.run(fn.name, fn.bound + args, seconds=self.seconds, stdout=self.stdout)
        else:
            ran = run(fn, *args, seconds=self.seconds, is_theirs=self.is_theirs, stdout=self.stdout)
        for note in ran.notes:
            if note not in self.notes:
                self.notes.append(note)
        if ran.outcome == "ok":
            return ran.value
        if ran.outcome == "autograd":
            raise Failed("autograd", "the gradient comes from autograd (torch.autograd.grad, .backward() or "
                                     "torch.func), not from your own formula: write the rule by hand", "autograd",
                         traceback=ran.traceback)
        if ran.outcome == "not implemented":
            raise Failed("not implemented", "still raises NotImplementedError", "not_implemented")
        if ran.outcome == "timeout":
            raise Failed("error", ran.message, "timeout")
        raise Failed("error", ran.message, "exception", traceback=ran.traceback)

    def call_watching(self, fn: Callable, *args, watch: dict[str, Tensor]):
        """fn(*args), then fail when it wrote into any watched tensor (an input or an upstream gradient)."""
        before = {k: t.clone() for k, t in watch.items()}
        value = self.call(fn, *args)
        for k, t in watch.items():
            if t.shape != before[k].shape or not torch.equal(t, before[k]):
                why = ("it is the gradient of another tensor and must stay right for whoever reads it next" if
                       k.endswith(".g") else "it is the caller's tensor, and the backward pass reads it again")
                raise Failed("wrong", f"{k} is modified in place: {why}; compute into a new tensor instead",
                             "inplace")
        return value

    def expect(self, label: str, got, want: Tensor, *, bs: int, role: str = "", returned: object = None,
               candidates: "tuple[tuple[Tensor, Diagnosis], ...]" = ()) -> None:
        """Pass when got equals want to float64 round-off (float32 round-off if they computed in float32)."""
        if got is not None and not isinstance(got, Tensor):
            try:
                got = torch.as_tensor(got, dtype=torch.float64)
            except (TypeError, ValueError, RuntimeError):
                what = getattr(got, "type_name", type(got).__name__)
                raise Failed("wrong", f"{label} is a {what}, not a tensor", "type") from None
        if got is not None and want.dim() == 0 and got.numel() == 1:
            got = got.reshape(())  # a (1,)-shaped loss is the same number
        rtol = rtol_of(got)
        if got is not None and close(got, want, rtol):
            self.worst = max(self.worst, max_rel(got, want))
            return
        d = diagnose(label, got, want, bs=bs, role=role, returned=returned, candidates=candidates)
        rel = max_rel(got, want) if got is not None else math.inf
        raise Failed("wrong", d.hint, d.key, max_rel=rel)


def fd_confirm(loss: Callable[[], float], params: dict[str, tuple[Tensor, Tensor]], *, seed: int,
               relus: Callable[[], tuple[Tensor, ...]] = tuple) -> None:
    """Second opinion: float64 central differences of loss() at sampled entries of each (param, learner's grad).

    relus() returns the ReLU inputs of the last loss() call, so steps across the kink are handled one-sided.
    """
    g = torch.Generator().manual_seed(seed)

    def f():
        value = loss()
        return value, tuple(r > 0 for r in relus())

    for label, (p, ana) in params.items():
        idx, num, _, _ = sample_differences(f, p, samples=FD_SAMPLES, generator=g, h=FD_H)
        a = ana.detach().double().reshape(-1)[idx]
        n = torch.tensor(num, dtype=torch.float64)
        if idx and not torch.allclose(a, n, rtol=FD_RTOL, atol=FD_ATOL * max(1.0, n.abs().max().item())):
            raise Failed("wrong", f"{label} disagrees with central finite differences (max rel diff "
                                  f"{max_rel(a, n):.2e})", "fd", max_rel=max_rel(a, n))
