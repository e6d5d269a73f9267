"""The lesson's matrix multiplications, from three Python loops to torch's kernel, timed and checked."""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from mnist_scratch.lesson.timing import time_call


def _empty_result(a: Tensor, b: Tensor) -> Tensor:
    """Zeros of the shape a @ b has; an error unless a's columns match b's rows."""
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"cannot multiply {tuple(a.shape)} by {tuple(b.shape)}")
    return torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype)


def matmul_loops(a: Tensor, b: Tensor) -> Tensor:
    """a @ b with three Python loops, one scalar product at a time."""
    c = _empty_result(a, b)  # (ar, bc)
    (ar, ac), bc = a.shape, b.shape[1]
    for i in range(ar):
        for j in range(bc):
            for k in range(ac):
                c[i, j] += a[i, k] * b[k, j]
    return c


def matmul_elementwise(a: Tensor, b: Tensor) -> Tensor:
    """a @ b with the inner loop replaced by an element-wise product and a sum."""
    c = _empty_result(a, b)  # (ar, bc)
    ar, bc = a.shape[0], b.shape[1]
    for i in range(ar):
        for j in range(bc):
            c[i, j] = (a[i, :] * b[:, j]).sum()
    return c


def matmul_broadcast(a: Tensor, b: Tensor) -> Tensor:
    """a @ b with one loop left: row i of a, as a column, broadcast against all of b."""
    c = _empty_result(a, b)  # (ar, bc)
    ar = a.shape[0]
    for i in range(ar):
        c[i] = (a[i, :, None] * b).sum(dim=0)  # (ac, 1) * (ac, bc) -> (ac, bc) -> (bc,)
    return c


def matmul_einsum(a: Tensor, b: Tensor) -> Tensor:
    """a @ b as an Einstein summation: no Python loop at all."""
    return torch.einsum("ik,kj->ij", a, b)


def matmul_torch(a: Tensor, b: Tensor) -> Tensor:
    """a @ b with torch's own kernel."""
    return a @ b


VERSIONS: tuple[tuple[str, Callable[[Tensor, Tensor], Tensor]], ...] = (
    ("three loops", matmul_loops),
    ("elementwise", matmul_elementwise),
    ("broadcasting", matmul_broadcast),
    ("einsum", matmul_einsum),
    ("torch @", matmul_torch),
)


def near(a: Tensor, b: Tensor, rtol: float = 1e-3, atol: float = 1e-5) -> bool:
    """True when a and b have the same shape and agree within the lesson's tolerance."""
    return a.shape == b.shape and torch.allclose(a, b, rtol=rtol, atol=atol)


def frobenius(m: Tensor) -> Tensor:
    """The Frobenius norm, the element-wise way: sqrt of the sum of squared entries."""
    return (m * m).sum().sqrt()


@dataclass(frozen=True)
class MatmulRow:
    """One version's seconds per call (median, best, interquartile range, calls timed), speedup over the loops,
    check vs torch."""

    name: str
    seconds: float
    best: float
    iqr: float
    calls: int
    speedup: float
    ok: bool
    max_abs_diff: float


def _max_abs_diff(out: Tensor, ref: Tensor) -> float:
    """Largest absolute difference; inf when the shapes differ."""
    if out.shape != ref.shape:
        return math.inf
    return (out - ref).abs().max().item() if out.numel() else 0.0


@dataclass(frozen=True)
class MatmulResult:
    """The timed versions on one pair of matrices, and the Frobenius-norm exercise."""

    shape_a: tuple[int, int]
    shape_b: tuple[int, int]
    source: str
    threads: int
    rows: list[MatmulRow]
    frobenius_matrix: list[list[float]]
    frobenius: float
    frobenius_ok: bool


def run_matmul(a: Tensor, b: Tensor, *, source: str, budget: float = 1.0,
               versions=VERSIONS, clock: Callable[[], float] = time.perf_counter) -> MatmulResult:
    """Time every version on a @ b and check each result against torch's."""
    ref = a @ b
    timed = []
    for name, fn in versions:
        out, t = time_call(lambda fn=fn: fn(a, b), budget=budget, clock=clock)
        diff = _max_abs_diff(out, ref)
        timed.append((name, t, near(out, ref), diff))
    base = timed[0][1].seconds
    rows = [MatmulRow(name, t.seconds, t.best, t.iqr, t.samples * t.number, base / t.seconds, ok, diff)
            for name, t, ok, diff in timed]
    m = torch.arange(1.0, 10.0).reshape(3, 3)
    fro = frobenius(m)
    return MatmulResult(
        shape_a=tuple(a.shape), shape_b=tuple(b.shape), source=source, threads=torch.get_num_threads(), rows=rows,
        frobenius_matrix=m.tolist(), frobenius=fro.item(),
        frobenius_ok=near(fro, torch.linalg.matrix_norm(m)),
    )
