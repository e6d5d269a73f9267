"""The NaN sentinel: when training turns non-finite, replay the failing step op by op and name the first bad op.

What is kept while training is a copy of the parameters and momentum buffers every KEEP_EVERY steps (318 KB at
nh 50; one copy costs about half a step, so ~0.2 % of the run). On failure, the training engine re-runs the
steps from that copy to the last one that left everything finite (same batches, same lrs: the same trajectory),
then the step that broke is replayed through the reference rules of mnist_scratch.lesson.nn, forward then backward
then the SGD update, checking every op's result. Pure: returns a Finding, prints nothing.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from mnist_scratch.config import TrainConfig

KEEP_EVERY = 250  # steps between two kept copies; a failure re-runs at most twice this many fast steps
Batch = Callable[[int, int], tuple[Tensor, Tensor, float]]  # (epoch, batch index) -> (xb, yb, lr)


@dataclass
class Finding:
    """The first operation that produced a non-finite value."""

    step: int  # 1-based global step, as fit's messages count them
    op: str  # e.g. "lin2's output", "the gradient lin1.w.g", "the SGD update of lin1.w"
    phase: str  # "input", "forward", "backward" or "update"
    value: str  # "inf" or "nan"
    detail: str  # the largest magnitude that led there, e.g. "the largest weight in lin2.w was 3.1e+19"

    def text(self) -> str:
        """One clause for the error line."""
        if self.phase == "input":
            return f"the input batch at step {self.step} already held {self.value}: {self.detail}"
        verb = "overflowed to inf" if self.value == "inf" else "became nan"
        where = "in the SGD update" if self.phase == "update" else f"in the {self.phase} pass"
        return f"{self.op} {verb} {where} at step {self.step}; {self.detail}"


class Keeper:
    """Keeps copies of the engine's state every KEEP_EVERY steps (the last two), for the replay."""

    def __init__(self, engine, every: int = KEEP_EVERY):
        self.engine, self.every = engine, every
        self.kept: list[tuple[tuple[int, int], dict[str, Tensor]]] = []  # ((epoch, batch index), state before it)

    def maybe_keep(self, epoch: int, i: int) -> None:
        """Copy the state before batch i of epoch when i is a multiple of every (so each epoch starts with one).

        Not checked here (a finiteness check costs more than the copy): the copy may already be broken, so the
        one before it is kept too, and locate() starts from the newest finite one.
        """
        if i % self.every == 0:
            state = {k: v.detach().clone() for k, v in self.engine.state().items()}
            self.kept = [*self.kept[-1:], ((epoch, i), state)]

    def start(self, upto: tuple[int, int]) -> "tuple[tuple[int, int], dict[str, Tensor]] | None":
        """The newest kept copy that is finite and taken at or before upto."""
        for at, state in reversed(self.kept):
            if at <= upto and not any(_bad(v) for v in state.values()):
                return at, state
        return None


def _bad(t: Tensor) -> "str | None":
    """'nan' or 'inf' when t holds one (nan first: it is the worse news), else None."""
    if bool(torch.isfinite(t).all()):
        return None
    return "nan" if bool(torch.isnan(t).any()) else "inf"


def _largest(name: str, t: Tensor) -> str:
    finite = t[torch.isfinite(t)]
    big = finite.abs().max().item() if finite.numel() else math.inf
    return f"the largest {name} was {big:.2g}"


def replay_step(state: dict[str, Tensor], xb: Tensor, yb: Tensor, lr: float, cfg: TrainConfig, step: int
                ) -> "Finding | None":
    """One SGD step of the lesson's Model from state, checking every op; the first non-finite result, or None."""
    from mnist_scratch.lesson.nn import Lin, make_model
    from mnist_scratch.training.engines import sgd_

    bad = _bad(xb)
    if bad:
        rows = int((~torch.isfinite(xb)).any(1).sum())
        return Finding(step, "x", "input", bad, f"{rows} of its {len(xb)} rows hold non-finite pixels; check the data")
    model = make_model(cfg.nh, cfg.loss, generator=torch.Generator().manual_seed(0), dtype=xb.dtype, device=xb.device)
    with torch.no_grad():
        for k, p in model.params():
            p.copy_(state[k])
        x = xb
        for l in model.layers:  # forward, op by op
            x = l(x)
            bad = _bad(x)
            if bad:
                detail = (_largest(f"weight in {l.name}.w", l.w) if isinstance(l, Lin)
                          else _largest(f"input to {l.name}", l.args[0]))
                return Finding(step, f"{l.name}'s output", "forward", bad, detail)
        loss = model.loss(x, yb)
        bad = _bad(loss)
        if bad:
            last = model.layers[-1]
            return Finding(step, f"the {cfg.loss} loss", "forward", bad,
                           f"{_largest('model output', x)}; {_largest(f'weight in {last.name}.w', last.w)}")
        model.loss.backward()  # backward, op by op: the loss, then every layer from the top down
        bad = _bad(x.g)
        if bad:
            return Finding(step, "the loss gradient", "backward", bad, _largest("model output", x))
        for i in reversed(range(len(model.layers))):
            l = model.layers[i]
            l.backward(inp_g=i > 0)
            grads = [(f"{l.name}.w.g", l.w.g), (f"{l.name}.b.g", l.b.g)] if isinstance(l, Lin) else []
            if i > 0:
                grads.insert(0, (f"{l.name}'s input gradient", l.args[0].g))
            for name, g in grads:
                bad = _bad(g)
                if bad:
                    op = name if name.endswith("gradient") else f"the gradient {name}"
                    return Finding(step, op, "backward", bad, _largest(f"gradient reaching {l.name}", l.out.g))
        for k, p in model.params():  # the update, one parameter at a time
            buf = state.get(f"momentum.{k}")
            buf = buf.clone() if buf is not None else (torch.zeros_like(p) if cfg.momentum else None)
            g = p.g
            sgd_(p, g, buf, lr, cfg)
            bad = _bad(p)
            if bad:
                return Finding(step, k, "update", bad, f"lr {lr:.4g}; {_largest(f'|{k}.g|', g)}")
    return None


def locate(keeper: Keeper, engine_cls, cfg: TrainConfig, batch: Batch, nb: int, upto: "tuple[int, int]"
           ) -> "Finding | None":
    """Re-run the training engine from the kept copy to the step that broke, then replay that one op by op.

    upto: (epoch, batch index) of the step where the failure was seen; the first bad step is at or before it.
    """
    from mnist_scratch.lesson.nn import make_model
    from mnist_scratch.training.engines import ENGINES, ReferenceEngine

    if engine_cls not in ENGINES.values():  # built by a factory (train --rules): the reference rules are its math
        engine_cls = ReferenceEngine
    kept = keeper.start(upto)
    if kept is None:
        return None
    (epoch, i), state = kept
    w = state["lin1.w"]
    model = make_model(cfg.nh, cfg.loss, generator=torch.Generator().manual_seed(0), dtype=w.dtype, device=w.device)
    engine = engine_cls(model, cfg)
    engine.load_state(state)
    while (epoch, i) <= upto:
        before = {k: v.detach().clone() for k, v in engine.state().items()}
        xb, yb, lr = batch(epoch, i)
        loss = engine.step(xb, yb, lr)
        broke = not math.isfinite(loss.item()) or any(_bad(v) for v in engine.state().values())
        if broke or (epoch, i) == upto:
            return replay_step(before, xb, yb, lr, cfg, epoch * nb + i + 1)
        epoch, i = (epoch, i + 1) if i + 1 < nb else (epoch + 1, 0)
    return None


def describe(finding: "Finding | None") -> str:
    """The clause the error line carries, and what to try."""
    if finding is None:
        return "the replay through the reference rules stayed finite (the engine's own ops broke it, or rounded " \
               "differently); try a smaller --lr or --engine reference"
    if finding.phase == "input":
        return finding.text()
    return f"{finding.text()}; the learning rate is likely too high, try a smaller --lr"
