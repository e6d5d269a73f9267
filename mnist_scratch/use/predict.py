"""A trained run applied to prepared digits: top classes with probabilities, or the lesson's one output. Pure."""

import json
from dataclasses import dataclass

import torch
from torch import Tensor

from mnist_scratch.errors import TrainingError
from mnist_scratch.training.checkpoint import Checkpoint
from mnist_scratch.training.evaluation import model_from
from mnist_scratch.training.fit import OVERFLOW, classify

DIGITS = tuple(str(d) for d in range(10))
KNOWN = {  # class names of the 28x28 ten-class sets a run may have been trained on, by dataset name
    "mnist": DIGITS,
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"),
    "kmnist": ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
}
TOP = 3


def class_names(ckpt: Checkpoint) -> tuple[str, ...]:
    """The run's class names: its metadata's `classes`, else its dataset's known names, else the digits 0..9."""
    try:
        names = json.loads(ckpt.meta.get("classes", "null"))
    except ValueError:
        names = None
    if isinstance(names, list) and len(names) == 10 and all(isinstance(n, str) for n in names):
        return tuple(names)
    dataset = ckpt.meta.get("dataset") or getattr(ckpt.cfg, "dataset", None) or "mnist"
    return KNOWN.get(str(dataset).lower().replace("_", "-"), DIGITS)


@dataclass(frozen=True)
class Guess:
    """What the network made of one digit."""

    top: "list[tuple[int, float | None]]"  # (class, probability), most likely first; MSE: the rounded digit, None
    output: "list[float]"  # the raw outputs: 10 logits, or the lesson's one regression output
    hidden: list[list[float]]  # each hidden layer's activations (after its ReLU)


class Predictor:
    """A checkpoint's model with its normalisation: pixels in [0, 1] in, guesses out."""

    def __init__(self, ckpt: Checkpoint):
        self.ckpt, self.model, self.classes = ckpt, model_from(ckpt), class_names(ckpt)
        self.mse = ckpt.cfg.loss == "mse"

    def __call__(self, images: Tensor) -> list[Guess]:
        """Guesses for images (n, 28, 28) in [0, 1], normalised with the run's own mean and std."""
        x = (images.reshape(len(images), -1).float() - self.ckpt.mean) / self.ckpt.std  # (n, 784)
        with torch.no_grad():
            out = self.model.predict(x)  # (n, 10) or (n, 1)
            hidden = [l.out for l in self.model.layers if l.name.startswith("relu")]  # each (n, nh[i])
        if not bool(torch.isfinite(out).all()):
            raise TrainingError(OVERFLOW)
        if self.mse:  # the lesson's regression onto the digit value: the rounded output, no probability
            top = [[(int(d), None)] for d in classify(out)]
        else:
            p, i = out.softmax(-1).topk(TOP, dim=-1)  # (n, 3)
            top = [list(zip(r.tolist(), q.tolist(), strict=True)) for r, q in zip(i, p, strict=True)]
        return [Guess(top[k], out[k].tolist(), [h[k].tolist() for h in hidden]) for k in range(len(out))]

    def probs(self, guess: Guess) -> "list[float] | None":
        """The ten class probabilities of a guess (None for the one-output MSE model)."""
        return None if self.mse else torch.tensor(guess.output).softmax(-1).tolist()
