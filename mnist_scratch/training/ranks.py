"""`train` in more than one process: the launcher side (`--procs N`) and every rank's side (torchrun's too).

`show` is the command's: show.display() the callbacks that show the run on rank 0, show.end(run) renders the
finished run there and returns the exit code. It is sent to the workers, so it must pickle.
"""

import contextlib
import dataclasses
import signal
from pathlib import Path

from mnist_scratch.errors import MnistScratchError, PeerLostError, UsageError


def run_rank(p, world, data_dir: "Path | None", show) -> int:
    """Join the other ranks, train this one's share of every batch; rank 0 shows the run. The exit code: 0, or
    130/143 after a Ctrl-C/SIGTERM (the ranks stop together)."""
    import torch
    import torch.distributed as dist

    from mnist_scratch.data import load_dataset
    from mnist_scratch.interrupts import EXIT_CODES
    from mnist_scratch.training import distributed, runs
    from mnist_scratch.training.parallel import collective

    device = distributed.device_for(world, runs.resolve_device(p.cfg.device).type)
    if not p.cfg.threads:  # the machine's cores shared among its workers
        torch.set_num_threads(distributed.default_threads(world))
    with distributed.joined(world, device, p.cfg.dist_timeout):
        if not world.lead:  # rank 0 first: it downloads the dataset if it must, once
            collective("the wait for rank 0's data", dist.barrier)
        data = load_dataset(data_dir, device=device)
        if world.lead:
            collective("the wait for rank 0's data", dist.barrier)
        with contextlib.suppress(ValueError):  # not the main thread: Ctrl-C stays as it is
            # fit turns a Ctrl-C into a stop request; once it returns, a second SIGINT (a terminal's reaches the
            # workers and the launcher, which passes its own on) must not cut rank 0's table short
            signal.signal(signal.SIGINT, lambda signum, frame: None)
        run = runs.train_run(p, data, show.display() if world.lead else [], world=world)
    if world.lead:
        return show.end(run)
    return EXIT_CODES.get(run.signal, 130) if run.interrupted else 0


def under_torchrun(p, world, data_dir: "Path | None", show) -> int:
    """This process is one of torchrun's workers (p planned with its world size): every rank runs this; rank 0
    prints the errors all ranks share."""
    from mnist_scratch.training.parallel import check

    check(p.cfg)
    try:
        return run_rank(p, world, data_dir, show)
    except PeerLostError:  # this rank's own view: it names itself
        raise
    except MnistScratchError as e:  # raised alike on every rank (same data, same reduced loss): rank 0 says it
        if world.lead:
            raise
        return e.exit_code


def spawned(p, resumed: bool, data_dir: "Path | None", show) -> tuple[int, str, str]:
    """A worker started by `--procs`: (exit code, outcome, message) for the launcher, which prints one line."""
    from mnist_scratch.interrupts import exit_code
    from mnist_scratch.training import checkpoint, distributed

    world = distributed.from_env()
    try:
        if resumed:  # the checkpoint is read here rather than shipped through a pipe
            p = dataclasses.replace(p, ckpt=checkpoint.load(p.out))
        code = run_rank(p, world, data_dir, show)
        return (code, "interrupted", "") if code else (0, "ok", "")
    except PeerLostError as e:
        return 1, "lost", str(e)
    except MnistScratchError as e:
        return e.exit_code, "error", str(e)
    except KeyboardInterrupt as e:  # Ctrl-C (or SIGTERM, as Terminated) before training started
        return exit_code(e), "interrupted", ""
    except Exception as e:  # noqa: BLE001 - one line, as cli.py does
        return 1, "error", f"unexpected error on rank {world.rank}: {type(e).__name__}: {e}"


class WorkersFailed(MnistScratchError):
    """The launcher's one line about its workers; the exit code is theirs."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.exit_code = code


def launch_training(p, data_dir: "Path | None", show) -> int:
    """`--procs N`: check, make sure the dataset is there, start N workers, turn their outcomes into an exit code."""
    from mnist_scratch.data import load_dataset
    from mnist_scratch.training.launch import explain, launch
    from mnist_scratch.training.parallel import check

    check(p.cfg)
    load_dataset(data_dir)  # downloaded and verified once, here, before N workers read it
    outcomes = launch(p.cfg.procs, spawned, (dataclasses.replace(p, ckpt=None), p.ckpt is not None, data_dir, show),
                      p.cfg.dist_timeout)
    message, code = explain(outcomes, p.cfg.dist_timeout)
    if message is not None:
        raise (UsageError(message) if code == 2 else WorkersFailed(message, code))
    return code
