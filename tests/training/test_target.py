"""train --target-acc: exit 3 after the table when the best valid accuracy stays below the target."""

import json

import pytest
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.errors import TargetMissed, UsageError
from mnist_scratch.training import runs, target

FAST = ["--nh", "32", "--bs", "64", "--epochs", "2", "--no-progress"]


pytestmark = pytest.mark.usefixtures("fake_dataset")  # tests/training/conftest.py: 1,500 small rows


def train(*args):
    return CliRunner().invoke(app, ["train", *args])


def test_gate_judges_the_best_accuracy_it_is_given():
    assert target.gate(0.98, 0.975).met and target.gate(0.98, 0.98).met
    g = target.gate(0.98, 0.985)
    assert (g.met, g.best) == (False, 0.98)
    with pytest.raises(TargetMissed, match="98.00 %, below --target-acc 0.985"):
        target.enforce(g)
    assert not target.gate(None, 0.5).met
    target.enforce(None)  # no target: nothing to enforce


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5, 97.5, float("nan")])
def test_target_must_be_a_fraction(bad):
    with pytest.raises(UsageError, match="--target-acc must be a fraction"):
        target.check_target(bad)


def test_missed_target_prints_the_table_then_exits_3(tmp_path):
    out = tmp_path / "run"
    r = train(*FAST, "--out", str(out), "--target-acc", "1.0")
    assert r.exit_code == 3, r.output
    assert "valid acc" in r.stdout and "best valid accuracy" in r.stdout and "missed (exit 3)" in r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: target missed: the best valid accuracy was")
    assert (out / "model.safetensors").exists() and len(runs.read_metrics(out)) == 2  # the run itself is kept


def test_met_target_exits_0_and_json_says_so(tmp_path):
    r = train(*FAST, "--out", str(tmp_path / "a"), "--json")
    doc = json.loads(r.stdout)
    assert (doc["target_acc"], doc["target_met"]) == (None, None)
    below = doc["best_valid_acc"] - 0.01
    r = train(*FAST, "--out", str(tmp_path / "b"), "--json", "--target-acc", f"{below}")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert (doc["target_acc"], doc["target_met"]) == (pytest.approx(below), True)
    r = train(*FAST, "--out", str(tmp_path / "c"), "--json", "--target-acc", "1")
    assert r.exit_code == 3 and json.loads(r.stdout)["target_met"] is False


def test_a_percentage_is_refused_before_training(tmp_path):
    r = train(*FAST, "--out", str(tmp_path / "a"), "--target-acc", "97.5")
    assert r.exit_code == 2 and "0.975 for 97.5 %" in r.stderr
    assert not (tmp_path / "a").exists()


def test_an_edited_metrics_log_does_not_meet_the_target_on_resume(tmp_path):
    out = tmp_path / "run"
    assert train(*FAST, "--out", str(out)).exit_code == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        r["valid_acc"] = 1.0  # claims 100 %
    (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = train("--resume", str(out), "--epochs", "3", "--no-progress", "--target-acc", "1.0")
    assert r.exit_code == 3, r.output  # judged by the sealed checkpoint's best, not the log
    assert "error: target missed: the best valid accuracy was" in r.stderr


def test_the_gate_of_a_resumed_run_counts_its_earlier_epochs_from_the_checkpoint(tmp_path):
    from mnist_scratch.training import checkpoint

    out = tmp_path / "run"
    doc = json.loads(train(*FAST, "--out", str(out), "--json").stdout)
    assert checkpoint.load(out).best == doc["best_valid_acc"]
    r = train("--resume", str(out), "--epochs", "3", "--json", "--target-acc", f"{doc['best_valid_acc']}")
    assert r.exit_code == 0, r.output
