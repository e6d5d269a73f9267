"""Training with a learner's own rules: their Lin/Relu/Mse classes (or lin/relu/mse and *_grad functions).

The project supplies the data, the init, the SGD update and the table; every forward and backward computation
of the model is the learner's code. The rules are graded first: training on a wrong rule teaches nothing.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from mnist_scratch.config import TrainConfig
from mnist_scratch.errors import UsageError
from mnist_scratch.grader import CheckResult, grade_namespace
from mnist_scratch.grader.load import load_file
from mnist_scratch.grader.result import RuleResult
from mnist_scratch.lesson.nn import Model
from mnist_scratch.training.engines import ReferenceEngine, sgd_

CLASSES = ("Module", "Lin", "Relu")
FUNCTIONS = ("lin", "relu", "relu_grad", "lin_grad")
LOSS_RULES = {"mse": {"classes": ("Mse",), "functions": ("mse", "mse_grad")},
              "ce": {"classes": ("log_softmax", "nll", "cross_entropy_grad"),
                     "functions": ("log_softmax", "nll", "cross_entropy_grad")}}
UNDONE = ("missing", "not implemented")


@dataclass
class LearnerRules:
    """The rules chosen from a learner's file, and the check that cleared them."""

    ns: dict
    style: str  # "classes" or "functions"
    loss: str
    check: CheckResult


def _undone(res: CheckResult) -> bool:
    return any(r.status in UNDONE for r in res.rules)


def choose(path: Path, loss: str, *, seconds: float) -> LearnerRules:
    """Load path and grade the rules training needs: the classes when all are written, else the functions.

    Returns even when a rule is wrong (the caller refuses with the check table); UsageError when the file does
    not define a set of rules that can train the model at all.
    """
    loaded = load_file(path, seconds=seconds)
    if loaded.syntax_error:
        row = RuleResult("(file)", "", "error", hint="the file does not compile", key="syntax")
        return LearnerRules({}, "classes", loss, CheckResult([row], str(path), error=loaded.syntax_error))
    ns = dict(loaded.namespace)
    for name in CLASSES + FUNCTIONS + LOSS_RULES["mse"]["classes"] + LOSS_RULES["mse"]["functions"]:
        obj, _ = loaded.handwritten(name)  # the notebooks' last `class Model(nn.Module)` is not a rule to train on
        if obj is not None:
            ns[name] = obj
    return choose_from(ns, loss, seconds=seconds, source=str(path), filenames=loaded.filenames,
                       notes=loaded.notes)


def loss_of(ns: dict) -> str:
    """"ce" when the learner wrote the cross-entropy rules, else the lesson's "mse"."""
    return "ce" if all(callable(ns.get(n)) for n in LOSS_RULES["ce"]["functions"]) else "mse"


def choose_from(ns: dict, loss: str, *, seconds: float, source: str, filenames: "frozenset[str] | None" = None,
                notes: "list[str] | None" = None) -> LearnerRules:
    """The rules training needs from a namespace (a loaded file's, a notebook's globals), graded; see choose."""
    tried = []
    for style, base in (("classes", CLASSES), ("functions", FUNCTIONS)):
        names = base + LOSS_RULES[loss][style]
        res = grade_namespace(ns, names=names, seconds=seconds, filenames=filenames, source=source)
        res.notes = list(notes or [])
        if not _undone(res):
            return LearnerRules(ns, style, loss, res)
        tried.append(res)
    missing = [r.name for r in tried[-1].rules if r.status in UNDONE]
    hint = " (or train the lesson's MSE model: --config lesson)" if loss == "ce" else ""
    raise UsageError(f"{source} does not define rules to train with: fill in {', '.join(missing)} "
                     f"(or the classes {', '.join(CLASSES + LOSS_RULES[loss]['classes'])}){hint}")


class RulesEngine:
    """One SGD step through the learner's forward and backward rules; same contract as ReferenceEngine."""

    name = "rules"

    def __init__(self, model: Model, cfg: TrainConfig, rules: LearnerRules):
        self.model, self.cfg, self.rules, self.ns = model, cfg, rules, rules.ns
        self.params = model.params()  # [(lin1.w, w), (lin1.b, b), ...]: the tensors the learner's code updates
        self.pairs = [(self.params[i][1], self.params[i + 1][1]) for i in range(0, len(self.params), 2)]
        self.bufs = {k: torch.zeros_like(p) for k, p in self.params} if cfg.momentum else {}
        self.layers, self.loss_layer = [], None
        if rules.style == "classes":
            for i, (w, b) in enumerate(self.pairs):
                if i > 0:
                    self.layers.append(self.ns["Relu"]())
                self.layers.append(self.ns["Lin"](w, b))
            self.loss_layer = self.ns["Mse"]() if rules.loss == "mse" else None

    def _forward(self, x: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """Model output, and for the function style every (lin output, relu output) on the way."""
        if self.rules.style == "classes":
            for l in self.layers:
                x = l(x)
            return x, []
        acts, lin, relu = [], self.ns["lin"], self.ns["relu"]
        for i, (w, b) in enumerate(self.pairs):
            if i > 0:
                r = relu(x)
                acts.append((x, r))
                x = r
            x = lin(x, w, b)
        return x, acts

    def _loss_and_grad(self, out: Tensor, yb: Tensor) -> Tensor:
        """The batch loss from the learner's loss code, with out.g set by their loss gradient."""
        if self.rules.loss == "ce":
            loss = self.ns["nll"](self.ns["log_softmax"](out), yb)
            self.ns["cross_entropy_grad"](out, yb)
            return loss
        targ = yb.to(out.dtype)  # the lesson regresses the digit value: float targets, as its y_train.float()
        if self.loss_layer is not None:
            loss = self.loss_layer(out, targ)
            self.loss_layer.backward()
            return loss
        loss = self.ns["mse"](out, targ)
        self.ns["mse_grad"](out, targ)
        return loss

    def step(self, xb: Tensor, yb: Tensor, lr: float) -> Tensor:
        """Their forward, loss, backward; then the project's SGD update from the .g they set."""
        with torch.no_grad():
            out, acts = self._forward(xb)
            loss = self._loss_and_grad(out, yb)
            if self.rules.style == "classes":
                for l in reversed(self.layers):
                    l.backward()
            else:
                lin_grad, relu_grad = self.ns["lin_grad"], self.ns["relu_grad"]
                ins = [xb] + [r for _, r in acts]  # each lin's input
                outs = [pre for pre, _ in acts] + [out]  # each lin's output
                for i in reversed(range(len(self.pairs))):
                    lin_grad(ins[i], outs[i], *self.pairs[i])
                    if i > 0:
                        relu_grad(*acts[i - 1])
            for k, p in self.params:
                sgd_(p, p.g, self.bufs.get(k), lr, self.cfg)
        return torch.as_tensor(loss).detach()

    def predict(self, x: Tensor) -> Tensor:
        """Model output for x through their forward code."""
        with torch.no_grad():
            return self._forward(x)[0]

    state = ReferenceEngine.state  # the same model and momentum buffers: self.model and self.bufs
    load_state = ReferenceEngine.load_state
