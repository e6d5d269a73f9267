"""gradcheck: passes on correct rules, fails on broken ones (library and CLI), finite differences skip ReLU kinks."""

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from mnist_scratch import gradcheck as gc
from mnist_scratch.errors import DataError
from mnist_scratch.gradcheck.finitediff import _fd_row
from mnist_scratch.gradcheck.kink import kink_difference, sample_differences
from mnist_scratch.lesson.nn import Lin, Mse, Relu, make_model


def batch(bs=16, seed=0, n_in=784):
    return gc.synthetic_batch(bs, generator=torch.Generator().manual_seed(seed), n_in=n_in)


def names(nh):
    """Every tensor a check must cover for hidden sizes nh."""
    n = len(nh) + 1
    params = [f"lin{i}.{k}" for i in range(1, n + 1) for k in ("w", "b")]
    inters = ["x"] + [f"{k}{i}.out" for i in range(1, n) for k in ("lin", "relu")] + [f"lin{n}.out"]
    return params + inters


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("nh", [(20,), (30, 20), (24, 16, 8)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_correct_rules_pass_every_tensor(loss, nh, dtype):
    x, targ = batch(bs=13, n_in=40)  # 13: no power of two, so the two sides round differently
    check = gc.gradcheck(x, targ, nh=nh, loss=loss, seed=1, dtype=dtype)
    assert check.ok, [r for r in check.rows if not r.ok]
    assert [r.name for r in check.rows] == names(nh)
    assert all(r.kind == "autograd" and r.allclose and r.checked == torch.Size(r.shape).numel() for r in check.rows)
    # two orders of the same sums of at most k products differ by at most k eps (relative to the largest entry),
    # and each layer the gradient crosses adds its own rounding
    k, layers = max(13, 40, *nh), len(nh) + 1
    assert max(r.max_rel for r in check.rows) <= layers * k * torch.finfo(dtype).eps


def test_one_seed_checks_one_model_in_either_dtype():
    x, targ = batch()
    a = gc.gradcheck(x, targ, nh=(20,), loss="ce", seed=5, dtype=torch.float32)
    b = gc.gradcheck(x, targ, nh=(20,), loss="ce", seed=5, dtype=torch.float64)
    assert b.dtype == "float64" and a.loss == pytest.approx(b.loss, rel=1e-6)


def test_large_mse_gradients_do_not_fail_on_float32_rounding():
    x, targ = batch(bs=7, seed=0)  # MSE gradients ~10 here: entries that cancel round to ~2e-7 absolute
    assert gc.gradcheck(x, targ, nh=(50,), loss="mse", seed=42, dtype=torch.float32).ok


def test_perturb_gives_nonzero_biases_and_non_he_scales():
    g = torch.Generator().manual_seed(0)
    model = make_model((30, 20), "ce", generator=g, n_in=40)
    before = [p.clone() for _, p in model.params()]
    gc.perturb(model, g)
    for (n, p), p0 in zip(model.params(), before, strict=True):
        if n.endswith(".b"):
            assert (p != 0).all() and p.std() > 0.2
        else:
            ratio = (p / p0).flatten()
            assert torch.allclose(ratio, ratio[0].expand_as(ratio)) and 0.5 <= ratio[0] < 2 and ratio[0] != 1


def broken_relu(self, out, inp, inp_g=True):
    inp.g = out.g.clone()  # lets negatives through


def no_bias_grad(self, out, inp, inp_g=True):
    if inp_g:
        inp.g = out.g @ self.w.T
    self.w.g = inp.T @ out.g


def mse_without_2(self, out, inp, targ, inp_g=True):
    inp.g = (inp - targ.to(inp.dtype)[:, None]) / inp.shape[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_broken_relu_rule_fails_downstream_rows(monkeypatch, dtype):
    monkeypatch.setattr(Relu, "bwd", broken_relu)
    x, targ = batch()
    check = gc.gradcheck(x, targ, nh=(30, 20), loss="ce", seed=0, dtype=dtype, fd=True, samples=5)
    bad = {(r.name, r.kind) for r in check.rows if not r.ok}
    assert not check.ok
    # relu2's input and everything the backward pass reaches after it; lin3's rows and relu2.out come before
    for n in ["lin2.out", "lin2.w", "lin2.b", "relu1.out", "lin1.out", "lin1.w", "lin1.b", "x"]:
        assert (n, "autograd") in bad
    for n in ["lin3.w", "lin3.b", "lin3.out", "relu2.out"]:
        assert (n, "autograd") not in bad
    assert ("lin1.w", "fd") in bad and ("lin3.w", "fd") not in bad


def test_dropped_bias_gradient_shows_as_missing_even_on_a_reused_model(monkeypatch):
    x, targ = batch()
    g = torch.Generator().manual_seed(0)
    model = make_model((20,), "ce", generator=g)
    gc.perturb(model, g)
    gc.manual_grads(model, x, targ)  # a correct pass leaves .g behind
    monkeypatch.setattr(Lin, "bwd", no_bias_grad)
    _, man = gc.manual_grads(model, x, targ)
    ref = gc.autograd_grads(model, x, targ)
    rows = {n: gc.compare(n, man[n], ref[n], rtol=1e-5, atol=1e-7) for n in man}
    assert {n for n, r in rows.items() if not r.ok} == {"lin1.b", "lin2.b"}
    assert rows["lin1.b"].note == "no manual gradient"


def test_wrong_loss_factor_fails_autograd_and_fd(monkeypatch):
    monkeypatch.setattr(Mse, "bwd", mse_without_2)
    x, targ = batch()
    check = gc.gradcheck(x, targ, nh=(20,), loss="mse", seed=0, dtype=torch.float64, fd=True, samples=5)
    assert not any(r.ok for r in check.rows)  # every gradient is half what it should be


def test_compare_rows_for_missing_and_misshapen():
    ok = torch.ones(3)
    assert not gc.compare("a", None, ok, rtol=1e-5, atol=1e-7).ok
    assert gc.compare("a", torch.ones(2), ok, rtol=1e-5, atol=1e-7).note == "shape differs"
    nan = gc.compare("a", torch.tensor([1.0, float("nan"), 1.0]), ok, rtol=1e-5, atol=1e-7)
    assert not nan.ok and not nan.allclose
    r = gc.compare("a", torch.tensor([1.0, 1.0, 1.00001]), ok, rtol=1e-5, atol=1e-7)
    assert not r.exact and r.max_abs == pytest.approx(1e-5, rel=1e-2)
    assert not gc.GradCheck([], 0.0, "float32", 1e-5, 1e-7).ok


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_fd_agrees_and_samples_every_parameter(loss):
    x, targ = batch(bs=8, n_in=30)
    check = gc.gradcheck(x, targ, nh=(12, 6), loss=loss, seed=3, dtype=torch.float32, fd=True, samples=7)
    fd = [r for r in check.rows if r.kind == "fd"]
    assert check.ok and [r.name for r in fd] == names((12, 6))[:6]
    assert all(r.checked == min(7, torch.Size(r.shape).numel()) and r.exact is None for r in fd)


def test_fd_checks_a_relu_kink_one_sided_and_the_central_quotient_would_fool_it():
    g = torch.Generator().manual_seed(0)
    model = make_model((6,), "mse", generator=g, dtype=torch.float64, n_in=5)
    gc.perturb(model, g)
    x, targ = batch(bs=2, n_in=5)
    x = x.double()
    lin1 = model.layers[0]
    lin1.b[0] -= (x @ lin1.w + lin1.b)[0, 0]  # sample 0's unit 0 now sits on the kink (within rounding)
    h = 1e-6
    rows = gc.fd_rows(model, x, targ, generator=torch.Generator().manual_seed(1), samples=6, h=h)
    b_row = next(r for r in rows if r.name == "lin1.b")
    # the entry on the kink is not skipped: the quotient on its unflipped side is taken, and agrees
    assert b_row.skipped == 0 and b_row.checked == 6 and "1 one-sided" in b_row.note and all(r.ok for r in rows)
    # at the kink the central difference averages both one-sided slopes: no match for any one-sided gradient
    with torch.no_grad():
        model(x, targ)
        model.backward()
        lin1.b[0] += h
        fp = model(x, targ).item()
        lin1.b[0] -= 2 * h
        fm = model(x, targ).item()
    num, ana = (fp - fm) / (2 * h), lin1.b.g[0].item()
    assert abs(num - ana) > gc.FD_ATOL + gc.FD_RTOL * abs(num)


def test_compare_reports_autograds_shape_and_a_missing_autograd_gradient():
    """Mistakes: a row's shape taken from the manual gradient when both exist (a misshapen .g would then be shown
    with its own wrong shape), or a crash when autograd has no gradient for a tensor the manual pass filled."""
    row = gc.compare("a", torch.ones(2), torch.ones(3), rtol=1e-5, atol=1e-7)
    assert row.shape == (3,) and row.note == "shape differs" and not row.ok
    row = gc.compare("a", torch.ones(2), None, rtol=1e-5, atol=1e-7)
    assert row.shape == (2,) and row.note == "no autograd gradient" and not row.ok


def test_a_parameter_with_no_usable_entry_gets_a_failing_no_entry_row():
    """Mistake: a wrong field in the "no entry" row: when every sampled entry was skipped (both steps cross a
    kink), the row must say so and fail, not pass with nothing checked."""
    empty = torch.tensor([], dtype=torch.float64)
    inf = float("inf")
    row = _fd_row("lin1.w", (5, 6), empty, empty, 30)
    assert row == gc.GradRow("lin1.w", (5, 6), "fd", None, False, inf, inf, False, 0, 30, "no entry")


@pytest.mark.parametrize("rel,ok", [(0.0, True), (5e-4, True), (5e-3, False)])
def test_fd_row_uses_gradchecks_tolerance_and_reports_allclose(rel, ok):
    """Mistakes: the fd comparison without rtol=FD_RTOL (allclose's default 1e-5 fails correct float64 differences,
    whose error is ~h^2 relative), or the row's allclose field not set from the comparison."""
    num = torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64)
    row = _fd_row("w", (3,), num * (1 + rel), num, 0)
    assert row.allclose is ok and row.ok is ok and row.checked == 3 and row.kind == "fd"


def test_fd_samples_20_entries_per_parameter_by_default():
    """Mistake: another library default for samples than the command's --samples 20: the two would disagree."""
    x, targ = batch(bs=4, n_in=10)
    check = gc.gradcheck(x, targ, nh=(8,), loss="ce", seed=0, dtype=torch.float64, fd=True)
    fd = {r.name: r.checked for r in check.rows if r.kind == "fd"}
    assert fd == {"lin1.w": 20, "lin1.b": 8, "lin2.w": 20, "lin2.b": 10}


def test_the_model_is_built_on_the_batch_device(monkeypatch):
    """Mistake: make_model without device=x.device: on a GPU the model would stay on the CPU, away from the batch."""
    seen = []

    def spy(*args, **kw):
        seen.append(kw.get("device"))
        return make_model(*args, **kw)

    monkeypatch.setattr(gc, "make_model", spy)
    x, targ = batch(bs=4, n_in=10)
    gc.gradcheck(x, targ, nh=(8,), loss="ce", seed=0)
    assert seen == [x.device]


def test_one_seed_draws_the_same_batch_and_fd_entries_whatever_the_global_rng():
    """Mistake: randperm without generator=... in sample_batch or fd_rows: the rows drawn and the entries sampled
    would follow the global RNG, so one --seed would not reproduce one check."""
    x, y = batch(bs=40, n_in=12)
    draws = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        xb, yb = gc.sample_batch(x, y, 8, generator=torch.Generator().manual_seed(3))
        check = gc.gradcheck(xb, yb, nh=(6,), loss="ce", seed=3, dtype=torch.float64, fd=True, samples=3)
        draws.append((xb, yb, [r for r in check.rows if r.kind == "fd"]))
    (xa, ya, fa), (xb, yb, fb) = draws
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert fa == fb  # same sampled entries: the same differences to the last bit


# ---------------------------------------------------------------- the command


def run(*args, **env):
    from mnist_scratch.cli import app

    return CliRunner().invoke(app, ["gradcheck", *args], env={"COLUMNS": "200", **env})


def test_cli_help_has_an_example():
    res = run("--help")
    assert res.exit_code == 0 and "Example: mnist-scratch gradcheck" in res.stdout


def test_cli_synthetic_table_passes():
    res = run("--synthetic", "--nh", "100,50", "--bs", "16")
    assert res.exit_code == 0, res.output
    for n in names((100, 50)):
        assert n in res.stdout
    assert "PASS" in res.stdout and "FAIL" not in res.stdout


def test_cli_json_and_fd():
    res = run("--synthetic", "--loss", "mse", "--dtype", "float64", "--fd", "--samples", "4", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["ok"] is True and out["loss"] == "mse" and out["dtype"] == "float64" and out["nh"] == [50]
    kinds = [r["kind"] for r in out["rows"]]
    assert kinds.count("autograd") == 8 and kinds.count("fd") == 4
    for r in out["rows"]:
        assert {"name", "shape", "max_abs", "max_rel", "ok", "kind"} <= set(r) and r["ok"] is True
        assert r["max_rel"] <= (1e-12 if r["kind"] == "autograd" else 1e-3)


def test_cli_exits_1_on_a_broken_rule(monkeypatch):
    monkeypatch.setattr(Relu, "bwd", broken_relu)
    res = run("--synthetic")
    assert res.exit_code == 1 and "FAIL" in res.stdout and "lin1.w" in res.stdout
    assert res.stderr == ""  # exit 1 is the verdict, not an error
    res = run("--synthetic", "--json")
    assert res.exit_code == 1 and json.loads(res.stdout)["ok"] is False


def test_cli_takes_a_batch_of_the_dataset(monkeypatch):
    x, y = batch(bs=200, seed=5)
    seen = {}

    def fake_load(data_dir=None, **kw):
        seen["data_dir"] = data_dir
        return SimpleNamespace(x_train=x, y_train=y, source="fake")

    monkeypatch.setattr("mnist_scratch.data.load_dataset", fake_load, raising=False)
    res = run("--data-dir", "/nowhere", "--json", "--bs", "32")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["data"] == "train split (fake)" and str(seen["data_dir"]) == "/nowhere"


def test_cli_data_errors_are_one_line(monkeypatch):
    def failing(*a, **kw):
        raise DataError("no dataset in /nowhere")

    monkeypatch.setattr("mnist_scratch.data.load_dataset", failing, raising=False)
    res = run("--data-dir", "/nowhere")
    assert res.exit_code == 1 and res.stderr.strip() == "error: no dataset in /nowhere"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dtype", "float16"], "--dtype"),
        (["--loss", "hinge"], "loss"),
        (["--nh", "0"], "nh"),
        (["--nh", "a,b"], "nh"),
        (["--bs", "0"], "bs"),
        (["--bs", "60000"], "--bs"),
        (["--samples", "0"], "--samples"),
    ],
)
def test_cli_bad_options_are_one_line_exit_2(args, message):
    res = run("--synthetic", *args)
    assert res.exit_code == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert res.stdout == ""


def test_command_module_does_not_import_torch():
    code = "import sys, mnist_scratch.commands.gradcheck; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- kink_difference on a function with a known kink


def cube(flat):
    """f = x^3 at entry 0 with one 'ReLU input' x whose side of 0 is reported: the kink sits at 0.

    For x^3 every quotient reveals its step exactly: central 3x^2 + s^2, forward 3x^2 + 3xs + s^2, backward
    3x^2 - 3xs + s^2.
    """
    return lambda: (flat[0].item() ** 3, (flat > 0,))


@pytest.mark.parametrize(
    "x, step, how, value",
    [
        (0.5, 0.1, "central", lambda x, s: 3 * x * x + s * s),  # both steps of h stay on one side
        (0.05, 0.01, "central", lambda x, s: 3 * x * x + s * s),  # h crosses: h/10
        (0.005, 0.001, "central", lambda x, s: 3 * x * x + s * s),  # h/10 crosses: h/100
        (0.0005, 0.001, "one-sided", lambda x, s: 3 * x * x + 3 * x * s + s * s),  # x - h/100 crosses: forward
        (-0.0005, 0.001, "one-sided", lambda x, s: 3 * x * x - 3 * x * s + s * s),  # x + h/100 crosses: backward
    ],
)
def test_kink_difference_shrinks_the_step_h_h10_h100_then_goes_one_sided(x, step, how, value):
    """Mistakes: another step sequence than h, h/10, h/100 (h*10 or h/11 as second step, h*100 or h/101 as
    third: the quotient of x^3 shows which step was used), or a wrong label than "central" / "one-sided" (the
    counts of one-sided entries in the fd rows are made from it)."""
    flat = torch.tensor([x], dtype=torch.float64)
    d, label = kink_difference(cube(flat), flat, 0, 0.1)
    assert label == how and d == pytest.approx(value(x, step), rel=1e-9)
    assert flat[0].item() == x  # the entry is restored


def test_fd_row_of_a_parameter_the_rules_leave_without_gradient(monkeypatch):
    """Mistake: a wrong field in the fd row of a parameter with no manual .g (name, shape, kind, verdict, counts
    or note): it must name the tensor, fail, and say "no manual gradient", exactly like the autograd row."""
    monkeypatch.setattr(Lin, "bwd", no_bias_grad)
    g = torch.Generator().manual_seed(0)
    model = make_model((6,), "ce", generator=g, dtype=torch.float64, n_in=5)
    x, targ = batch(bs=4, n_in=5)
    rows = {r.name: r for r in gc.fd_rows(model, x.double(), targ, generator=g, samples=3)}
    inf = float("inf")
    assert rows["lin1.b"] == gc.GradRow("lin1.b", (6,), "fd", None, False, inf, inf, False, 0,
                                        note="no manual gradient")
    assert rows["lin2.b"].note == "no manual gradient" and rows["lin1.w"].ok and rows["lin1.w"].checked == 3


def test_fd_puts_a_relu_input_of_exactly_0_on_the_negative_side():
    """Mistake: the side of a ReLU input taken as >= 0: an input of exactly 0 gets gradient 0 from the ReLU rule
    (the negative side's slope), so the one-sided quotient must come from below; >= 0 takes it from above and
    fails a correct rule."""
    g = torch.Generator().manual_seed(0)
    model = make_model((6,), "mse", generator=g, dtype=torch.float64, n_in=5)
    gc.perturb(model, g)
    x, targ = batch(bs=3, n_in=5)
    x = x.double()
    x[0] = 0.0
    model.layers[0].b[0] = 0.0  # sample 0's unit 0 is exactly 0: x[0] @ w + b
    rows = gc.fd_rows(model, x, targ, generator=torch.Generator().manual_seed(1), samples=6)
    b_row = next(r for r in rows if r.name == "lin1.b")
    assert b_row.checked == 6 and all(r.ok for r in rows), rows
    assert b_row.note == "1 one-sided (next to a ReLU kink)"  # no "; " prefix when the row had no note before


def test_fd_row_keeps_gradchecks_absolute_tolerance_and_the_skipped_count():
    """Mistakes: the fd comparison without atol=FD_ATOL (allclose's default 1e-8 fails a correct difference of an
    entry that cancels to ~0, which is only good to ~1e-6 absolute), or the skipped count dropped from the row."""
    ana = torch.tensor([0.0, 1.0], dtype=torch.float64)
    num = torch.tensor([2e-6, 1.0], dtype=torch.float64)
    row = _fd_row("b", (2,), ana, num, 4)
    assert row.ok and row.allclose and row.skipped == 4 and row.checked == 2


def test_compare_row_of_a_missing_gradient_is_a_complete_failing_row():
    """Mistakes: a wrong field in the autograd row of a missing or misshapen gradient (name, kind, exact, allclose,
    max_abs / max_rel, ok, checked), or a crash when neither side has a gradient (the shape must fall back to ())."""
    inf = float("inf")
    row = gc.compare("lin1.b", None, torch.ones(3), rtol=1e-5, atol=1e-7)
    assert row == gc.GradRow("lin1.b", (3,), "autograd", False, False, inf, inf, False, 0, note="no manual gradient")
    row = gc.compare("lin1.b", None, None, rtol=1e-5, atol=1e-7)
    assert row == gc.GradRow("lin1.b", (), "autograd", False, False, inf, inf, False, 0, note="no manual gradient")


def test_compare_uses_the_given_rtol_the_scaled_atol_and_reports_exactness():
    """Mistakes: allclose without rtol=rtol (its default 1e-5 would judge float64 with float32's room), the atol
    floor scaled by max(2, ...) instead of max(1, ...) (a tensor of scale < 1 gets twice the room), or exact not
    set from torch.equal."""
    one = torch.tensor([1.0, -2.0], dtype=torch.float64)
    assert gc.compare("a", one * (1 + 1e-4), one, rtol=1e-3, atol=1e-12).ok  # within the given rtol, not 1e-5
    half = torch.tensor([0.5], dtype=torch.float64)
    assert not gc.compare("a", half + 1.5e-7, half, rtol=0.0, atol=1e-7).ok  # 1.5e-7 > atol * max(1, 0.5)
    assert gc.compare("a", one.clone(), one, rtol=1e-5, atol=1e-7).exact is True


def test_perturb_scales_every_weight_by_a_factor_in_half_to_two():
    """Mistake: another factor range than [0.5, 2) (e.g. [1.5, 3) or [0.5, 3)): the documented perturbation."""
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        model = make_model((8,), "ce", generator=g, n_in=6)
        w0 = model.layers[0].w.clone()
        gc.perturb(model, g)
        ratio = (model.layers[0].w / w0).flatten()[0].item()
        assert 0.5 <= ratio < 2, (seed, ratio)


def test_twin_is_a_fresh_copy_without_grad_by_default():
    """Mistakes: twin sharing storage with the model (copy=False: stepping the twin's entries in the fd check would
    write into the learner's model), or requires_grad on by default (only autograd_grads asks for leaves)."""
    model = make_model((8,), "ce", generator=torch.Generator().manual_seed(0), n_in=6)
    t = gc.twin(model)
    for (_, p), (_, q) in zip(model.params(), t.params(), strict=True):
        assert torch.equal(p, q) and p.data_ptr() != q.data_ptr() and not q.requires_grad


def test_synthetic_batch_is_mnist_shaped_seeded_and_has_every_label():
    """Mistakes: another default width than 784, draws from the global RNG instead of the generator (one --seed
    would not reproduce one batch), or labels from 1 instead of 0..9."""
    draws = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        draws.append(gc.synthetic_batch(500, generator=torch.Generator().manual_seed(3)))
    (xa, ya), (xb, yb) = draws
    assert xa.shape == (500, 784) and torch.equal(xa, xb) and torch.equal(ya, yb)
    assert set(ya.tolist()) == set(range(10))


def test_perturb_draws_biases_as_half_a_standard_normal():
    """Mistake: the bias draw 0.5 / randn instead of 0.5 * randn (heavy-tailed: some biases in the hundreds)."""
    g = torch.Generator().manual_seed(0)
    model = make_model((2000,), "ce", generator=g, n_in=4)
    gc.perturb(model, g)
    b = model.layers[0].b
    assert 0.45 < b.std().item() < 0.55 and b.abs().max().item() < 0.5 * 6


@pytest.mark.parametrize("a, b, expected", [(0.0, 0.0, (0.0, 0.0)), (1.0, 0.0, (1.0, float("inf")))])
def test_diffs_against_an_all_zero_reference(a, b, expected):
    """Mistakes in the relative difference when the reference is all zeros: a division by zero, 1.0 or inf for two
    equal zero tensors (no difference is a relative difference of 0), or a finite value for a real difference."""
    assert gc.diffs(torch.full((3,), a), torch.full((3,), b)) == expected


def two_kinks(flat):
    """f = sum of cubes; every entry is a 'ReLU input' on both sides of 0 at once: any step of an entry at 0
    crosses a kink whichever way it goes."""
    return lambda: ((flat ** 3).sum().item(), (flat > 0, flat < 0))


def test_an_entry_whose_both_steps_cross_a_kink_is_skipped_and_counted():
    """Mistakes: another label than "skipped", or the skipped count not incremented by one per skipped entry
    (= 1, -= 1, += 2), or the sampling stopping at the first skipped entry (break instead of continue)."""
    flat = torch.tensor([0.0, 0.0, 0.5], dtype=torch.float64)
    assert kink_difference(two_kinks(flat), flat, 0, 0.1) == (None, "skipped")
    idx, num, one_sided, skipped = sample_differences(
        two_kinks(flat), flat, samples=3, generator=torch.Generator().manual_seed(0), h=0.1)
    assert (idx, skipped, one_sided) == ([2], 2, 0) and num == [pytest.approx(3 * 0.25 + 0.01, rel=1e-9)]
