"""`train --rules FILE`: the learner's own rules train the model, checked first, in step with the reference engine."""

import json

import pytest
import torch
from trainfakes import small_data
from typer.testing import CliRunner

import mnist_scratch.data
from mnist_scratch.cli import app
from mnist_scratch.config import TrainConfig
from mnist_scratch.grader.exercise import render
from mnist_scratch.lesson.nn import make_model
from mnist_scratch.training.engines import ReferenceEngine
from mnist_scratch.training.fit import Callback, fit
from mnist_scratch.training.rules import RulesEngine, choose

FAST = ["--nh", "32", "--bs", "64", "--epochs", "2", "--no-progress", "--json"]


@pytest.fixture(autouse=True)
def fake_dataset(monkeypatch):
    data = small_data(n_train=1500)
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: data)
    return data


@pytest.fixture
def classes_file(tmp_path):
    p = tmp_path / "mine.py"
    p.write_text(render("py", solutions=True))  # every part: the classes are used
    return p


@pytest.fixture
def functions_file(tmp_path):
    p = tmp_path / "funcs.py"
    p.write_text(render("py", ("forward", "backward", "ce"), solutions=True))  # no classes: the functions are used
    return p


def train(*args):
    return CliRunner().invoke(app, ["train", *args], env={"COLUMNS": "250"})


def epochs(res):
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)["epochs"]


@pytest.mark.parametrize("which", ["classes_file", "functions_file"])
@pytest.mark.parametrize("loss,lr", [("ce", "0.1"), ("mse", "0.01")])
def test_the_solutions_reach_the_reference_engines_accuracy(tmp_path, request, which, loss, lr):
    rules = request.getfixturevalue(which)
    mine = epochs(train(*FAST, "--loss", loss, "--lr", lr, "--rules", str(rules), "--out", str(tmp_path / "a")))
    ref = epochs(train(*FAST, "--loss", loss, "--lr", lr, "--engine", "reference", "--out", str(tmp_path / "b")))
    assert [e["valid_acc"] for e in mine] == [e["valid_acc"] for e in ref]
    for a, b in zip(mine, ref, strict=True):  # float32 round-off apart at most
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["valid_loss"] == pytest.approx(b["valid_loss"], rel=1e-5)
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert cfg["engine"] == "reference"  # a resumed run continues with the project's rules: the same math


def test_per_step_losses_follow_the_reference_to_float32_round_off(classes_file, functions_file, fake_dataset):
    cfg = TrainConfig(nh=(32,), loss="ce", epochs=1, bs=64, engine="reference")

    class Losses(Callback):
        def __init__(self):
            self.values = []

        def batch_end(self, i, loss):
            self.values.append(loss)

    runs = {}
    for name, make in (("reference", lambda m: ReferenceEngine(m, cfg)),
                       ("classes", lambda m: RulesEngine(m, cfg, choose(classes_file, "ce", seconds=10))),
                       ("functions", lambda m: RulesEngine(m, cfg, choose(functions_file, "ce", seconds=10)))):
        cb = Losses()
        fit(make(make_model(cfg.nh, "ce", generator=torch.Generator().manual_seed(0))), fake_dataset, cfg, [cb])
        runs[name] = torch.tensor(cb.values)
    for name in ("classes", "functions"):
        rel = ((runs[name] - runs["reference"]).abs() / runs["reference"]).max().item()
        assert rel < 1e-5, (name, rel)  # same math, rounded in another order at most


def test_the_engine_keeps_the_engine_contract(classes_file):
    cfg = TrainConfig(nh=(8,), loss="ce", momentum=0.9)
    g = torch.Generator().manual_seed(0)
    e = RulesEngine(make_model(cfg.nh, "ce", generator=g, n_in=20), cfg, choose(classes_file, "ce", seconds=10))
    x, y = torch.randn(16, 20, generator=g), torch.randint(0, 10, (16,), generator=g)
    loss = e.step(x, y, 0.1)
    assert loss.shape == () and torch.isfinite(loss)
    state = {k: v.clone() for k, v in e.state().items()}
    assert set(state) == {"lin1.w", "lin1.b", "lin2.w", "lin2.b"} | {f"momentum.{k}" for k in
                                                                     ("lin1.w", "lin1.b", "lin2.w", "lin2.b")}
    e.step(x, y, 0.1)
    e.load_state(state)
    assert all(torch.equal(e.state()[k], v) for k, v in state.items())
    assert e.predict(x).shape == (16, 10)


def test_a_wrong_rule_is_refused_with_the_check_table(tmp_path):
    p = tmp_path / "mine.py"
    p.write_text(render("py", solutions=True).replace("        self.b.g = out.g.sum(0)\n",
                                                       "        self.b.g = out.g.mean(0)\n"))
    res = train(*FAST[:-1], "--rules", str(p), "--out", str(tmp_path / "run"))
    assert res.exit_code == 1
    assert "Lin" in res.stdout and "bias gradient is a mean over the batch" in res.stdout
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written
    res = train(*FAST, "--rules", str(p), "--out", str(tmp_path / "run"))
    assert res.exit_code == 1 and json.loads(res.stdout)["ok"] is False


def test_classes_not_written_fall_back_to_the_functions(functions_file):
    assert choose(functions_file, "ce", seconds=10).style == "functions"


def test_ce_without_its_rules_is_a_usage_error(tmp_path):
    p = tmp_path / "lesson_only.py"
    p.write_text(render("py", ("forward", "backward"), solutions=True))
    res = train(*FAST, "--rules", str(p))
    assert res.exit_code == 2 and "cross_entropy_grad" in res.stderr and "--config lesson" in res.stderr
    assert epochs(train(*FAST, "--loss", "mse", "--lr", "0.01", "--rules", str(p), "--out", str(tmp_path / "r")))


def test_an_unfilled_exercise_is_a_usage_error(tmp_path):
    p = tmp_path / "lesson.py"
    p.write_text(render("py"))
    res = train(*FAST, "--rules", str(p))
    assert res.exit_code == 2 and "fill in" in res.stderr


@pytest.mark.parametrize("extra,needle", [(["--engine", "manual"], "drop --engine"),
                                          (["--resume", "nowhere"], "drop --engine and --resume")])
def test_rules_conflicts(classes_file, extra, needle):
    res = train(*FAST, "--rules", str(classes_file), *extra)
    assert res.exit_code == 2 and needle in res.stderr


def test_help_mentions_rules():
    res = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert "--rules" in res.stdout and "runs its code as you" in res.stdout
