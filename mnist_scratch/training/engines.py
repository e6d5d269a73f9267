"""Training engines: one SGD step on a batch, by the hand-written backward pass or by autograd.

Every engine follows one contract, `Engine`; `--engine NAME` picks the class whose `name` is NAME.
"""

from typing import ClassVar, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from mnist_scratch.config import TrainConfig
from mnist_scratch.lesson.nn import Lin, Model, Relu
from mnist_scratch.training.fused import FusedEngine
from mnist_scratch.training.stats import Probe


class Engine(Protocol):
    """What fit, the checkpoints and the bench need of an engine."""

    name: ClassVar[str]  # the --engine value that selects it

    def step(self, xb: torch.Tensor, yb: torch.Tensor, lr: float) -> torch.Tensor:
        """Forward, backward and SGD update on one batch; returns the batch loss (before the update)."""
        ...

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Model output for x, without touching any gradient state."""
        ...

    def state(self) -> dict[str, torch.Tensor]:
        """Parameters and momentum buffers in the lesson's names and layout, as copies or read-only views."""
        ...

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Copy parameters (and momentum buffers when present) from state."""
        ...


def sgd_(p: torch.Tensor, g: torch.Tensor, buf: "torch.Tensor | None", lr: float, cfg: TrainConfig) -> None:
    """torch.optim.SGD's update rule, in place: weight decay, momentum buffer, step."""
    if cfg.weight_decay:
        g = g.add(p, alpha=cfg.weight_decay)
    if buf is not None:
        g = buf.mul_(cfg.momentum).add_(g)
    p.sub_(g, alpha=lr)


class ReferenceEngine:
    """Gradients from the hand-written backward rules of mnist_scratch.lesson.nn; no autograd anywhere.

    The readable reference (`--engine reference`); `--engine manual` is its fused twin, mnist_scratch.training.fused.
    """

    name = "reference"

    def __init__(self, model: Model, cfg: TrainConfig):
        self.model, self.cfg = model, cfg
        self.bufs = {k: torch.zeros_like(p) for k, p in model.params()} if cfg.momentum else {}

    def step(self, xb: torch.Tensor, yb: torch.Tensor, lr: float) -> torch.Tensor:
        """Forward, backward, update; returns the batch loss (before the update)."""
        with torch.no_grad():
            loss = self.model(xb, yb)
            self.model.backward()
            for k, p in self.model.params():
                sgd_(p, p.g, self.bufs.get(k), lr, self.cfg)
        return loss

    def step_stats(self, xb: torch.Tensor, yb: torch.Tensor, lr: float) -> tuple[torch.Tensor, Probe]:
        """step(), then a Probe from what the layers kept: each Lin's output after its ReLU, p.g, the new p."""
        loss = self.step(xb, yb, lr)
        layers = self.model.layers
        acts = [layers[j + 1].out if j + 1 < len(layers) and isinstance(layers[j + 1], Relu) else l.out
                for j, l in enumerate(layers) if isinstance(l, Lin)]
        params = dict(self.model.params())
        return loss, Probe(acts, {k: p.g for k, p in params.items()}, params)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Model output for x."""
        with torch.no_grad():
            return self.model.predict(x)

    def state(self) -> dict[str, torch.Tensor]:
        """Parameters and momentum buffers, named as in the checkpoint."""
        d = dict(self.model.params())
        d.update({f"momentum.{k}": v for k, v in self.bufs.items()})
        return d

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Copy parameters (and momentum buffers when present) from state."""
        with torch.no_grad():
            for k, p in self.model.params():
                p.copy_(state[k])
            for k, v in self.bufs.items():
                if f"momentum.{k}" in state:
                    v.copy_(state[f"momentum.{k}"])


class AutogradEngine:
    """The identical model as nn.Linear layers trained by autograd and torch.optim.SGD: the parity twin."""

    name = "autograd"

    def __init__(self, model: Model, cfg: TrainConfig):
        self.cfg, self.names = cfg, [k for k, _ in model.params()]
        params = dict(model.params())
        layers: list[nn.Module] = []
        for i in range(len(self.names) // 2):
            w = params[f"lin{i + 1}.w"]  # (n_in, n_out), the lesson's layout
            lin = nn.Linear(w.shape[0], w.shape[1], dtype=w.dtype, device=w.device)
            layers += [lin, nn.ReLU()]
        self.net = nn.Sequential(*layers[:-1])
        self.opt = torch.optim.SGD(self.net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
        self.load_state(params)

    def _loss(self, out: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        if self.cfg.loss == "mse":
            return F.mse_loss(out.squeeze(-1), yb.to(out.dtype))
        return F.cross_entropy(out, yb)

    def step(self, xb: torch.Tensor, yb: torch.Tensor, lr: float) -> torch.Tensor:
        """Forward, loss.backward(), optimizer step; returns the batch loss."""
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        loss = self._loss(self.net(xb), yb)
        loss.backward()
        self.opt.step()
        return loss.detach()

    def step_stats(self, xb: torch.Tensor, yb: torch.Tensor, lr: float) -> tuple[torch.Tensor, Probe]:
        """step() with the forward run module by module to keep each Linear's output after its ReLU (no hooks)."""
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        acts, out = [], xb
        for m in self.net:
            out = m(out)
            if isinstance(m, nn.ReLU) or m is self.net[-1]:
                acts.append(out.detach())
        loss = self._loss(out, yb)
        loss.backward()
        self.opt.step()
        named = list(self._params())
        return loss.detach(), Probe(acts, {k: flip(p.grad) for k, p, flip in named},
                                    {k: flip(p.detach()) for k, p, flip in named})

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Model output for x."""
        with torch.no_grad():
            return self.net(x)

    def _params(self):
        """(manual-layout name, nn parameter, layout change) for each: nn.Linear stores w.T, so weights flip."""
        lins = [m for m in self.net if isinstance(m, nn.Linear)]
        for i, lin in enumerate(lins, 1):
            yield f"lin{i}.w", lin.weight, lambda t: t.T
            yield f"lin{i}.b", lin.bias, lambda t: t

    def state(self) -> dict[str, torch.Tensor]:
        """Parameters (and momentum buffers) in the manual engine's names and layout."""
        d: dict[str, torch.Tensor] = {}
        for k, p, flip in self._params():
            d[k] = flip(p.detach())
            buf = self.opt.state.get(p, {}).get("momentum_buffer")
            if buf is not None:
                d[f"momentum.{k}"] = flip(buf)
        return d

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Copy parameters (and momentum buffers when present) from manual-layout state."""
        for k, p, flip in self._params():
            with torch.no_grad():
                p.copy_(flip(state[k]))
            if self.cfg.momentum and f"momentum.{k}" in state:
                self.opt.state[p]["momentum_buffer"] = flip(state[f"momentum.{k}"]).clone()


ENGINES: dict[str, type[Engine]] = {cls.name: cls for cls in (FusedEngine, ReferenceEngine, AutogradEngine)}
