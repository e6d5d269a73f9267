"""`bench --speedrun`: train then evaluate per seed and precision, in children; the table and JSON."""

import json

from typer.testing import CliRunner

from mnist_scratch.bench import speedrun
from mnist_scratch.cli import app


def test_speed_runs_train_then_evaluate_each_seed_and_precision(monkeypatch):
    calls = []

    def fake_cli(args, timeout):
        calls.append(args)
        if args[0] == "train":
            return {"config": {"threads": 1}, "epochs": [{"seconds": 0.25}, {"seconds": 0.5}]}
        return {"test_acc": 0.9812}

    monkeypatch.setattr(speedrun, "_cli", fake_cli)
    runs = speedrun.speed_runs(seeds=(1, 2), precisions=("medium", "highest"))
    assert [(r.seed, r.precision) for r in runs] == [(1, "medium"), (1, "highest"), (2, "medium"), (2, "highest")]
    assert all(r.train_seconds == 0.75 and r.test_acc == 0.9812 and r.threads == 1 for r in runs)
    trains = [c for c in calls if c[0] == "train"]
    assert all(c[c.index("--config") + 1] == "speedrun" for c in trains)
    evals = [c for c in calls if c[0] == "evaluate"]
    assert [e[1] for e in evals] == [t[t.index("--out") + 1] for t in trains]  # each run's own folder


def test_bench_speedrun_prints_the_table(tmp_path, monkeypatch):
    monkeypatch.setattr(speedrun, "_cli", lambda args, timeout: {"config": {"threads": 1}, "epochs": [{"seconds": 0.4}]}
                        if args[0] == "train" else {"test_acc": 0.979})
    quick = ["bench", "--quick", "--no-extras", "--repeats", "1", "--steps", "2", "--speedrun",
             "--data-dir", str(tmp_path)]
    r = CliRunner().invoke(app, quick, env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "speed run" in r.stdout and "97.90 %" in r.stdout and "not met" in r.stdout
    doc = json.loads(CliRunner().invoke(app, [*quick, "--json"]).stdout)
    assert len(doc["speed_runs"]) == 6 and doc["speed_runs"][0]["test_acc"] == 0.979


def test_a_failing_child_is_one_error(tmp_path):
    import pytest

    from mnist_scratch.errors import MnistScratchError

    with pytest.raises(MnistScratchError, match="exited with 2"):
        speedrun._cli(["train", "--nh", "0", "--out", str(tmp_path / "r")], timeout=120)
