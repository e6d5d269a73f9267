"""The lesson's matmul versions agree with torch; the timer picks its repeats; the command's output."""

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.lesson import matmul as mm
from mnist_scratch.lesson import timing

LOOPY = [fn for _, fn in mm.VERSIONS]


def test_known_product():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    b = torch.tensor([[7.0, 8.0, 9.0], [10.0, 11.0, 12.0]])
    want = torch.tensor([[27.0, 30.0, 33.0], [61.0, 68.0, 75.0], [95.0, 106.0, 117.0]])
    for name, fn in mm.VERSIONS:
        assert torch.equal(fn(a, b), want), name


@settings(max_examples=25, deadline=None)
@given(ar=st.integers(1, 5), ac=st.integers(1, 12), bc=st.integers(1, 6), seed=st.integers(0, 2**31))
def test_versions_agree_with_torch_on_random_shapes(ar, ac, bc, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(ar, ac, generator=g, dtype=torch.float64)
    b = torch.randn(ac, bc, generator=g, dtype=torch.float64)
    ref = a @ b
    for name, fn in mm.VERSIONS:
        out = fn(a, b)
        assert out.shape == (ar, bc) and out.dtype == torch.float64, name
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12, msg=name)


def test_float32_on_the_lesson_shape_is_near():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 784, generator=g), torch.randn(784, 10, generator=g)
    for name, fn in mm.VERSIONS[1:]:  # the loop version is covered above; it is slow at 784
        assert mm.near(fn(a, b), a @ b), name


def test_near_rejects_other_values_and_shapes():
    a = torch.ones(2, 3)
    assert mm.near(a, a + 1e-6)
    assert not mm.near(a, a + 1e-2)
    assert not mm.near(a, torch.ones(3, 2))


def test_frobenius_norm_of_the_lesson_matrix():
    m = torch.tensor([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])
    assert round(mm.frobenius(m).item(), 4) == 16.8819
    assert mm.near(mm.frobenius(m), torch.linalg.matrix_norm(m))


class FakeClock:
    """A clock that each call of the timed function advances by dt."""

    def __init__(self, dt):
        self.t, self.dt, self.calls = 0.0, dt, 0

    def __call__(self):
        return self.t

    def fn(self):
        self.t += self.dt
        self.calls += 1
        return "result"


def test_timer_runs_a_slow_function_a_few_times():
    c = FakeClock(0.4)
    result, t = timing.time_call(c.fn, budget=1.0, clock=c)
    assert result == "result"
    assert t.samples == 3 and t.number == 1  # 0.4 + 0.4 + 0.4 >= 1 s, one call a block
    assert 1 + 3 <= c.calls <= 1 + 1 + 3  # the result's call, the timer's own warm-up (if any), the timed ones
    assert t.seconds == pytest.approx(0.4) and t.best == pytest.approx(0.4) and t.iqr == pytest.approx(0, abs=1e-12)


def test_timer_batches_a_fast_function():
    c = FakeClock(1e-4)
    _, t = timing.time_call(c.fn, budget=1.0, clock=c)
    assert t.number > 1  # calls batched into blocks that outlast the clock's noise
    assert t.samples * t.number * 1e-4 >= 1.0  # timed for at least the budget
    assert t.seconds == pytest.approx(1e-4) and t.best == pytest.approx(1e-4)


def test_run_matmul_flags_a_wrong_version():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(2, 6, generator=g), torch.randn(6, 3, generator=g)
    versions = (("three loops", mm.matmul_loops), ("off by one", lambda a, b: a @ b + 1), ("torch @", mm.matmul_torch))
    r = mm.run_matmul(a, b, source="test", budget=0.01, versions=versions)
    assert [x.ok for x in r.rows] == [True, False, True]
    assert r.rows[1].max_abs_diff == pytest.approx(1.0)
    assert r.rows[0].speedup == 1.0
    assert r.frobenius_ok


def test_command_json_synthetic():
    res = CliRunner().invoke(app, ["matmul", "--synthetic", "--rows", "1", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [r["name"] for r in doc["rows"]] == [name for name, _ in mm.VERSIONS]
    assert all(r["ok"] and r["seconds"] > 0 and r["speedup"] > 0 for r in doc["rows"])
    assert doc["shape_a"] == [1, 784] and doc["shape_b"] == [784, 10]
    assert round(doc["frobenius"]["value"], 4) == 16.8819


def test_command_threads_are_used_and_restored():
    before = torch.get_num_threads()
    res = CliRunner().invoke(app, ["matmul", "--synthetic", "--rows", "1", "--threads", "1", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["threads"] == 1
    assert torch.get_num_threads() == before


def test_threads_context_restores_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), timing.threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("args", [["--rows", "0"], ["--rows", "1001"], ["--rows", "-3"], ["--threads", "0"]])
def test_command_rejects_bad_options(args):
    res = CliRunner().invoke(app, ["matmul", "--synthetic", *args])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and args[0] in res.stderr


def test_command_uses_the_dataset_rows(monkeypatch):
    from mnist_scratch.data import Dataset

    x = torch.randn(8, 784, generator=torch.Generator().manual_seed(5))
    y = torch.arange(8) % 10
    seen = []
    monkeypatch.setattr("mnist_scratch.data.load_dataset",
                        lambda *a, **k: seen.append(a) or Dataset(x, y, x, y, x, y, 0.13, 0.31, True, "test"))
    res = CliRunner().invoke(app, ["matmul", "--rows", "2", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert seen and doc["source"] == "x_train[:2], normalized" and doc["shape_a"] == [2, 784]


def test_command_without_a_dataset_suggests_synthetic(monkeypatch):
    from mnist_scratch.errors import DataError

    def missing(*a, **k):
        raise DataError("no intact dataset in /nowhere (not cached)")

    monkeypatch.setattr("mnist_scratch.data.load_dataset", missing)
    res = CliRunner().invoke(app, ["matmul"])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1
    assert "not cached" in res.stderr and "--synthetic" in res.stderr


def test_shapes_that_do_not_multiply_are_a_value_error():
    from mnist_scratch.lesson.matmul import matmul_broadcast, matmul_elementwise, matmul_loops

    for f in (matmul_loops, matmul_elementwise, matmul_broadcast):
        with pytest.raises(ValueError, match=r"cannot multiply \(2, 3\) by \(4, 5\)"):
            f(torch.zeros(2, 3), torch.zeros(4, 5))
