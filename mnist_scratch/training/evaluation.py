"""Test-set figures of a trained model: loss, accuracy, per-class accuracy, confusion matrix. Pure."""

from dataclasses import dataclass

import torch

from mnist_scratch.lesson.nn import Model, make_model
from mnist_scratch.training.checkpoint import Checkpoint
from mnist_scratch.training.fit import metrics, predict_all


@dataclass
class EvalResult:
    """Figures of one model on one split."""

    split: str
    n: int
    loss: float
    acc: float
    per_class: list[float]  # accuracy of each true digit 0..9
    confusion: list[list[int]]  # [true][predicted]
    ckpt: "Checkpoint | None" = None  # the run evaluated, when it came from one


def model_from(ckpt: Checkpoint, device: "torch.device | str" = "cpu") -> Model:
    """The model a checkpoint describes, with its weights."""
    model = make_model(ckpt.cfg.nh, ckpt.cfg.loss, generator=torch.Generator().manual_seed(0), device=device)
    with torch.no_grad():
        for k, p in model.params():
            p.copy_(ckpt.state[k])
    return model


def evaluate_model(model: Model, x: torch.Tensor, y: torch.Tensor, loss: str, split: str = "test") -> EvalResult:
    """Loss, accuracy, per-class accuracy and confusion matrix of model on (x, y)."""
    value, acc, pred = metrics(predict_all(model.predict, x), y, loss)
    conf = torch.zeros(10, 10, dtype=torch.int64)
    conf.view(-1).index_add_(0, (y.cpu() * 10 + pred.cpu()), torch.ones(len(y), dtype=torch.int64))
    per_class = (conf.diagonal() / conf.sum(1).clamp(min=1)).tolist()
    return EvalResult(split, len(y), value, acc, per_class, conf.tolist())


def evaluate_run(ckpt: Checkpoint, data) -> EvalResult:
    """The checkpoint's model on the test split (used here and nowhere else)."""
    res = evaluate_model(model_from(ckpt), data.x_test, data.y_test, ckpt.cfg.loss)
    res.ckpt = ckpt
    return res
