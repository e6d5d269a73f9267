"""Data parallelism equals one process: N = 2 and 4 ranks (gloo on 127.0.0.1) against the same 20 steps in one.

Summing the ranks' gradients rounds differently from one full-batch gradient: equal to round-off, not bitwise.
"""

import pytest
import torch
from distwork import CASES, DTYPES, STEPS, engine_for, rel, single, worker

from mnist_scratch.training.launch import explain, launch
from mnist_scratch.training.parallel import checksum, share

TOL = {"torch.float64": 1e-12, "torch.float32": 1e-5}


@pytest.fixture(scope="module")
def references():
    return {(i, str(dt)): single(c, dt) for i, c in enumerate(CASES) for dt in DTYPES}


@pytest.mark.parametrize("n", [2, 4])
def test_n_ranks_match_one_process_after_20_steps(n, references, tmp_path):
    outcomes = launch(n, worker, (str(tmp_path),), timeout=60, limit=240)
    assert explain(outcomes, 60) == (None, 0), outcomes
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(n)]
    for r in ranks:  # a one-bit difference on rank 1 stops every rank, naming it and the tensor
        assert r["drift"].startswith("after epoch 3 rank 1's lin2.b differ from rank 0's"), r["drift"]
    for key, ref in references.items():
        got, tol = ranks[0][key], TOL[key[1]]
        assert len(got["losses"]) == STEPS
        for step, (a, b) in enumerate(zip(got["losses"], ref["losses"], strict=True)):
            assert abs(a - b) <= tol * abs(b), (key, step, a, b)
        assert got["state"].keys() == ref["state"].keys()
        for name, v in got["state"].items():
            assert rel(v, ref["state"][name]) <= tol, (key, name, rel(v, ref["state"][name]))
            for other in ranks[1:]:  # every rank took the identical steps: bit for bit
                assert torch.equal(other[key]["state"][name], v), (key, name)
        start = engine_for(CASES[key[0]], getattr(torch, key[1].removeprefix("torch."))).state()["lin1.w"]
        assert rel(ref["state"]["lin1.w"], start) > 1e3 * tol  # the steps moved the weights far beyond tol


def test_shares_cover_the_batch_once():
    for n in (1, 5, 24, 64):
        for world in (1, 2, 3, 4, 7):
            spans = [share(n, r, world) for r in range(world)]
            assert spans[0][0] == 0 and spans[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
            assert max(h - lo for lo, h in spans) - min(h - lo for lo, h in spans) <= 1


def test_checksum_sees_one_flipped_bit_and_ignores_nothing():
    t = torch.randn(100, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    u = t.clone()
    u.view(torch.int64)[37] ^= 1  # the last bit of one value: a round-off-sized drift
    assert checksum(t) == checksum(t.clone()) and checksum(t) != checksum(u)
    assert checksum(t.float()) != checksum(torch.roll(t.float(), 1))  # same values, other places
