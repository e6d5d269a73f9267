"""`bench` runs and reports; its measuring helpers measure. Never asserts timings."""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from mnist_scratch.bench.steps import FloorEngine, gemm_shapes, run_steps
from mnist_scratch.bench.suite import child_peak_rss, default_train, time_help
from mnist_scratch.cli import app

runner = CliRunner()
QUICK = ["bench", "--quick", "--no-extras", "--repeats", "2", "--steps", "3"]
ROWS = {"manual", "autograd", "twin", "reference", "fit", "fit_stats", "plain", "floor", "gather_floor"}


def test_quick_bench_prints_the_tables(tmp_path):
    # wide enough that no label wraps, however many digits a slow machine's timings take
    r = runner.invoke(app, [*QUICK, "--data-dir", str(tmp_path)], env={"COLUMNS": "160"})  # empty cache: synthetic
    assert r.exit_code == 0, r.output
    for text in ("seconds per epoch", "manual (fused)", "autograd, plain loop", "GEMM floor", "floor / manual",
                 "floor + gather", "gather floor / manual", "plain hand-written loop", "plain / fit",
                 "fit(), statistics off", "floor / fit",
                 "synthetic data", "threads"):
        assert text in r.stdout, text


def test_quick_bench_json(tmp_path):
    r = runner.invoke(app, [*QUICK, "--data-dir", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["threads"] >= 1 and doc["repeats"] == 2 and doc["device"] == "cpu" and doc["extras"] == []
    assert doc["clock"] == "wall"
    (case,) = doc["cases"]
    assert case["nh"] == [20] and case["bs"] == 32 and case["steps"] == 3
    assert set(case["seconds_per_epoch"]) == ROWS
    for t in case["seconds_per_epoch"].values():
        assert len(t["runs"]) == 2 and all(v > 0 and math.isfinite(v) for v in t["runs"])
        assert t["min"] <= t["median"] <= t["max"]
    assert case["manual_over_autograd"] > 0 and case["floor_over_manual"] > 0 and case["gather_floor_over_manual"] > 0
    assert set(case["ratios_of_minimums"]) == {"manual_over_autograd", "manual_over_twin", "floor_over_manual",
                                               "gather_floor_over_manual", "reference_over_twin",
                                               "floor_over_fit", "fit_stats_over_fit", "plain_over_fit"}
    assert case["plain_over_fit"] > 0 and case["floor_over_fit"] > 0 and case["fit_stats_over_fit"] > 0
    assert case["flops_per_step"] == sum(2 * m * k * n for m, k, n in gemm_shapes((20,), 32))


def test_cpu_clock_times_every_row_in_cpu_seconds(tmp_path):
    r = runner.invoke(app, [*QUICK, "--threads", "1", "--clock", "cpu", "--data-dir", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["clock"] == "cpu" and doc["threads"] == 1
    (case,) = doc["cases"]
    assert set(case["seconds_per_epoch"]) == ROWS
    assert all(v > 0 and math.isfinite(v) for t in case["seconds_per_epoch"].values() for v in t["runs"])
    r = runner.invoke(app, ["bench", "--quick", "--clock", "sundial"])
    assert r.exit_code == 2 and "--clock" in r.output
    r = runner.invoke(app, ["bench", "--quick", "--procs", "1", "--clock", "cpu"])  # refused before anything runs
    assert r.exit_code == 2 and "--clock cpu" in r.output


def test_matmul_precision_is_timed_reported_and_given_back(tmp_path, monkeypatch):
    """bench --matmul-precision medium times every engine under it, says so, and leaves the process at highest."""
    import mnist_scratch.bench.suite as suite

    seen = set()
    original = suite.bench_case

    def bench_case(*a, **k):
        seen.add(torch.get_float32_matmul_precision())
        return original(*a, **k)

    monkeypatch.setattr(suite, "bench_case", bench_case)
    r = runner.invoke(app, [*QUICK, "--matmul-precision", "medium", "--data-dir", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["matmul_precision"] == "medium" and seen == {"medium"}
    assert torch.get_float32_matmul_precision() == "highest"
    r = runner.invoke(app, [*QUICK, "--data-dir", str(tmp_path)], env={"COLUMNS": "160"})
    assert r.exit_code == 0 and "float32 matmul precision highest" in r.stdout
    r = runner.invoke(app, ["bench", "--quick", "--procs", "1", "--matmul-precision", "medium"])
    assert r.exit_code == 2 and "--matmul-precision" in r.output


def test_bad_device_is_a_usage_error():
    r = runner.invoke(app, ["bench", "--quick", "--device", "tpu"])
    assert r.exit_code == 2 and "--device" in r.output


def test_gemm_shapes_of_a_step():
    assert gemm_shapes((50,), 64) == [(64, 784, 50), (784, 64, 50), (64, 50, 10), (50, 64, 10), (64, 10, 50)]
    assert len(gemm_shapes((30, 20), 8)) == 8  # 3 layers x 2, plus an input gradient for layers 2 and 3


def test_gather_floor_gathers_each_batch_then_runs_the_floor():
    x, y = torch.arange(12.0).view(6, 2), torch.arange(6)
    batches = [torch.tensor([4, 1]), torch.tensor([0, 5])]
    seen = []
    engine = FloorEngine(lambda: seen.append(len(seen)), torch.device("cpu"))
    t = run_steps(engine, x, y, batches, 3, lr=0.1, every=2)
    assert seen == [0, 1, 2] and t >= 0 and math.isfinite(t)
    with pytest.raises(IndexError):  # the rows really are gathered: a row past the end is refused
        run_steps(engine, x, y, [torch.tensor([6, 0])], 1, lr=0.1, every=1)


def test_child_peak_rss_is_the_child_own_memory():
    ballast = bytearray(400 * 2**20)  # this process grows; a fork-inherited high-water mark would show it
    ballast[:: 4096] = b"x" * len(ballast[:: 4096])
    code, mib, out = child_peak_rss(["--version"])
    assert code == 0 and out.startswith("mnist-scratch ")
    assert 5 < mib < 300  # `--version` imports neither torch nor the data


def test_help_timing_and_missing_config(tmp_path):
    (t,) = time_help(1)
    assert 0 < t < 60
    (extra,) = default_train(tmp_path / "none.toml", None)
    assert extra.value is None and "not found" in extra.note


def test_bench_procs_takes_process_counts_only():
    from typer.testing import CliRunner

    from mnist_scratch.cli import app

    for bad in ("0", "1,x", ""):
        r = CliRunner().invoke(app, ["bench", "--procs", bad])
        assert r.exit_code == 2 and "--procs must be process counts" in r.output, r.output


def test_parallel_bench_times_both_paths_in_one_process(tmp_path):
    from mnist_scratch.bench.parallel import SETTINGS, run_parallel_bench

    res = run_parallel_bench([1], total_threads=1, steps=3, repeats=2, data_dir=tmp_path, timeout=240)
    assert [(r.setting, r.procs, r.path) for r in res.rows] == [
        (s.name, 1, p) for s in SETTINGS for p in ("split", "fused")]
    assert "synthetic" in res.data  # an empty --data-dir: no download, synthetic rows
    for r in res.rows:
        assert len(r.step_seconds) == 2 and r.steps_per_s > 0 and res.scaling(r) > 0
        assert (len(r.reduce_share) == 2 and all(0 <= x < 1 for x in r.reduce_share)) == (r.path == "split")
