"""The NaN sentinel: the first op that turned non-finite is named, forward, backward, update or input."""

import dataclasses
import re

import pytest
import torch
from trainfakes import small_data
from typer.testing import CliRunner

import mnist_scratch.data
from mnist_scratch.cli import app
from mnist_scratch.config import TrainConfig
from mnist_scratch.errors import TrainingError
from mnist_scratch.lesson.nn import make_model
from mnist_scratch.training import sentinel
from mnist_scratch.training.engines import ENGINES
from mnist_scratch.training.fit import epoch_order, fit

CFG = TrainConfig(nh=(32,), epochs=1, bs=64, seed=3)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _state(nh=(50,), loss="ce", seed=0) -> dict[str, torch.Tensor]:
    model = make_model(nh, loss, generator=torch.Generator().manual_seed(seed))
    return {k: v.clone() for k, v in model.params()}


def _fit(data, cfg, engine="manual"):
    model = make_model(cfg.nh, cfg.loss, generator=torch.Generator().manual_seed(cfg.seed))
    return fit(ENGINES[engine](model, cfg), data, cfg)


def test_forward_overflow_names_the_layer_and_its_largest_weight():
    state = _state()
    state["lin2.w"][:, 3] = 1e37  # relu1's outputs are O(1) and positive somewhere: lin2's sum overflows
    x, y = torch.randn(8, 784, generator=torch.Generator().manual_seed(1)), torch.arange(8)
    f = sentinel.replay_step(state, x, y, 0.1, TrainConfig(), step=7)
    assert (f.op, f.phase, f.value, f.step) == ("lin2's output", "forward", "inf", 7)
    assert "the largest weight in lin2.w was 1e+37" in f.text()
    assert f.text().startswith("lin2's output overflowed to inf in the forward pass at step 7")


def test_backward_overflow_with_a_finite_forward_names_the_input_gradient():
    # one row, relu1 out ~8e-4 everywhere, lin2 columns +-3e38: logits +-1.2e37 (finite), loss 2.4e37 (finite),
    # softmax - onehot = (+1, -1) on those columns, so lin2's input gradient is 3e38 + 3e38 = inf
    state = {"lin1.w": torch.full((784, 50), 1e-6), "lin1.b": torch.zeros(50), "lin2.w": torch.zeros(50, 10),
             "lin2.b": torch.zeros(10)}
    state["lin2.w"][:, 0], state["lin2.w"][:, 1] = 3e38, -3e38
    f = sentinel.replay_step(state, torch.ones(1, 784), torch.tensor([1]), 0.1, TrainConfig(momentum=0), step=2)
    assert (f.op, f.phase, f.value) == ("lin2's input gradient", "backward", "inf"), f.text()
    assert "in the backward pass at step 2" in f.text()


def test_update_overflow_names_the_parameter_and_lr():
    x, y = 10 * torch.randn(8, 784, generator=torch.Generator().manual_seed(1)), torch.arange(8)
    f = sentinel.replay_step(_state(), x, y, 3e38, TrainConfig(momentum=0, weight_decay=0), step=5)
    assert f.phase == "update" and f.op in ("lin1.w", "lin1.b", "lin2.w", "lin2.b"), f.text()
    head = f"{f.op} overflowed to inf in the SGD update at step 5; lr 3e+38; the largest |{f.op}.g|"
    assert f.text().startswith(head), f.text()


def test_a_finite_step_finds_nothing():
    x, y = torch.randn(8, 784, generator=torch.Generator().manual_seed(1)), torch.arange(8)
    assert sentinel.replay_step(_state(), x, y, 0.01, TrainConfig(), step=1) is None


@pytest.mark.parametrize("engine", ["manual", "reference", "autograd"])
def test_a_diverging_run_names_the_first_bad_op_at_or_before_the_failing_step(engine):
    cfg = dataclasses.replace(CFG, lr=50.0, lr_schedule="constant")
    with pytest.raises(TrainingError) as e:
        _fit(small_data(n_train=3000), cfg, engine)
    msg = str(e.value)
    failed = int(re.search(r"\(step (\d+)\)", msg).group(1))
    named = re.search(r": (.+?) (overflowed to inf|became nan) (in the \w+ pass|in the SGD update) at step (\d+)", msg)
    assert named, msg  # the replay found the op (not "stayed finite")
    assert int(named.group(4)) <= failed and "try a smaller --lr" in msg and "\n" not in msg


def test_an_engine_built_by_a_factory_is_replayed_by_the_reference_rules():
    class Wrapped:  # like train --rules' engine: more than (model, cfg) to build, so the replay cannot rebuild it
        def __init__(self, model, cfg, extra):
            self.inner = ENGINES["reference"](model, cfg)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    cfg = dataclasses.replace(CFG, lr=50.0, lr_schedule="constant")
    model = make_model(cfg.nh, cfg.loss, generator=torch.Generator().manual_seed(cfg.seed))
    with pytest.raises(TrainingError, match=r"(pass|SGD update) at step \d+; the largest"):
        fit(Wrapped(model, cfg, object()), small_data(n_train=3000), cfg)


def test_nan_in_the_inputs_is_named_at_the_step_of_its_batch():
    data = small_data(n_train=1500)
    row = 700
    data.x_train[row, 5] = float("nan")
    step = int((epoch_order(CFG.seed, 0, 1500, "cpu") == row).nonzero()) // CFG.bs + 1
    with pytest.raises(TrainingError) as e:
        _fit(data, CFG)
    assert f"(step {step})" in str(e.value)
    assert f"the input batch at step {step} already held nan: 1 of its 64 rows" in str(e.value)
    assert "check the data" in str(e.value) and "--lr" not in str(e.value)


def test_the_replay_starts_from_the_newest_finite_copy():
    class Fake:
        def __init__(self):
            self.w = torch.zeros(3)

        def state(self):
            return {"lin1.w": self.w}  # a live view, as ReferenceEngine gives: the keeper must copy it

    eng = Fake()
    k = sentinel.Keeper(eng, every=10)
    for i in range(25):
        k.maybe_keep(0, i)
        eng.w += 1
    assert [at for at, _ in k.kept] == [(0, 10), (0, 20)]
    assert k.start((0, 24))[1]["lin1.w"].tolist() == [20.0] * 3
    assert k.start((0, 15))[0] == (0, 10)  # a copy taken after the failure is no start
    k.kept[-1][1]["lin1.w"][0] = float("inf")
    assert k.start((0, 24))[0] == (0, 10)


def test_cli_divergence_is_one_line_exit_1_and_saves_nothing(tmp_path, monkeypatch):
    data = small_data(n_train=1500)
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: data)
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", "--nh", "32", "--lr", "50", "--lr-schedule", "constant", "--out", str(out),
                                 "--no-progress"])
    assert r.exit_code == 1, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(r"(pass|SGD update) at step \d+; the largest", lines[0]), lines
    assert not (out / "model.safetensors").exists()
