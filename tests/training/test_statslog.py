"""Statistics in the run folder (train --stats-every), `plot RUN`, `init --plot` and `train --tensorboard`."""

import json

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.training.runfiles import read_hist, read_losses, read_stats
from mnist_scratch.training.stats import BINS
from mnist_scratch.training.statslog import HIST, LOSSES, STATS

runner = CliRunner()
FAST = ["--nh", "16,8", "--bs", "100", "--no-progress"]  # 1500 rows: 15 batches an epoch


pytestmark = pytest.mark.usefixtures("fake_dataset")  # tests/training/conftest.py: 1,500 small rows


def train(*args):
    r = runner.invoke(app, ["train", *FAST, *args])
    assert r.exit_code == 0, r.output
    return r


def test_run_folder_holds_every_batch_and_every_kth_step(tmp_path):
    out = tmp_path / "run"
    train("--epochs", "2", "--stats-every", "4", "--out", str(out), "--json")
    batches = read_losses(out)
    assert [b["step"] for b in batches] == list(range(30))
    assert batches[15]["epoch"] == 1.0 and all(b["loss"] > 0 and b["lr"] > 0 for b in batches)
    rows = read_stats(out)
    assert [r["step"] for r in rows] == [0, 4, 8, 12, 16, 20, 24, 28]
    assert {"lin1.std", "lin2.dead_frac", "lin3.w.update_ratio", "lin3.b.grad_norm"} <= set(rows[0])
    assert "lin3.zero_frac" not in rows[0]  # the output layer has no ReLU
    hist = read_hist(out)
    assert hist["step"].tolist() == [r["step"] for r in rows]
    assert hist["lin1"].shape == (8, BINS) and hist["lin3"].shape == (8, BINS)
    assert hist["lin1"].sum(1).tolist() == [100 * 16] * 8  # every activation of the batch is counted
    for path in out.glob(HIST):  # plain tensors only: nothing that runs code on loading
        assert all(t.dtype in (torch.float32, torch.float64, torch.int64) for t in load_file(str(path)).values())


def test_no_stats_writes_none_and_a_killed_runs_records_still_read(tmp_path):
    out = tmp_path / "off"
    train("--epochs", "1", "--no-stats", "--out", str(out))
    assert not (out / STATS).exists() and not (out / LOSSES).exists()
    assert json.loads((out / "config.json").read_text())["stats_every"] == 0
    on = tmp_path / "on"
    train("--epochs", "1", "--stats-every", "5", "--out", str(on))
    with open(on / STATS, "a") as f:
        f.write('{"step": 99, "lin1.std": 0.')  # a line cut short by a kill
    (on / "hist-999999999.safetensors").write_bytes(b"\x10\x00")  # a chunk cut short
    assert [r["step"] for r in read_stats(on)] == [0, 5, 10]
    assert read_hist(on)["step"].tolist() == [0, 5, 10]


def test_resume_drops_what_the_unsaved_steps_recorded(tmp_path):
    out = tmp_path / "run"
    train("--epochs", "1", "--stats-every", "5", "--out", str(out))
    with open(out / LOSSES, "a") as f:  # as if a killed second epoch had recorded steps 15..17
        f.write(json.dumps({"step": 15, "steps_per_epoch": 15, "loss": [1.0, 1.0, 1.0], "lr": [0.1] * 3}) + "\n")
    train("--resume", str(out), "--epochs", "2")
    assert [b["step"] for b in read_losses(out)] == list(range(30))
    assert [r["step"] for r in read_stats(out)] == [0, 5, 10, 15, 20, 25]


def test_plot_json_and_png(tmp_path):
    out = tmp_path / "run"
    train("--epochs", "2", "--stats-every", "3", "--out", str(out))
    r = runner.invoke(app, ["plot", str(out), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert [e["epoch"] for e in d["epochs"]] == [1, 2] and len(d["batches"]["loss"]) == 30
    assert len(d["batches"]["smoothed"]) == 30 and d["batches"]["smoothed"][0] == d["batches"]["loss"][0]
    assert [l["name"] for l in d["layers"]] == ["lin1", "lin2", "lin3"]
    assert [l["relu"] for l in d["layers"]] == [True, True, False]
    assert len(d["layers"][0]["std"]) == 10 and len(d["layers"][0]["hist"]["counts"]) == 10
    pytest.importorskip("matplotlib")
    r = runner.invoke(app, ["plot", str(out), "--out", str(tmp_path / "s.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_rejects_a_folder_without_a_run(tmp_path):
    r = runner.invoke(app, ["plot", str(tmp_path)])
    assert r.exit_code == 2 and "holds no recorded epochs" in r.output


def test_init_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    r = runner.invoke(app, ["init", "--synthetic", "--depth", "3", "--nh", "8", "--plot", str(tmp_path / "i.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "i.png").read_bytes()[:4] == b"\x89PNG"


def test_tensorboard_events_read_back(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = tmp_path / "tb"
    train("--epochs", "2", "--stats-every", "2", "--out", str(tmp_path / "run"), "--tensorboard", str(tb))
    acc = EventAccumulator(str(tb), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"train/loss", "train/lr", "valid/loss", "valid/acc", "layers/lin1.std", "layers/lin2.dead_frac",
            "params/lin1.w.update_ratio_log10"} <= set(tags["scalars"])
    assert {"weights/lin1.w", "grads/lin1.w", "acts/lin1"} <= set(tags["histograms"])
    assert [e.step for e in acc.Scalars("train/loss")] == list(range(30))
    assert [e.step for e in acc.Scalars("valid/acc")] == [15, 30]
    runs_acc = [json.loads(line)["valid_acc"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e.value for e in acc.Scalars("valid/acc")] == pytest.approx(runs_acc)


def test_stats_flag_turns_recording_on_and_the_progress_line_is_compact(tmp_path):
    from mnist_scratch.report.train import layer_line
    from mnist_scratch.training.stats import LayerStats, ParamStats, StepStats

    cfg = tmp_path / "c.toml"
    cfg.write_text("stats_every = 0\nepochs = 1\n")
    r = runner.invoke(app, ["train", *FAST, "--config", str(cfg), "--stats", "--out", str(tmp_path / "run"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["config"]["stats_every"] == 100 and read_stats(tmp_path / "run")
    h = torch.zeros(BINS)
    s = StepStats(0, 0.1, 1.0, [LayerStats("lin1", 0.5, 0.81, 0.4, 0.02, h, (0, 10)),
                                LayerStats("lin2", 0.1, 3.2, None, None, h, (-20, 20))],
                  [ParamStats("lin1.w", 1.0, 100.0, -2.94), ParamStats("lin2.w", 1.0, 10.0, -3.1)])
    assert layer_line(s) == " | lin1 std 0.81 dead 2% upd -2.9 | lin2 std 3.20 upd -3.1"


def test_a_diverging_run_with_statistics_fails_with_the_loss_message(tmp_path):
    pytest.importorskip("tensorboard")
    r = runner.invoke(app, ["train", *FAST, "--epochs", "1", "--lr", "1e6", "--momentum", "0", "--stats-every", "1",
                            "--out", str(tmp_path / "run"), "--tensorboard", str(tmp_path / "tb")])
    assert r.exit_code == 1 and "loss became" in r.output and "unexpected" not in r.output
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_special_files_in_a_run_folder_are_refused_never_waited_on(tmp_path):
    """A FIFO named like the stats log is refused at once (a plain open would block forever); odd hist chunks
    are skipped, not read."""
    import os

    import pytest

    from mnist_scratch.errors import MnistScratchError
    os.mkfifo(tmp_path / "stats.jsonl")
    with pytest.raises(MnistScratchError, match="not a regular file"):
        read_stats(tmp_path)
    os.mkfifo(tmp_path / "hist-000001.safetensors")
    assert read_hist(tmp_path) == {}


def test_overlong_and_deeply_nested_lines_are_skipped(tmp_path):
    from mnist_scratch.training.runfiles import MAX_LINE

    good = '{"step": 3, "lr": 1}\n'
    (tmp_path / "stats.jsonl").write_text("x" * (3 * MAX_LINE) + "\n" + "[" * 100_000 + "\n" + good)
    assert read_stats(tmp_path) == [{"step": 3, "lr": 1}]
