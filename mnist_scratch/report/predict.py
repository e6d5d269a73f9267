"""Rendering for `predict`: one row per image (top classes and probabilities), refused files on stderr."""

from mnist_scratch.report.console import esc, print_json, stderr, stdout
from mnist_scratch.report.show import digit_lines, fmt_conf
from mnist_scratch.use.files import Loaded
from mnist_scratch.use.predict import Predictor


def guess_text(row: Loaded, predictor: Predictor) -> str:
    """'7 98.1%   1 1.2%   2 0.3%' (names for another dataset), or for the one-output model '7 (output 6.83)'."""
    g = row.guess
    if predictor.mse:
        return f"{g.top[0][0]} (output {g.output[0]:.2f})"
    return "   ".join(f"{predictor.classes[c]} {fmt_conf(p)}" for c, p in g.top)


def to_dict(rows: list[Loaded], predictor: Predictor) -> dict:
    """The JSON form: the run, its class names, and per image its top classes or its error."""
    images = []
    for r in rows:
        item: dict = {"path": str(r.path)}
        if r.error is not None:
            item["error"] = r.error
        elif predictor.mse:
            item.update(pred=r.guess.top[0][0], output=r.guess.output[0])
        else:
            item.update(pred=predictor.classes[r.guess.top[0][0]],
                        top=[{"class": predictor.classes[c], "index": c, "prob": p} for c, p in r.guess.top])
        if r.digit is not None:
            item["inverted"] = r.digit.inverted
        images.append(item)
    ck = predictor.ckpt
    return {"run": str(ck.path), "loss": ck.cfg.loss, "classes": list(predictor.classes), "images": images}


def render(rows: list[Loaded], predictor: Predictor, *, as_json: bool = False, show: bool = False) -> None:
    """A line per image on stdout (with --show the 28x28 it became above it); a line per refused file on stderr."""
    err = stderr()
    for r in rows:
        if r.error is not None:
            err.print(f"error: {esc(r.path)}: {esc(r.error)}", soft_wrap=True)
    if as_json:
        return print_json(to_dict(rows, predictor))
    out = stdout()
    for r in rows:
        if r.guess is None:
            continue
        if show:
            for line in digit_lines(r.digit.image, colour=out.color_system is not None):
                out.print(line, no_wrap=True, overflow="crop")
        out.print(f"{esc(r.path)}  {esc(guess_text(r, predictor))}", soft_wrap=True)
