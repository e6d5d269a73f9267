"""The notebook route: load_mnist() gives the lesson's tensors, train(rules=...) trains on the learner's rules, and
both do nothing while `check` loads the file."""

import math

import pytest
import torch

import mnist_scratch
from mnist_scratch import notebook
from mnist_scratch.grader.load import load_cells
from mnist_scratch.grader.mutants import solutions_namespace
from mnist_scratch.grader.solutions import DATA_CELL, PREAMBLE, TRAIN_CELL
from tests.support.trainfakes import small_data


def test_both_are_importable_from_the_package_lazily():
    assert mnist_scratch.load_mnist is notebook.load_mnist and mnist_scratch.train is notebook.train
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mnist_scratch.nope  # noqa: B018


def test_while_check_loads_the_file_the_data_and_training_cells_do_nothing(monkeypatch):
    """Grading never downloads or trains: the exercise's own cells, run by the loader, touch neither."""
    monkeypatch.setattr("mnist_scratch.data.load_dataset", lambda *a, **k: pytest.fail("loaded data"))
    got = load_cells([("l.py", PREAMBLE + "\n", 1), ("l.py", DATA_CELL + "\n", 10), ("l.py", TRAIN_CELL + "\n", 30)],
                     "l.py", seconds=10)
    ns = got.namespace
    assert got.notes == [] and ns["history"] == [] and tuple(ns["x_train"].shape) == (0, 784)
    assert tuple(ns["w1"].shape) == (784, 50) and tuple(ns["w2"].shape) == (50, 1)  # forward_and_backward's globals


def test_load_mnist_gives_the_lessons_tensors_from_the_cache(monkeypatch):
    """Rows back on the pickle's scale (byte / 256, exactly), labels as int64, the 50k/10k split."""
    d = small_data(n_train=20, n_valid=5)
    raw = torch.randint(0, 256, (25, 784)).float() / 256
    d.x_train, d.x_valid = (raw[:20] - d.mean) / d.std, (raw[20:] - d.mean) / d.std
    monkeypatch.setattr("mnist_scratch.data.load_dataset", lambda *a, **k: d)
    x_train, y_train, x_valid, y_valid = notebook.load_mnist(progress=False)
    assert torch.equal(x_train, raw[:20]) and torch.equal(x_valid, raw[20:])
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.long and torch.equal(y_valid, d.y_valid)


def test_train_on_the_learners_rules_returns_the_history(monkeypatch, tmp_path, capsys):
    """The reference answers as a notebook's globals: the MSE lesson model trains, the table is shown."""
    monkeypatch.setattr("mnist_scratch.data.load_dataset", lambda *a, **k: small_data())
    ns = {k: v for k, v in solutions_namespace().items() if k not in ("log_softmax", "nll", "cross_entropy_grad")}
    history = notebook.train(rules=ns, epochs=2, out=tmp_path / "run")
    out = capsys.readouterr().out
    assert [h["epoch"] for h in history] == [1, 2] and all(math.isfinite(h["train_loss"]) for h in history)
    assert "your rules pass" in out and "mse" in (tmp_path / "run" / "config.json").read_text()


def test_train_picks_cross_entropy_when_its_rules_exist(monkeypatch, tmp_path):
    monkeypatch.setattr("mnist_scratch.data.load_dataset", lambda *a, **k: small_data())
    history = notebook.train(rules=solutions_namespace(), epochs=1, out=tmp_path / "run")
    assert len(history) == 1 and '"ce"' in (tmp_path / "run" / "config.json").read_text()


def test_train_on_a_wrong_rule_shows_the_check_and_trains_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("mnist_scratch.data.load_dataset", lambda *a, **k: pytest.fail("trained"))
    ns = solutions_namespace()
    exec("def relu_grad(inp, out):\n    inp.g = out.g\n", ns)  # no mask
    for n in ("Lin", "log_softmax"):
        ns.pop(n)
    assert notebook.train(rules=ns, epochs=1, out=tmp_path / "run") is None
    assert "relu_grad" in capsys.readouterr().out and not (tmp_path / "run").exists()
