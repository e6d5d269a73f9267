"""Activation statistics behave as the lesson says; the project's He init matches torch's in distribution."""

import json
import math
import statistics

import pytest
import torch
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.lesson.init_stats import SCHEMES, init_weight, run_init, scheme_stats, verdict
from mnist_scratch.lesson.nn import kaiming_normal


@pytest.fixture(scope="module")
def x():
    return torch.randn(1000, 784, generator=torch.Generator().manual_seed(123))  # (n, 784), mean 0, std 1


def test_plain_randn_explodes_and_one_over_sqrt_vanishes(x):
    r = run_init(x, depth=8, nh=50, seed=0, schemes=("randn", "1/sqrt(n_in)"))
    randn, scaled = r.schemes
    assert randn.verdict == "explodes" and randn.ratio > 1e4
    assert all(b.std > a.std for a, b in zip(randn.layers, randn.layers[1:], strict=False))
    assert scaled.verdict == "vanishes" and scaled.ratio < 0.2


@pytest.mark.parametrize("seed", range(5))
def test_he_keeps_the_std_within_2x_at_width_200(x, seed):
    s = scheme_stats(x, "He", depth=8, nh=200, seed=seed)
    assert all(0.5 <= l.std / s.layers[0].std <= 2 for l in s.layers[1:]), [l.std for l in s.layers]
    assert s.verdict == "keeps"


def test_he_keeps_the_std_within_2x_at_width_50_in_the_median(x):
    ratios = [scheme_stats(x, "He", depth=8, nh=50, seed=seed).ratio for seed in range(15)]
    assert 0.5 <= statistics.median(ratios) <= 2, ratios


def test_first_he_layer_matches_the_lesson(x):
    first = scheme_stats(x, "He", depth=1, nh=1000, seed=0).layers[1]
    assert first.mean == pytest.approx(1 / math.sqrt(math.pi), abs=0.05)  # E relu(N(0, 2)) = 0.564
    assert first.std == pytest.approx(math.sqrt(1 - 1 / math.pi), abs=0.05)  # 0.826; the lesson prints 0.57, 0.85


def test_relu_minus_half_moves_the_first_mean_to_about_zero(x):
    first = scheme_stats(x, "He, relu-0.5", depth=1, nh=1000, seed=0).layers[1]
    assert abs(first.mean) < 0.1


def test_project_he_and_torch_fan_out_agree_in_distribution():
    a = kaiming_normal(784, 1000, generator=torch.Generator().manual_seed(1)).flatten()
    w = torch.empty(784, 1000)
    b = torch.nn.init.kaiming_normal_(w, mode="fan_out", generator=torch.Generator().manual_seed(2)).flatten()
    target = math.sqrt(2 / 784)  # 0.0505, as the lesson prints
    for v in (a, b):
        assert v.std().item() == pytest.approx(target, rel=0.01)
        assert abs(v.mean().item()) < 0.001
    q = torch.tensor([0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99])
    torch.testing.assert_close(a.quantile(q), b.quantile(q), rtol=0, atol=0.02 * target)


def test_torch_fan_in_would_be_the_wrong_mode_for_this_layout():
    w = torch.nn.init.kaiming_normal_(torch.empty(784, 50), mode="fan_in", generator=torch.Generator().manual_seed(0))
    assert w.std().item() == pytest.approx(math.sqrt(2 / 50), rel=0.05)  # fan_in = size(1) = 50, not 784


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_every_scheme_draws_the_layout_shape(scheme):
    w = init_weight(scheme, 30, 7, generator=torch.Generator().manual_seed(0))
    assert w.shape == (30, 7) and w.dtype == torch.float64


def test_verdicts():
    assert [verdict(v) for v in (3.0, 0.3, 1.0, math.inf, 2.0, 0.5)] == [
        "explodes", "vanishes", "keeps", "explodes", "keeps", "keeps"]


def test_command_json_synthetic():
    res = CliRunner().invoke(app, ["init", "--synthetic", "--depth", "4", "--nh", "20", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [s["name"] for s in doc["schemes"]] == list(SCHEMES)
    assert all(len(s["layers"]) == 5 for s in doc["schemes"])
    byname = {s["name"]: s for s in doc["schemes"]}
    assert byname["randn"]["verdict"] == "explodes"
    assert byname["He"]["layers"] == byname["torch fan_out"]["layers"]  # same seed, same draws


def test_command_table_synthetic():
    res = CliRunner().invoke(app, ["init", "--synthetic", "--depth", "3"])
    assert res.exit_code == 0, res.output
    assert "explodes" in res.stdout and "torch fan_out" in res.stdout


@pytest.mark.parametrize("args", [["--depth", "0"], ["--depth", "101"], ["--nh", "0"], ["--nh", "1025"]])
def test_command_rejects_bad_sizes(args):
    res = CliRunner().invoke(app, ["init", "--synthetic", *args])
    assert res.exit_code == 2 and res.stderr.strip().count("\n") == 0


def test_json_form_survives_overflow():
    from mnist_scratch.lesson.init_stats import InitStats, LayerStat, SchemeStats
    from mnist_scratch.report.init import to_dict

    s = SchemeStats("randn", "", [LayerStat(0, 0.0, 1.0), LayerStat(1, math.inf, math.nan)], math.nan, "explodes")
    doc = json.loads(json.dumps(to_dict(InitStats("t", 1, 1, 2, 0, [s])), allow_nan=False))
    assert doc["schemes"][0]["layers"][1] == {"layer": 1, "mean": None, "std": None}
    assert doc["schemes"][0]["ratio"] is None
