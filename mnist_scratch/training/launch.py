"""`--procs N`: N worker processes on this machine, started by torch.multiprocessing and watched until they end.

This process hosts the rendezvous store on 127.0.0.1 (a free port, chosen by the OS), as torchrun's agent does;
the workers find it through torchrun's variables and join with init_process_group("env://"). Each worker leaves
its outcome in the store, so this process can tell which rank caused a failure: one that died (its exit code
says how), one that hung (alive after the others gave up on it), or one that raised an error.
"""

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import wait

import torch.distributed as dist
import torch.multiprocessing as mp

OUTCOME = "mnist-scratch/outcome/{}"
GRACE = 2.0  # seconds between the last healthy-looking exit and killing a rank the others gave up on
SLACK = 10.0  # past the process-group timeout, the longest a rank may linger after a failure or Ctrl-C


@dataclass
class Outcome:
    """How one worker ended."""

    rank: int
    pid: int
    exitcode: "int | None"  # negative: killed by that signal (Process.exitcode's convention)
    kind: "str | None"  # what the worker reported: ok, interrupted, error, lost; None: nothing (died, hung)
    text: str  # the error message, or a worker's result (JSON) for the bench
    hung: bool = False  # still running after the others gave up on it: killed here


def _worker(local_rank: int, n: int, port: int, fn: Callable, args: tuple) -> None:
    """In the child: torchrun's variables, then fn(*args) -> (exit code, kind, text), reported to the store."""
    os.environ.update(RANK=str(local_rank), WORLD_SIZE=str(n), LOCAL_RANK=str(local_rank),
                      LOCAL_WORLD_SIZE=str(n), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                      TORCHELASTIC_USE_AGENT_STORE="True")  # the store lives in the launcher, not in rank 0
    code, kind, text = fn(*args)
    try:
        store = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=timedelta(seconds=30))
        store.set(OUTCOME.format(local_rank), json.dumps([kind, text]))
    finally:
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)  # skip interpreter teardown: after a failure a process group's threads may wait on a peer


def _reported(store, rank: int) -> "tuple[str, str] | None":
    key = OUTCOME.format(rank)
    return tuple(json.loads(store.get(key))) if store.check([key]) else None


def launch(n: int, fn: Callable, args: tuple, timeout: float, limit: "float | None" = None) -> list[Outcome]:
    """Run fn(*args) in n spawned workers (ranks 0..n-1); wait for all, never longer than the timeouts allow.

    Ctrl-C or SIGTERM here is passed on to every worker (they stop together after the current step). After a failure
    (a worker gone without a report, or with an error) the others get timeout + SLACK seconds to stop; a worker
    alive when every other one has given up on it is the hung one: it is killed. limit: seconds after which every
    worker still running is killed and counted as hung (tests and benchmarks: never an unbounded wait).
    """
    store = dist.TCPStore("127.0.0.1", 0, None, True, timedelta(seconds=timeout), wait_for_workers=False)
    ctx = mp.start_processes(_worker, args=(n, store.port, fn, args), nprocs=n, join=False, start_method="spawn")
    procs, hung, deadline = ctx.processes, set(), [None]
    end = None if limit is None else time.monotonic() + limit

    def forward(signum, frame):  # a terminal's Ctrl-C reaches the workers too; a kill of this pid does not
        for p in procs:
            if p.exitcode is None:
                os.kill(p.pid, signum)
        deadline[0] = deadline[0] or time.monotonic() + timeout + SLACK

    old = {}
    try:
        for s in (signal.SIGINT, signal.SIGTERM):
            old[s] = signal.signal(s, forward)
    except ValueError:  # not the main thread
        pass
    try:
        last_exit = None
        while any(p.exitcode is None for p in procs):
            wait([p.sentinel for p in procs if p.exitcode is None], timeout=0.2)
            now = time.monotonic()
            done = [(r, p) for r, p in enumerate(procs) if p.exitcode is not None]
            if len(done) != (last_exit or (0, 0))[0]:
                last_exit = (len(done), now)
            reports = {r: _reported(store, r) for r, _ in done}
            failed = [r for r, p in done if reports[r] is None or reports[r][0] not in ("ok", "interrupted")]
            if failed and deadline[0] is None:
                deadline[0] = now + timeout + SLACK
            gave_up = done and all(reports[r] is not None and reports[r][0] == "lost" for r, _ in done)
            if (gave_up and now > last_exit[1] + GRACE) or (deadline[0] and now > deadline[0]) or (end and now > end):
                for r, p in enumerate(procs):
                    if p.exitcode is None:
                        hung.add(r)
                        p.kill()
                        p.join(5)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for p in procs:
            if p.exitcode is None:
                p.kill()
            p.join(5)
    out = []
    for r, p in enumerate(procs):
        rep = _reported(store, r)
        out.append(Outcome(r, p.pid, p.exitcode, rep[0] if rep else None, rep[1] if rep else "", r in hung))
    return out


def explain(outcomes: list[Outcome], timeout: float) -> tuple["str | None", int]:
    """The one line to print (None: nothing) and the exit code for the workers' outcomes."""
    errors = [o for o in outcomes if o.kind == "error"]
    if errors:  # an error every rank raised (rank 0's is first) or one rank's own
        return errors[0].text, errors[0].exitcode or 1
    for o in outcomes:
        if o.hung:
            return (f"rank {o.rank} (pid {o.pid}) stopped responding: the other ranks gave up on it after the "
                    f"{timeout:g} s process-group timeout (--dist-timeout), and it was killed"), 1
        if o.kind is None and o.exitcode != 0:
            how = (f"killed by {signal.Signals(-o.exitcode).name}" if o.exitcode and o.exitcode < 0
                   else f"exit code {o.exitcode}")
            return f"rank {o.rank} (pid {o.pid}) died ({how}); the other ranks stopped", 1
    lost = [o for o in outcomes if o.kind == "lost"]
    if lost:
        return lost[0].text, 1
    stopped = [o.exitcode for o in outcomes if o.kind == "interrupted"]  # 130 after Ctrl-C, 143 after SIGTERM
    return None, stopped[0] if stopped else 0
