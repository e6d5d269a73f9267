"""gradcheck names the first wrong tensor in backward order and tells float32 round-off from a real bug."""

import json

import pytest
import torch
from typer.testing import CliRunner

from mnist_scratch import gradcheck as gc
from mnist_scratch.lesson.nn import Mse, Relu, make_model


def batch(bs=16, seed=0, n_in=40):
    return gc.synthetic_batch(bs, generator=torch.Generator().manual_seed(seed), n_in=n_in)


def broken_relu(self, out, inp, inp_g=True):
    inp.g = out.g.clone()  # lets negatives through


def mse_sign_flipped(self, out, inp, targ, inp_g=True):
    inp.g = 2.0 * (targ.to(inp.dtype)[:, None] - inp) / inp.shape[0]


def test_backward_order_of_a_two_hidden_layer_model():
    model = make_model((30, 20), "ce", generator=torch.Generator().manual_seed(0), n_in=40)
    assert gc.backward_order(model) == ["lin3.out", "lin3.w", "lin3.b", "relu2.out", "lin2.out", "lin2.w", "lin2.b",
                                        "relu1.out", "lin1.out", "lin1.w", "lin1.b", "x"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_broken_relu_is_named_by_the_first_wrong_tensor(monkeypatch, dtype):
    monkeypatch.setattr(Relu, "bwd", broken_relu)
    x, targ = batch()
    check = gc.gradcheck(x, targ, nh=(30, 20), loss="ce", seed=0, dtype=dtype)
    assert not check.ok
    assert (check.first_wrong, check.right_before) == ("lin2.out", "relu2.out")  # relu2's input; its output is right


def test_a_wrong_loss_gradient_is_first_of_all(monkeypatch):
    monkeypatch.setattr(Mse, "bwd", mse_sign_flipped)
    x, targ = batch()
    check = gc.gradcheck(x, targ, nh=(20,), loss="mse", seed=0, dtype=torch.float32)
    assert (check.first_wrong, check.right_before) == ("lin2.out", "")
    assert all("wrong in float64 too" in r.note for r in check.rows if not r.ok)


def test_correct_rules_have_no_first_wrong():
    x, targ = batch()
    check = gc.gradcheck(x, targ, nh=(20,), loss="ce", seed=0)
    assert check.ok and check.first_wrong == "" and check.right_before == ""


def test_float32_round_off_is_told_apart_by_rerunning_in_float64(monkeypatch):
    # tolerances far below float32's resolution: correct rules then "fail" in float32 by round-off alone
    monkeypatch.setitem(gc.TOLERANCES, torch.float32, (1e-12, 1e-14))
    x, targ = batch(bs=13)
    check = gc.gradcheck(x, targ, nh=(20,), loss="ce", seed=1, dtype=torch.float32)
    settled = [r for r in check.rows if "within float32 round-off" in r.note]
    assert check.ok and settled and all(0 < r.max_rel <= 1e-3 and not r.allclose for r in settled)


def test_float32_round_off_does_not_hide_a_bug(monkeypatch):
    monkeypatch.setitem(gc.TOLERANCES, torch.float32, (1e-12, 1e-14))
    monkeypatch.setattr(Relu, "bwd", broken_relu)
    x, targ = batch(bs=13)
    check = gc.gradcheck(x, targ, nh=(20,), loss="ce", seed=1, dtype=torch.float32)
    assert not check.ok and check.first_wrong == "lin1.out"
    assert "wrong in float64 too" in next(r for r in check.rows if r.name == "lin1.out").note


def test_cli_prints_the_first_wrong_tensor(monkeypatch):
    from mnist_scratch.cli import app

    monkeypatch.setattr(Relu, "bwd", broken_relu)
    res = CliRunner().invoke(app, ["gradcheck", "--synthetic", "--nh", "30,20"], env={"COLUMNS": "200"})
    assert res.exit_code == 1
    assert "first wrong in backward order: the gradient of lin2.out; everything from the loss up to relu2.out" \
        in res.stdout
    res = CliRunner().invoke(app, ["gradcheck", "--synthetic", "--json"])
    assert res.exit_code == 1 and json.loads(res.stdout)["first_wrong"] == "lin1.out"
