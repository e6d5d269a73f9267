"""Data parallelism for the hand-written engines: every rank computes the gradient of its share of the batch,
one all_reduce sums the ranks' gradients, and every rank takes the same SGD step.

torch.distributed does the communication (gloo on the CPU, NCCL on CUDA); the process group must be up
(mnist_scratch.training.distributed). Each rank runs fit() on the same global batches (the same (seed, epoch)
shuffle, the same bs) and keeps rows [lo, hi) of each; its gradient is divided by the global batch size, so the
sum over ranks is the global mean gradient, as one process computes it, up to the rounding of the sum.
"""

import time
from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import Tensor

from mnist_scratch.errors import PeerLostError, TrainingError, UsageError
from mnist_scratch.training.engines import ReferenceEngine, sgd_
from mnist_scratch.training.fit import Callback, EpochStats, Stop
from mnist_scratch.training.fused import FusedEngine

SUPPORTED = (FusedEngine.name, ReferenceEngine.name)  # autograd's gradients live in .grad: that is DDP's job


def check(cfg) -> None:
    """UsageError, naming the option, for a data-parallel config that cannot run."""
    if cfg.procs > 1 and cfg.engine not in SUPPORTED:
        raise UsageError(f"--procs {cfg.procs} needs a hand-written engine: --engine {' or '.join(SUPPORTED)}, "
                         f"not {cfg.engine} (autograd keeps its gradients in .grad, where DDP would reduce them)")
    if cfg.procs > cfg.bs:
        raise UsageError(f"--procs {cfg.procs} is more than the {cfg.bs} rows of a batch (--bs): every process "
                         "needs at least one row of each batch; use fewer processes or a larger --bs")


def share(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rows [lo, hi) of an n-row batch that rank takes: contiguous, sizes differing by at most one."""
    return rank * n // world, (rank + 1) * n // world


def collective(what: str, fn: Callable[[], object]) -> None:
    """Run one torch.distributed call; a failure (a peer died, hung past the timeout) becomes PeerLostError."""
    try:
        fn()
    except (RuntimeError, dist.DistError) as e:  # gloo: "Connection closed by peer", "Timed out waiting ..."
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise PeerLostError(f"rank {dist.get_rank()} lost contact with the other ranks during {what}: {first}"
                            ) from None


class DataParallel:
    """One engine's share of each batch, ONE all_reduce of a flat buffer per step, the same update everywhere.

    The buffer holds every gradient, then the rank's share of the batch loss, then its stop request; after the
    all_reduce every rank holds the same mean gradient, the global batch loss and whether any rank asked to stop.
    """

    def __init__(self, engine, cfg, want_stop: Callable[[], bool] = lambda: False, timed: bool = False):
        if engine.name not in SUPPORTED:
            raise TrainingError(f"data parallelism needs a hand-written engine ({', '.join(SUPPORTED)})")
        self.engine, self.cfg, self.name = engine, cfg, engine.name
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.want_stop, self.stop_agreed = want_stop, False
        self.timed, self.reduce_seconds, self.steps = timed, 0.0, 0  # timed: measure the all_reduce (bench)
        if isinstance(engine, FusedEngine):  # parameters already live in one flat tensor: gradient buffer alike
            n, ref = engine.flat.numel(), engine.flat
        else:
            params = list(engine.model.params())
            n, ref = sum(p.numel() for _, p in params), params[0][1]
        self.buf = torch.empty(n + 2, dtype=ref.dtype, device=ref.device)  # gradients, loss share, stop request
        self.g = self.buf[:n]

    def _grads(self, xb: Tensor, yb: Tensor, total: int) -> Tensor:
        """Loss of these rows; their gradient, divided by the global batch size `total`, into self.g."""
        e = self.engine
        if isinstance(e, FusedEngine):
            return e.flat_grads(xb, yb, self.g, total)
        with torch.no_grad():
            loss = e.model(xb, yb)  # mean over these rows: nn.py's backward divides by len(xb) ...
            e.model.backward()
            at = 0
            for _, p in e.model.params():  # ... so len(xb) / total makes it the share of the global mean
                self.g[at : at + p.numel()].view_as(p).copy_(p.g).mul_(len(xb) / total)
                at += p.numel()
        return loss

    def _update(self, lr: float) -> None:
        """engines.sgd_ (weight decay, momentum, step) with the summed gradient: identical on every rank."""
        e = self.engine
        if isinstance(e, FusedEngine):  # the whole model in three elementwise ops
            sgd_(e.flat, self.g, e.mom, lr, self.cfg)
            return
        at = 0
        for k, p in e.model.params():
            sgd_(p, self.g[at : at + p.numel()].view_as(p), e.bufs.get(k), lr, self.cfg)
            at += p.numel()

    def step(self, xb: Tensor, yb: Tensor, lr: float) -> Tensor:
        """This rank's rows of the global batch (xb, yb): gradient, all_reduce, update; returns the batch loss."""
        lo, hi = share(len(xb), self.rank, self.world)
        if hi > lo:
            loss = self._grads(xb[lo:hi], yb[lo:hi], len(xb))
            self.buf[-2].copy_(loss * ((hi - lo) / len(xb)))  # the share of the batch's mean loss
        else:  # a last batch with fewer rows than ranks: nothing to add
            self.buf[:-1].zero_()
        self.buf[-1] = 1.0 if self.want_stop() else 0.0
        self.steps += 1
        if self.world > 1:  # one rank holds the sum already; gloo would still hand the buffer to its thread
            t0 = time.perf_counter() if self.timed else 0.0
            collective(f"step {self.steps}", lambda: dist.all_reduce(self.buf))
            if self.timed:
                self.reduce_seconds += time.perf_counter() - t0
        self.stop_agreed = bool(self.buf[-1] > 0)
        self._update(lr)
        return self.buf[-2].clone()

    def predict(self, x: Tensor) -> Tensor:
        """The wrapped engine's output for x (every rank holds the whole model)."""
        return self.engine.predict(x)

    def state(self) -> dict[str, Tensor]:
        """The wrapped engine's parameters and momentum buffers: the same on every rank."""
        return self.engine.state()

    def load_state(self, state: dict[str, Tensor]) -> None:
        """Load the same state into every rank's engine: a checkpoint of any number of processes."""
        self.engine.load_state(state)

    def agree(self, state: dict[str, Tensor], epoch: int) -> None:
        """Compare every tensor's checksum with rank 0's (TrainingError on a mismatch); share stop requests."""
        local = torch.stack([checksum(v) for v in state.values()]
                            + [torch.tensor(int(self.want_stop()), device=self.buf.device)])
        every = [torch.empty_like(local) for _ in range(self.world)]
        collective(f"the checksum after epoch {epoch}", lambda: dist.all_gather(every, local))
        for r, theirs in enumerate(every[1:], 1):
            bad = [k for k, a, b in zip(state, every[0][:-1].tolist(), theirs[:-1].tolist(), strict=True) if a != b]
            if bad:
                raise TrainingError(f"after epoch {epoch} rank {r}'s {', '.join(bad)} differ from rank 0's: the "
                                    "ranks drifted apart (a non-deterministic op or a broken rank); stopped")
        self.stop_agreed = any(int(t[-1]) for t in every)


def checksum(t: Tensor) -> Tensor:
    """An int64 hash of t's exact bits (position-weighted sum, wrapping): equal tensors, equal sums."""
    ints = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
    bits = t.detach().contiguous().view(-1).view(ints).to(torch.int64)
    pos = torch.arange(1, len(bits) + 1, dtype=torch.int64, device=bits.device)
    return (bits * (pos * 2654435761 + 1)).sum()


class ParallelCallback(Callback):
    """fit on every rank: stops when the ranks agree to, checks the parameters agree before rank 0 records.

    First in the list: its epoch_end runs before the Recorder's. The local stop request (Ctrl-C) is not a callback
    of its own here: it rides on the next all_reduce, and every rank stops on the same step.
    """

    def __init__(self, engine: DataParallel, stop: Stop):
        self.engine = engine
        engine.want_stop = stop.should_stop

    def epoch_end(self, stats: EpochStats, state: dict) -> None:
        self.engine.agree(state, stats.epoch)

    def should_stop(self) -> bool:
        return self.engine.stop_agreed
