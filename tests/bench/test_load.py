"""`bench --busy`: its load processes start and stop, every variant is timed in a child, the default is marked."""

import math
import time

import pytest

from mnist_scratch.bench import load
from mnist_scratch.bench.steps import Setting

TINY = Setting("tiny", (8,), 16)


def test_busy_processes_spin_inside_the_block_and_are_gone_after():
    with load.busy(2, limit=60) as procs:
        assert len(procs) == 2
        time.sleep(0.2)
        assert all(p.poll() is None for p in procs)  # still spinning
    assert all(p.returncode is not None for p in procs)  # stopped and reaped


def test_busy_processes_end_by_themselves_at_their_limit():
    with load.busy(1, limit=0.3) as (p,):
        assert p.wait(timeout=30) == 0  # even if nobody stops it


def test_variants_time_each_thread_choice_and_name_the_default():
    small, large = Setting("s", (50,), 64), Setting("l", (1000,), 256)
    assert load.variants(small, 2, {}) == [("1 thread", 1, ""), ("every CPU, spinning", 2, ""),
                                           ("every CPU, sleeping", 2, "PASSIVE"), ("default", 1, "")]
    assert load.variants(large, 2, {})[-1] == ("default", 2, "PASSIVE")
    assert load.variants(large, 2, {"OMP_WAIT_POLICY": "ACTIVE"})[-1] == ("default", 2, "ACTIVE")  # the user's


def test_every_variant_runs_beside_its_busy_cores(monkeypatch):
    calls, live = [], []
    real_busy = load.busy

    def spy_busy(n, limit):
        ctx = real_busy(n, limit)
        procs = ctx.__enter__()
        live.append(procs)

        class Ctx:
            def __enter__(self):
                return procs

            def __exit__(self, *exc):
                return ctx.__exit__(*exc)
        return Ctx()

    def fake_child(s, threads, policy, **kw):
        calls.append((s.name, threads, policy, len(live[-1]), all(p.poll() is None for p in live[-1])))
        return [1.0 + threads, 2.0]

    monkeypatch.setattr(load, "busy", spy_busy)
    monkeypatch.setattr(load, "time_child", fake_child)
    res = load.run_load_bench([1], settings=(Setting("s", (50,), 64),), cpus=2)
    assert {(c[1], c[2]) for c in calls} == {(1, ""), (2, ""), (2, "PASSIVE")}  # the default is the 1-thread run
    assert sorted(c[3] for c in calls) == [0, 0, 0, 1, 1, 1] and all(c[4] for c in calls)
    assert all(p.returncode is not None for procs in live for p in procs)
    assert len(res.rows) == 8 and res.default == {"s": 1}
    assert res.row("s", 1, "default").seconds == res.row("s", 1, "1 thread").seconds
    assert res.default_ratio("s", 0) == pytest.approx(1.0)


def test_a_real_child_times_epochs():
    seconds = load.time_child(TINY, 1, "", steps=5, repeats=2, rows=400, timeout=120)
    assert len(seconds) == 2 and all(v > 0 and math.isfinite(v) for v in seconds)


def test_bench_busy_prints_the_table_and_json(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from mnist_scratch.cli import app

    monkeypatch.setattr(load, "time_child", lambda s, threads, policy, **kw: [0.5 * threads, 0.7])
    quick = ["bench", "--quick", "--no-extras", "--repeats", "1", "--steps", "2", "--busy", "1",
             "--data-dir", str(tmp_path)]
    r = CliRunner().invoke(app, quick, env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    for text in ("beside busy cores", "every CPU, sleeping", "default / best", "quick-nh20-bs32"):
        assert text in r.stdout, text
    r = CliRunner().invoke(app, [*quick, "--json"])
    doc = json.loads(r.stdout)["busy_cores"]
    assert {row["busy"] for row in doc["rows"]} == {0, 1} and len(doc["default_over_best"]) == 2
