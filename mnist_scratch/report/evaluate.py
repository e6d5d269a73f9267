"""Rendering for `evaluate`: summary, per-class accuracy and confusion matrix."""

from rich.table import Table

from mnist_scratch.report.console import esc, print_json, stdout
from mnist_scratch.training.evaluation import EvalResult


def render(res: EvalResult, *, as_json: bool = False) -> None:
    """The summary line, accuracy per digit and the confusion matrix; or one JSON object."""
    ckpt = res.ckpt
    if as_json:
        return print_json({"checkpoint": str(ckpt.path), "config": ckpt.cfg.to_dict(), "split": res.split,
                           "n": res.n, "test_loss": res.loss, "test_acc": res.acc, "per_class": res.per_class,
                           "confusion": res.confusion})
    c = stdout()
    nh = ",".join(map(str, ckpt.cfg.nh))
    c.print(f"{esc(ckpt.path)} (nh {nh}, loss {ckpt.cfg.loss}, epoch {ckpt.epoch}) on the {res.split} split, "
            f"{res.n:,} digits: loss [bold]{res.loss:.4f}[/], accuracy [bold]{100 * res.acc:.2f} %[/]", soft_wrap=True)
    per = Table(title="accuracy per digit", header_style="bold")
    for d in range(10):
        per.add_column(str(d), justify="right")
    per.add_row(*(f"{100 * a:.1f}" for a in res.per_class))
    c.print(per)
    conf = Table(title="confusion matrix (rows: true digit, columns: predicted)", header_style="bold")
    conf.add_column("true", justify="right")
    for d in range(10):
        conf.add_column(str(d), justify="right")
    for d, row in enumerate(res.confusion):
        conf.add_row(str(d), *(f"[bold]{v}[/]" if i == d else (str(v) if v else "·") for i, v in enumerate(row)))
    c.print(conf)

