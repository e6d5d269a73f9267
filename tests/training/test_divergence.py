"""Divergence is one path: an lr, weight decay or momentum that overflows float32, at the start or mid-run, with
statistics on or off and with every engine, ends in the divergence message, or is refused when parsed."""

import math

import pytest
from faultkit import cli, one_line

from mnist_scratch.training.stats import update_ratio

pytestmark = pytest.mark.usefixtures("fake_dataset")  # tests/training/conftest.py: 1,500 small rows

RECIPES = [["--lr", "50", "--lr-schedule", "constant"],  # the weights overflow after some steps
           ["--lr", "3e38", "--momentum", "0.99", "--weight-decay", "1"]]  # at the first step


STATS = (["--stats-every", "1"], ["--no-stats"])
CASES = [(e, s, RECIPES[0]) for e in ("manual", "reference", "autograd") for s in STATS]
CASES += [("manual", ["--stats-every", "1"], RECIPES[1]), ("autograd", ["--no-stats"], RECIPES[1])]


@pytest.mark.parametrize(("engine", "stats", "recipe"), CASES)
def test_an_overflowing_recipe_ends_in_the_divergence_message(tmp_path, engine, stats, recipe):
    r = cli("train", "--nh", "16", "--bs", "100", "--epochs", "2", "--no-progress", "--engine", engine, *stats,
            *recipe, "--out", tmp_path / "run")
    assert r.exit_code == 1, r.output
    line = one_line(r.stderr)
    assert line.startswith("error: loss became ") and "try a smaller --lr" in line


@pytest.mark.parametrize(("args", "needle"), [
    (["--lr", "1e39"], "error: --lr must be at most 3.403e+38 (float32's largest number), got 1e+39"),
    (["--weight-decay", "1e39"], "error: --weight-decay must be at most 3.403e+38"),
    (["--lr", "3e38", "--weight-decay", "10"], "error: lr 3e+38 times weight_decay 10 is beyond float32's range"),
])
def test_values_no_float32_run_can_use_are_refused_when_parsed(tmp_path, args, needle):
    r = cli("train", *args, "--out", tmp_path / "run")
    assert r.exit_code == 2 and one_line(r.stderr).startswith(needle)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("moved", "w", "want"), [
    (1.0, math.inf, math.nan),  # a weight overflowed: log10(0) raised before
    (1e-200, 1e200, -math.inf),  # the ratio underflows to 0: log10(0) raised before
    (math.nan, 1.0, math.nan),
    (math.inf, 1.0, math.nan),
    (0.0, 1.0, -math.inf),
    (1.0, 0.0, math.inf),
    (0.1, 10.0, -2.0),
])
def test_update_ratio_never_raises_on_inf_or_nan(moved, w, want):
    got = update_ratio(moved, w)
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)
