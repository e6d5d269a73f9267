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


def failing_row(name, max_rel, kind="autograd", note=""):
    return gc.GradRow(name, (1,), kind, False, False, max_rel, max_rel, False, 1, note=note)


def settle(rows):
    from mnist_scratch.gradcheck.order import settle_float32

    g = torch.Generator().manual_seed(0)
    model = make_model((6,), "ce", generator=g, n_in=5)
    x, targ = batch(bs=4, n_in=5)
    return {(r.name, r.kind): r for r in settle_float32(model, x, targ, rows)}


def test_settle_float32_verdicts_and_notes_on_correct_rules():
    """Mistakes in settling a float32 failure whose tensor passes in float64: the round-off bound taken as
    < ROUNDOFF_REL instead of <= (max_rel exactly 1e-3 is round-off), a failure far beyond the bound passed because
    float64 passes ("or" for "and") or left without its "right in float64 but far off" note, an fd row (not
    autograd) re-judged, or the notes misspelt (the report prints them)."""
    rows = [failing_row("lin1.w", 5e-4), failing_row("lin1.b", 1e-3), failing_row("lin2.w", 0.5),
            failing_row("lin2.w", 5e-4, kind="fd")]
    out = settle(rows)
    for n in ("lin1.w", "lin1.b"):
        assert out[n, "autograd"].ok and out[n, "autograd"].note == "within float32 round-off (passes in float64)"
    far = out["lin2.w", "autograd"]
    assert not far.ok and far.note == "right in float64 but far off in float32 (overflow?)"
    assert out["lin2.w", "fd"] == rows[3]  # an fd row is not the float32-vs-float64 question: untouched


def test_settle_float32_appends_wrong_in_float64_too_to_any_note(monkeypatch):
    """Mistakes: the "wrong in float64 too" note misspelt, prefixed with "; " when the row had no note, or
    replacing a note the row already had (e.g. "shape differs") instead of following it."""
    monkeypatch.setattr(Relu, "bwd", broken_relu)
    out = settle([failing_row("lin1.w", 0.5), failing_row("lin1.b", 0.5, note="shape differs")])
    assert out["lin1.w", "autograd"].note == "wrong in float64 too" and not out["lin1.w", "autograd"].ok
    assert out["lin1.b", "autograd"].note == "shape differs; wrong in float64 too"
