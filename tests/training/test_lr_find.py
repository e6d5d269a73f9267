"""lr-find: the sweep, the rules, the model left untouched, the CLI; and on real MNIST, that the suggestion trains."""

import dataclasses
import json
import math

import pytest
import torch
from realdata import real_mnist
from trainfakes import small_data
from typer.testing import CliRunner

import mnist_scratch.data
from mnist_scratch.cli import app
from mnist_scratch.config import TrainConfig
from mnist_scratch.lesson.nn import make_model
from mnist_scratch.training import lr_find as lf
from mnist_scratch.training.engines import ENGINES
from mnist_scratch.training.fit import fit

CFG = TrainConfig(nh=(32,), bs=32, seed=1)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_the_model_is_never_changed():
    data = small_data(n_train=2000)
    model = make_model(CFG.nh, CFG.loss, generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in model.params()}
    r = lf.lr_find(model, data.x_train, data.y_train, CFG)
    assert len(r.lrs) > 10  # it did train (a copy)
    for k, v in model.params():
        assert torch.equal(v, before[k]), k


def test_lr_grows_exponentially_from_start_and_stops_when_the_loss_blows_up():
    data = small_data(n_train=6000)
    r = lf.sweep(CFG, data.x_train, data.y_train, steps=150)
    assert r.lrs[0] == pytest.approx(1e-6)
    ratios = [b / a for a, b in zip(r.lrs[:-1], r.lrs[1:], strict=True)]
    assert max(ratios) == pytest.approx(min(ratios)) and ratios[0] == pytest.approx((10 / 1e-6) ** (1 / 149))
    assert len(r.lrs) < 150 and ("blew up" in r.stopped or "became" in r.stopped)
    assert r.smoothed[-1] > lf.BLOWUP * min(r.smoothed) or "became" in r.stopped
    assert min(r.lrs) <= r.suggested_lr <= max(r.lrs) and r.suggested_lr == r.suggestions["valley"]


def test_never_more_than_one_epoch():
    data = small_data(n_train=640)  # 20 batches of 32
    r = lf.sweep(CFG, data.x_train, data.y_train, steps=500, end_lr=1e-3)
    assert len(r.lrs) == 20 and r.lrs[-1] == pytest.approx(1e-3)


def test_the_smoothed_curve_and_its_centres():
    data = small_data(n_train=3000)
    r = lf.sweep(CFG, data.x_train, data.y_train, steps=60)
    avg = 0.0
    for k, loss in enumerate(r.losses):  # the bias-corrected moving average, recomputed
        avg = lf.BETA * avg + (1 - lf.BETA) * loss
        assert r.smoothed[k] == pytest.approx(avg / (1 - lf.BETA ** (k + 1)))
    assert r.centres[0] == pytest.approx(r.lrs[0])
    assert all(c < lr for c, lr in zip(r.centres[1:], r.lrs[1:], strict=True))  # an average looks back


def test_rules_on_a_known_curve():
    centres = [10 ** (-6 + 6 * k / 99) for k in range(100)]  # 1e-6 .. 1
    # falls like a logistic step centred at k = 40, flat, then rises after k = 80
    smoothed = [2 - 1.5 / (1 + math.exp(-(k - 40) / 4)) + (0.05 * (k - 80) ** 2 / 10 if k > 80 else 0)
                for k in range(100)]
    assert lf.steepest(centres, smoothed) == 40
    assert lf.valley(centres, smoothed) == min(range(100), key=smoothed.__getitem__)
    assert 60 < lf.valley(centres, smoothed) <= 81


def test_bad_arguments_are_usage_errors():
    data = small_data(n_train=640)
    for kw in ({"start_lr": 0}, {"start_lr": 1.0, "end_lr": 0.1}, {"steps": 2}, {"rule": "magic"}):
        with pytest.raises(mnist_scratch.errors.UsageError):
            lf.sweep(CFG, data.x_train, data.y_train, **kw)
    with pytest.raises(mnist_scratch.errors.UsageError, match="needs at least 5"):
        lf.sweep(dataclasses.replace(CFG, bs=200), data.x_train, data.y_train)  # 4 batches


@pytest.fixture
def fake_dataset(monkeypatch):
    data = small_data(n_train=3000)
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: data)
    return data


def test_cli_json_and_png(tmp_path, fake_dataset):
    png = tmp_path / "lr.png"
    r = CliRunner().invoke(app, ["lr-find", "--nh", "32", "--bs", "32", "--json", "--png", str(png)])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["rule"] == "valley" and doc["suggested_lr"] == doc["suggestions"]["valley"]
    assert set(doc["suggestions"]) == {"valley", "steepest"} and doc["plot"] == str(png)
    assert doc["curve"][0]["lr"] == pytest.approx(1e-6) and doc["steps"] == len(doc["curve"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_table_names_the_rule_and_the_train_command(fake_dataset):
    r = CliRunner().invoke(app, ["lr-find", "--nh", "32", "--rule", "steepest"])
    assert r.exit_code == 0, r.output
    doc = json.loads(CliRunner().invoke(app, ["lr-find", "--nh", "32", "--rule", "steepest", "--json"]).stdout)
    lr = f"{doc['suggested_lr']:.2g}"
    assert f"suggested lr {lr} (steepest:" in r.stdout and f"mnist-scratch train --lr {lr}" in r.stdout


def test_cli_bad_values_exit_2(fake_dataset):
    for args in (["--start-lr", "-1"], ["--steps", "1"], ["--rule", "x"], ["--nh", "0"]):
        r = CliRunner().invoke(app, ["lr-find", *args])
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, (args, r.output)


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    return real_mnist(tmp_path_factory)


@pytest.mark.slow
def test_the_suggestion_trains_the_default_model_to_97_percent_in_3_epochs(mnist):
    cfg = TrainConfig()
    r = lf.sweep(cfg, mnist.x_train, mnist.y_train)
    run = dataclasses.replace(cfg, lr=r.suggested_lr, epochs=3)
    model = make_model(run.nh, run.loss, generator=torch.Generator().manual_seed(run.seed))
    res = fit(ENGINES[run.engine](model, run), mnist, run)
    best = max(s.valid_acc for s in res.epochs)
    assert best >= 0.97, (r.suggested_lr, [s.valid_acc for s in res.epochs])


def test_help_lists_the_rules_and_the_defaults():
    r = CliRunner().invoke(app, ["lr-find", "--help"], env={"COLUMNS": "240", "NO_COLOR": "1", "TERM": "dumb"})
    assert r.exit_code == 0 and "<valley|steepest>" in r.stdout and "[default: valley]" in r.stdout
    assert "[default: 1e-06]" in r.stdout and "--png" in r.stdout
