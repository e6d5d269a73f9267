"""Data-parallel runs for the equivalence tests: the same 20 steps in one process and in N (gloo, 127.0.0.1)."""

from dataclasses import dataclass
from pathlib import Path

import torch

from mnist_scratch.config import TrainConfig
from mnist_scratch.lesson.nn import make_model
from mnist_scratch.training.engines import ENGINES

DTYPES = (torch.float64, torch.float32)
STEPS, BS, N_IN = 20, 24, 30  # every fifth batch 10 rows (shares of 2 or 3 with 4 ranks), the tenth 3 rows (rank 0
# of 4 gets none)


@dataclass(frozen=True)
class Case:
    """One model and recipe trained both ways."""

    engine: str
    nh: tuple[int, ...]
    loss: str = "ce"
    momentum: float = 0.0
    weight_decay: float = 0.0

    def cfg(self) -> TrainConfig:
        return TrainConfig(nh=self.nh, loss=self.loss, bs=BS, momentum=self.momentum,
                           weight_decay=self.weight_decay, engine=self.engine)


CASES = (Case("manual", (8,)), Case("manual", (8,), momentum=0.9, weight_decay=1e-3),
         Case("manual", (8, 6), momentum=0.9, weight_decay=1e-3), Case("manual", (8,), loss="mse"),
         Case("reference", (8,)), Case("reference", (8, 6), momentum=0.9, weight_decay=1e-3))


def batches(case: Case, dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """STEPS batches of BS rows (the last of each 5 is short), the same in every process."""
    g = torch.Generator().manual_seed(7)
    out = []
    for i in range(STEPS):
        n = 3 if i == 9 else 10 if i % 5 == 4 else BS
        x = torch.randn(n, N_IN, generator=g, dtype=torch.float64).to(dtype)
        y = torch.randint(0, 10, (n,), generator=g)
        out.append((x, y.to(dtype) if case.loss == "mse" else y))
    return out


def engine_for(case: Case, dtype: torch.dtype):
    model = make_model(case.nh, case.loss, generator=torch.Generator().manual_seed(3), dtype=dtype, n_in=N_IN)
    return ENGINES[case.engine](model, case.cfg())


def train(engine, case: Case, dtype: torch.dtype) -> dict:
    """STEPS steps at lr 0.1; the losses and the final state (parameters and momentum buffers)."""
    losses = [float(engine.step(x, y, 0.1)) for x, y in batches(case, dtype)]
    return {"losses": losses, "state": {k: v.clone() for k, v in engine.state().items()}}


def single(case: Case, dtype: torch.dtype) -> dict:
    return train(engine_for(case, dtype), case, dtype)


def worker(folder: str) -> tuple[int, str, str]:
    """One rank: every case in both dtypes as DataParallel over the process group; its results to a file."""
    import torch.distributed as dist

    from mnist_scratch.training import distributed
    from mnist_scratch.training.parallel import DataParallel

    world = distributed.from_env()
    torch.set_num_threads(1)
    with distributed.joined(world, torch.device("cpu"), timeout=60):
        results = {(i, str(dt)): train(DataParallel(engine_for(c, dt), c.cfg()), c, dt)
                   for i, c in enumerate(CASES) for dt in DTYPES}
        results["drift"] = drift(DataParallel(engine_for(CASES[0], torch.float32), CASES[0].cfg()))
        torch.save(results, Path(folder) / f"rank{dist.get_rank()}.pt")
    return 0, "ok", ""


def drift(engine) -> str:
    """The error every rank raises when rank 1's lin2.b differs from the others' by one bit."""
    from mnist_scratch.errors import TrainingError

    state = engine.state()
    if engine.rank == 1:
        state["lin2.b"].view(torch.int32)[0] ^= 1
    try:
        engine.agree(state, epoch=3)
    except TrainingError as e:
        return str(e)
    return "no error"


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| over max |b|: the difference relative to the tensor's scale."""
    return float((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-300))
