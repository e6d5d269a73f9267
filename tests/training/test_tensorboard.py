"""`train --tensorboard`: read back with TensorBoard's own loaders, the config as HPARAMS with the final metrics,
histograms with several slices on a short run, and the per-epoch curves."""

import json

import pytest
from typer.testing import CliRunner

from mnist_scratch.cli import app

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing import event_accumulator as ea  # noqa: E402
from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer  # noqa: E402
from tensorboard.plugins.hparams import metadata as hp  # noqa: E402

pytestmark = pytest.mark.usefixtures("fake_dataset")  # tests/training/conftest.py: 1,500 small rows, 24 steps/epoch
FAST = ["--nh", "32,16", "--bs", "64", "--lr", "0.05", "--no-progress", "--stats-every", "5"]


def train(tmp_path, *args):
    r = CliRunner().invoke(app, ["train", *FAST, "--out", str(tmp_path / "run"), "--tensorboard",
                                 str(tmp_path / "tb"), "--json", *args])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def accumulator(path):
    acc = ea.EventAccumulator(str(path), size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0})
    acc.Reload()
    return acc


def test_hparams_hold_the_config_and_the_final_metrics(tmp_path):
    doc = train(tmp_path, "--epochs", "2")
    acc = accumulator(tmp_path / "tb")
    content = acc.PluginTagToContent(hp.PLUGIN_NAME)
    exp = hp.parse_experiment_plugin_data(content[hp.EXPERIMENT_TAG])
    start = hp.parse_session_start_info_plugin_data(content[hp.SESSION_START_INFO_TAG])
    end = hp.parse_session_end_info_plugin_data(content[hp.SESSION_END_INFO_TAG])
    values = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    cfg = doc["config"]
    assert values["lr"] == pytest.approx(cfg["lr"]) and values["nh"] == "32,16" and values["bs"] == 64
    assert values["loss"] == "ce" and values["epochs"] == 2
    assert {m.name.tag for m in exp.metric_infos} == {"valid/acc", "valid/loss", "epoch/train_loss",
                                                       "best/valid_acc"}
    assert end.status == 1  # STATUS_SUCCESS: the run finished
    # each metric's value in HPARAMS is its scalar's last point: the run's final figures
    last = doc["epochs"][-1]
    assert acc.Scalars("valid/acc")[-1].value == pytest.approx(last["valid_acc"])
    assert acc.Scalars("valid/loss")[-1].value == pytest.approx(last["valid_loss"])
    assert acc.Scalars("best/valid_acc")[-1].value == pytest.approx(doc["best_valid_acc"])


def test_histograms_have_several_slices_on_a_short_run_and_curves_one_point_per_epoch(tmp_path):
    train(tmp_path, "--epochs", "1")  # 24 steps: stats steps 0, 5, ..., 20
    acc = accumulator(tmp_path / "tb")
    for tag in ("weights/lin1.w", "grads/lin3.w", "acts/lin2"):
        steps = [h.step for h in acc.Histograms(tag)]
        assert len(steps) >= 3 and steps == sorted(set(steps)), (tag, steps)
    assert [e.step for e in acc.Scalars("valid/acc")] == [24]
    assert [e.step for e in acc.Scalars("epoch/train_loss")] == [24]
    mux = EventMultiplexer({"run": str(tmp_path / "tb")})  # as TensorBoard's own server loads it
    mux.Reload()
    assert hp.PLUGIN_NAME in mux.ActivePlugins()
