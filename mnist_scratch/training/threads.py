"""How many torch threads a run uses when none is given: from its step's work and the CPUs it may really use.

A step of a small model is a handful of small GEMMs: a second thread gains little on an idle machine, and while
another process keeps a core busy every parallel region waits for the thread that lost its core, several times
slower than one thread. So small steps get one thread; large ones get one thread per PER_THREAD of a step's
matmul work, at most the usable CPUs (affinity and cgroup quota, not the machine's count). Pure: no torch import,
so the CLI can set OpenMP's wait policy before torch starts its thread pool.
"""

import math
import os
from pathlib import Path

PER_THREAD = 1e8  # matmul FLOPs of one step per thread: below this, one more thread costs more than it gains
WAIT_POLICY = "PASSIVE"  # OpenMP threads sleep at a barrier instead of spinning on a core another process needs
CGROUP = Path("/sys/fs/cgroup")


def step_flops(nh: tuple[int, ...], bs: int, n_out: int = 10, n_in: int = 784) -> float:
    """Matmul FLOPs of one training step: forward and weight gradient of every layer, input gradient above the first."""
    sizes = (n_in, *nh, n_out)
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    return float(sum(2 * bs * a * b * (2 if i == 0 else 3) for i, (a, b) in enumerate(pairs)))


def quota(cpu_max: "str | None" = None, cfs: "tuple[str, str] | None" = None) -> "float | None":
    """CPUs a cgroup quota allows, from cgroup v2's cpu.max ("max 100000", "150000 100000") or v1's
    (cfs_quota_us, cfs_period_us) ("-1" is no limit); None when there is no limit or no readable figure."""
    try:
        if cpu_max is not None:
            q, _, period = cpu_max.strip().partition(" ")
            if q != "max":
                return int(q) / int(period or 100_000)
        if cfs is not None and int(cfs[0]) > 0:
            return int(cfs[0]) / int(cfs[1])
    except (ValueError, ZeroDivisionError):
        return None
    return None


def _read(path: Path) -> "str | None":
    try:
        with open(path, "rb") as f:
            return f.read(256).decode("ascii", "replace")
    except OSError:
        return None


def read_quota(root: Path = CGROUP, proc_cgroup: Path = Path("/proc/self/cgroup")) -> "float | None":
    """This process's cgroup CPU quota: the tightest cpu.max from its v2 group up to the root, else v1's cfs_*."""
    own = next((line[3:].strip() for line in (_read(proc_cgroup) or "").splitlines() if line.startswith("0::")), "")
    group, found = root / own.strip("/"), []
    while True:  # a parent's limit binds its children too
        found.append(quota(cpu_max=_read(group / "cpu.max")))
        if group == root or root not in group.parents:
            break
        group = group.parent
    found.append(quota(cfs=(_read(root / "cpu" / "cpu.cfs_quota_us") or "", _read(root / "cpu" / "cpu.cfs_period_us")
                            or "")))
    limits = [q for q in found if q is not None]
    return min(limits) if limits else None


def usable_cpus(affinity: "int | None" = None, cgroup_quota: "float | None" = None) -> int:
    """CPUs this process may run on: its affinity mask, capped by its cgroup's quota (rounded down, at least 1)."""
    if affinity is None:
        affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cgroup_quota is not None:
        affinity = min(affinity, math.floor(cgroup_quota))
    return max(1, affinity)


def auto_threads(nh: tuple[int, ...], bs: int, cpus: int) -> int:
    """The default thread count: one per PER_THREAD FLOPs of a step, at least 1, at most cpus."""
    return max(1, min(cpus, int(step_flops(nh, bs) // PER_THREAD)))


def default_threads(nh: tuple[int, ...], bs: int) -> int:
    """auto_threads for this machine: the CPUs from the affinity mask and the cgroup quota."""
    return auto_threads(nh, bs, usable_cpus(cgroup_quota=read_quota()))


def quiet_waits(environ=os.environ) -> None:
    """Ask OpenMP to sleep rather than spin at barriers, unless the user chose; only works before torch starts."""
    environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
