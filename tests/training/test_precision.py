"""--matmul-precision: fit trains under the run's float32 matmul precision and gives the caller's back."""

import json

import pytest
import torch
from trainfakes import small_data
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.config import TrainConfig, merge
from mnist_scratch.errors import ConfigError, TrainingError
from mnist_scratch.lesson.nn import make_model
from mnist_scratch.training.fit import Callback, fit
from mnist_scratch.training.fused import FusedEngine
from mnist_scratch.training.lr_find import sweep
from mnist_scratch.training.precision import matmul_precision


class Seen(Callback):
    """Records torch's float32 matmul precision at every batch."""

    def __init__(self):
        self.seen = set()

    def batch_end(self, i, loss):
        self.seen.add(torch.get_float32_matmul_precision())


def engine(cfg):
    return FusedEngine(make_model(cfg.nh, cfg.loss, generator=torch.Generator().manual_seed(cfg.seed)), cfg)


@pytest.mark.parametrize("value", ["medium", "high"])
def test_fit_trains_under_the_runs_precision_and_restores_the_callers(value):
    assert torch.get_float32_matmul_precision() == "highest"
    cfg = TrainConfig(nh=(16,), epochs=1, bs=100, matmul_precision=value)
    cb = Seen()
    fit(engine(cfg), small_data(n_train=300), cfg, [cb])
    assert cb.seen == {value}
    assert torch.get_float32_matmul_precision() == "highest"


def test_the_callers_precision_comes_back_after_an_error_too():
    with pytest.raises(RuntimeError, match="boom"), matmul_precision("medium"):
        assert torch.get_float32_matmul_precision() == "medium"
        raise RuntimeError("boom")
    assert torch.get_float32_matmul_precision() == "highest"
    cfg = TrainConfig(nh=(16,), epochs=1, bs=100, lr=1e30, lr_schedule="constant", matmul_precision="medium")
    with pytest.raises(TrainingError):  # diverges: fit raises from inside the block
        fit(engine(cfg), small_data(n_train=300), cfg)
    assert torch.get_float32_matmul_precision() == "highest"


def test_medium_trains_to_the_same_model_within_bfloat16_round_off():
    """On a CPU with bfloat16 GEMMs, medium takes another path; it must stay a float32-quality step."""
    data = small_data(n_train=600)
    runs = {}
    for value in ("highest", "medium"):
        cfg = TrainConfig(nh=(32,), epochs=2, bs=50, lr=0.05, matmul_precision=value)
        e = engine(cfg)
        res = fit(e, data, cfg)
        runs[value] = (res.epochs[-1].train_loss, e.state()["lin1.w"])
    (l32, w32), (l16, w16) = runs["highest"], runs["medium"]
    assert l16 == pytest.approx(l32, rel=2e-2)
    assert ((w16 - w32).norm() / w32.norm()).item() < 2e-2


def test_lr_find_sweeps_under_the_configs_precision():
    data = small_data(n_train=600)
    cfg = TrainConfig(nh=(16,), bs=50, matmul_precision="medium")
    seen = []
    original = FusedEngine.step

    def step(self, xb, yb, lr):
        seen.append(torch.get_float32_matmul_precision())
        return original(self, xb, yb, lr)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FusedEngine, "step", step)
        sweep(cfg, data.x_train, data.y_train, steps=5)
    assert seen and set(seen) == {"medium"}
    assert torch.get_float32_matmul_precision() == "highest"


@pytest.mark.parametrize("bad", ["low", "bf16", "", 1, None])
def test_other_values_are_rejected(bad):
    with pytest.raises(ConfigError, match="^--matmul-precision must be one of highest, high, medium"):
        merge(TrainConfig(), {"matmul_precision": bad})


def test_cli_flag_is_saved_with_the_run(tmp_path, fake_dataset):
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", "--nh", "16", "--epochs", "1", "--matmul-precision", "medium",
                                 "--no-progress", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "config.json").read_text())["matmul_precision"] == "medium"
    r = CliRunner().invoke(app, ["train", "--matmul-precision", "low", "--out", str(tmp_path / "b")])
    assert r.exit_code == 2 and "--matmul-precision" in r.output
