"""The process group: who this process is (torchrun's environment variables) and joining the others.

The same code serves `train --procs N` (mnist_scratch.training.launch sets the variables) and torchrun on one
machine or many: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT.
"""

import contextlib
import os
import threading
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from mnist_scratch.errors import PeerLostError, UsageError

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
GRACE = 3.0  # seconds past --dist-timeout before a rendezvous that keeps retrying is abandoned


@dataclass(frozen=True)
class World:
    """This process's place among the workers."""

    rank: int
    size: int
    local_rank: int
    local_size: int  # workers on this machine: they share its cores

    @property
    def lead(self) -> bool:
        """Rank 0 alone prints and writes."""
        return self.rank == 0


def from_env(environ=os.environ) -> "World | None":
    """The World torchrun (or `train --procs`) describes, None outside one; UsageError when half described."""
    present = [k for k in ENV if k in environ]
    if not present:
        return None
    if len(present) < len(ENV):
        missing = ", ".join(k for k in ENV if k not in environ)
        raise UsageError(f"{', '.join(present)} set but not {missing}: start the workers with torchrun, or unset "
                         "them and use --procs N")
    try:
        rank, size, local = int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ["LOCAL_RANK"])
        local_size = int(environ.get("LOCAL_WORLD_SIZE", size))
    except ValueError:
        raise UsageError("RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE must be integers") from None
    if not (0 <= rank < size and 0 <= local < local_size):
        raise UsageError(f"RANK {rank} / WORLD_SIZE {size} / LOCAL_RANK {local} do not describe a worker")
    return World(rank, size, local, local_size)


def default_threads(world: World, cores: "int | None" = None) -> int:
    """The machine's cores shared among the workers on it: cores // local_size, at least one."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // world.local_size)


def device_for(world: World, kind: str) -> torch.device:
    """CPU for every rank, or one CUDA device per rank on its machine."""
    if kind != "cuda":
        return torch.device("cpu")
    if world.local_size > torch.cuda.device_count():
        raise UsageError(f"--procs {world.local_size} with --device cuda needs {world.local_size} CUDA devices on "
                         f"this machine; torch sees {torch.cuda.device_count()}")
    torch.cuda.set_device(world.local_rank)
    return torch.device("cuda", world.local_rank)


@contextlib.contextmanager
def joined(world: World, device: torch.device, timeout: float):
    """The default process group (gloo on the CPU, NCCL on CUDA) for the duration; every wait bounded by timeout."""
    backend = "nccl" if device.type == "cuda" else "gloo"
    where = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
    failed: list[BaseException] = []

    def join() -> None:
        try:
            dist.init_process_group(backend, init_method="env://", rank=world.rank, world_size=world.size,
                                    timeout=timedelta(seconds=timeout), **({"device_id": device} if backend == "nccl"
                                                                          else {}))
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
            failed.append(e)

    # torch's store client retries a listener that accepts but never answers past its timeout: the rendezvous runs
    # in a helper thread that is abandoned (left to the process exit) once the timeout and a grace have passed
    helper = threading.Thread(target=join, name="mnist-scratch rendezvous", daemon=True)
    helper.start()
    helper.join(timeout + GRACE)
    if helper.is_alive():
        raise PeerLostError(f"rank {world.rank} could not reach the rendezvous at {where} within {timeout:g} s "
                            "(--dist-timeout); check MASTER_ADDR and MASTER_PORT")
    if failed:
        e = failed[0]
        if not isinstance(e, RuntimeError | ValueError | dist.DistError):
            raise e
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise PeerLostError(f"rank {world.rank} could not join the other ranks at {where} within {timeout:g} s: "
                            f"{first}") from None
    ok = False
    try:
        yield
        ok = True
    finally:
        if ok:  # after a failure a peer may be gone: tearing down could wait on it, the process exit suffices
            dist.destroy_process_group()
