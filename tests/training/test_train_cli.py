"""`train` and `evaluate` through the CLI, on a small in-memory dataset."""

import json

import pytest
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.training import runs
from mnist_scratch.training.fit import Stop

runner = CliRunner()
FAST = ["--nh", "32", "--bs", "64", "--lr", "0.05", "--momentum", "0.9", "--no-progress"]


pytestmark = pytest.mark.usefixtures("fake_dataset")  # tests/training/conftest.py: 1,500 small rows


def train(*args):
    return runner.invoke(app, ["train", *args])


def test_json_run_writes_config_metrics_and_checkpoint(tmp_path):
    out = tmp_path / "run"
    r = train(*FAST, "--epochs", "2", "--out", str(out), "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert set(doc) >= {"config", "epochs", "best_valid_acc", "checkpoint"}
    assert [e["epoch"] for e in doc["epochs"]] == [1, 2]
    assert set(doc["epochs"][0]) >= {"epoch", "train_loss", "valid_loss", "valid_acc", "seconds"}
    assert doc["config"]["nh"] == [32] and doc["best_valid_acc"] == max(e["valid_acc"] for e in doc["epochs"])
    assert json.loads((out / "config.json").read_text()) == doc["config"]
    assert [m["epoch"] for m in runs.read_metrics(out)] == [1, 2]
    assert doc["checkpoint"] == str(out / "model.safetensors") and (out / "model.safetensors").exists()


def test_table_and_summary(tmp_path):
    r = train(*FAST, "--epochs", "2", "--out", str(tmp_path / "run"))
    assert r.exit_code == 0, r.output
    assert "train loss" in r.stdout and "valid acc" in r.stdout
    assert "best valid accuracy" in r.stdout and str(tmp_path / "run") in r.stdout.replace("\n", "")


def test_config_file_and_flags(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('nh = [16, 8]\nepochs = 1\nlr = 0.01\nloss = "mse"\n')
    r = train("--config", str(cfg), "--lr", "0.02", "--out", str(tmp_path / "run"), "--json", "--no-progress")
    assert r.exit_code == 0, r.output
    c = json.loads(r.stdout)["config"]
    assert (c["nh"], c["loss"], c["lr"], c["epochs"]) == ([16, 8], "mse", 0.02, 1)


@pytest.mark.parametrize("args,needle", [
    (["--nh", "0"], "--nh"), (["--nh", "50,x"], "--nh"), (["--bs", "0"], "--bs"), (["--epochs", "0"], "--epochs"),
    (["--lr", "nan"], "--lr"), (["--lr", "-1"], "--lr"), (["--momentum", "1.5"], "--momentum"),
    (["--loss", "hinge"], "--loss"), (["--engine", "magic"], "--engine"), (["--lr-schedule", "x"], "--lr-schedule"),
    (["--config", "/nonexistent.toml"], "does not exist"),
])
def test_invalid_values_exit_2_with_one_line(tmp_path, args, needle):
    r = train(*args, "--out", str(tmp_path / "run"))
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.output
    assert not (tmp_path / "run").exists()


def test_unknown_config_key_exits_2(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("learning_rate = 0.1\n")
    r = train("--config", str(cfg))
    assert r.exit_code == 2 and "unknown key learning_rate" in r.stderr


def test_divergence_exits_1_and_saves_no_weights(tmp_path):
    out = tmp_path / "run"
    r = train("--nh", "32", "--loss", "mse", "--lr", "50", "--epochs", "1", "--out", str(out), "--no-progress")
    assert r.exit_code == 1
    assert "learning rate" in r.stderr and "step" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (out / "model.safetensors").exists()


def test_interrupt_then_resume_reproduces_the_uninterrupted_run(tmp_path, monkeypatch):
    full = json.loads(train(*FAST, "--epochs", "3", "--out", str(tmp_path / "a"), "--json").stdout)
    orig = Stop.should_stop
    monkeypatch.setattr(Stop, "should_stop", lambda self: len(runs.read_metrics(tmp_path / "b")) >= 2 or orig(self))
    r = train(*FAST, "--epochs", "3", "--out", str(tmp_path / "b"))
    assert r.exit_code == 130 and "interrupted" in r.stdout
    monkeypatch.setattr(Stop, "should_stop", orig)
    r = train("--resume", str(tmp_path / "b"), "--json", "--no-progress")
    assert r.exit_code == 0, r.output
    resumed = json.loads(r.stdout)["epochs"]
    assert [e["epoch"] for e in resumed] == [3]
    assert resumed[0]["train_loss"] == pytest.approx(full["epochs"][2]["train_loss"], abs=1e-7)
    assert resumed[0]["valid_acc"] == pytest.approx(full["epochs"][2]["valid_acc"], abs=1e-7)
    assert [m["epoch"] for m in runs.read_metrics(tmp_path / "b")] == [1, 2, 3]


def test_resume_of_a_finished_run_says_what_to_change(tmp_path):
    train(*FAST, "--epochs", "1", "--out", str(tmp_path / "a"))
    r = train("--resume", str(tmp_path / "a"))
    assert r.exit_code == 2 and "--epochs" in r.stderr


def test_evaluate(tmp_path, fake_dataset):
    train(*FAST, "--epochs", "2", "--out", str(tmp_path / "a"))
    r = runner.invoke(app, ["evaluate", str(tmp_path / "a"), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert sum(map(sum, doc["confusion"])) == len(fake_dataset.y_test) == doc["n"]
    assert doc["test_acc"] == pytest.approx(sum(doc["confusion"][i][i] for i in range(10)) / doc["n"])
    assert len(doc["per_class"]) == 10 and doc["test_loss"] > 0
    r = runner.invoke(app, ["evaluate", str(tmp_path / "a")])
    assert r.exit_code == 0 and "confusion matrix" in r.stdout


def test_evaluate_rejects_broken_checkpoints(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    r = runner.invoke(app, ["evaluate", str(tmp_path)])
    assert r.exit_code == 1 and r.stderr.startswith("error: ") and "Traceback" not in r.output
    r = runner.invoke(app, ["evaluate", str(tmp_path / "missing")])
    assert r.exit_code == 1 and "no checkpoint" in r.stderr


def test_paths_that_look_like_rich_markup_print_as_they_are(tmp_path):
    out = tmp_path / "a[/]b[red]"
    r = train(*FAST, "--epochs", "1", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert str(out) in r.stdout.replace("\n", "")
    r = runner.invoke(app, ["evaluate", str(out)])
    assert r.exit_code == 0, r.output
    assert str(out) in r.stdout.replace("\n", "")


def test_resume_into_an_unwritable_run_folder_is_one_line(tmp_path, monkeypatch):
    train(*FAST, "--epochs", "1", "--out", str(tmp_path / "a"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(runs, "atomic_write", refuse)
    r = train("--resume", str(tmp_path / "a"), "--epochs", "2")
    assert r.exit_code == 1 and r.stderr.startswith("error: cannot write the run folder")
    assert {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()} == before


def test_plot_needs_matplotlib_before_training(tmp_path, monkeypatch):
    import mnist_scratch.report.plots as plots
    from mnist_scratch.errors import UsageError

    def missing(*a, **k):
        raise UsageError("writing PNG files needs matplotlib: pip install 'mnist-scratch[plot]'")

    monkeypatch.setattr(plots, "_figure", missing)
    r = train(*FAST, "--epochs", "1", "--out", str(tmp_path / "a"), "--plot", str(tmp_path / "c.png"))
    assert r.exit_code == 2 and "matplotlib" in r.stderr
    assert not (tmp_path / "a").exists()


def test_interrupted_before_any_epoch_with_plot_still_exits_130(tmp_path, monkeypatch):
    monkeypatch.setattr(Stop, "should_stop", lambda self: True)
    r = train(*FAST, "--epochs", "2", "--out", str(tmp_path / "a"), "--plot", str(tmp_path / "c.png"), "--json")
    assert r.exit_code == 130, r.output
    assert json.loads(r.stdout)["checkpoint"] is None and not (tmp_path / "c.png").exists()
