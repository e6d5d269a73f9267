"""A training run on disk: its folder, resolved config, per-epoch metrics (JSON lines) and checkpoint."""

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from mnist_scratch.atomic import append_text, atomic_write, check_target, read_bounded, shown, sweep
from mnist_scratch.config import TrainConfig
from mnist_scratch.errors import MnistScratchError, PathError, UsageError
from mnist_scratch.interrupts import deferred
from mnist_scratch.limits import check_threads
from mnist_scratch.training import checkpoint
from mnist_scratch.training.fit import Callback, EpochStats, Stop

METRICS = "metrics.jsonl"
CONFIG = "config.json"
RUN_FILES = (checkpoint.WEIGHTS, METRICS, CONFIG)  # what a run writes; nothing else in its folder is touched
LOCK = ".mnist-scratch-run.lock"  # held while a run writes; its presence marks the folder as a run's
METRICS_CAP = 64 << 20  # about 150 bytes an epoch


def new_run_dir(root: Path, cfg: TrainConfig) -> Path:
    """A fresh timestamped folder under root, named after the model."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-nh{'-'.join(map(str, cfg.nh))}-{cfg.loss}"
    path, k = root / name, 1
    while path.exists():
        k += 1
        path = root / f"{name}-{k}"
    return path


def resolve_device(name: str) -> torch.device:
    """cpu, cuda or auto (cuda when available) -> a torch.device."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but torch sees no CUDA device; use --device cpu or auto")
    return torch.device(name)


class Recorder(Callback):
    """Writes each finished epoch to the run folder: checkpoint, config (when due) and a metrics line."""

    def __init__(self, out: Path, cfg: TrainConfig, mean: float, std: float, fresh: bool):
        self.out, self.cfg, self.mean, self.std = out, cfg, mean, std
        self.config_due = True
        try:
            out.mkdir(parents=True, exist_ok=True)
            sweep(out, RUN_FILES)  # temp files of a killed run are never used
            if fresh:  # a resumed run's config.json changes only once one of its epochs is saved
                self._write_config()
                atomic_write(out / METRICS, lambda p: p.write_text(""))
        except OSError as e:
            raise MnistScratchError(f"cannot write the run folder {shown(out)}: {e.strerror or e}") from None

    def _write_config(self) -> None:
        atomic_write(self.out / CONFIG, lambda p: p.write_text(json.dumps(self.cfg.to_dict(), indent=2)
                                                                          + "\n"))
        self.config_due = False

    @property
    def checkpoint_path(self) -> Path:
        return self.out / checkpoint.WEIGHTS

    def epoch_end(self, stats: EpochStats, state: dict) -> None:
        try:
            checkpoint.save(self.checkpoint_path, state, self.cfg, stats.epoch, self.mean, self.std)
            if self.config_due:
                self._write_config()
            append_text(self.out / METRICS, json.dumps(dataclasses.asdict(stats)) + "\n")
        except OSError as e:
            raise MnistScratchError(f"cannot save the checkpoint in {shown(self.out)}: {e.strerror or e}") from None


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold the run folder's lock while a run writes to it: a second run into the same folder is refused at once
    (never interleaved). The lock file also marks the folder as a run's own (see check_fresh_out)."""
    from filelock import FileLock, Timeout

    path = out / LOCK
    try:
        out.mkdir(parents=True, exist_ok=True)
        check_target(path)  # a link there would have the lock truncate the file it names
        lock = FileLock(path, timeout=0)
        lock.acquire()
    except Timeout:
        raise MnistScratchError(f"another mnist-scratch process is writing the run in {shown(out)} (it holds "
                                f"{LOCK}); wait for it to finish or choose another --out") from None
    except OSError as e:
        raise MnistScratchError(f"cannot write the run folder {shown(out)}: {e.strerror or e}") from None
    try:
        yield
    finally:
        lock.release()


def read_metrics(out: Path) -> list[dict]:
    """The per-epoch rows recorded in a run folder; a line cut short (a killed run's last append) is skipped."""
    path, rows = out / METRICS, []
    try:
        data = read_bounded(path, METRICS_CAP, follow=False)
    except FileNotFoundError:
        return rows
    if data is None:
        raise MnistScratchError(f"{shown(path)} is larger than {METRICS_CAP:,} bytes; it is not a run's metrics")
    for line in data.decode(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: a line nested absurdly deep
            continue
        if isinstance(row, dict) and type(row.get("epoch")) is int:
            rows.append(row)
    return rows


def check_fresh_out(out: Path) -> None:
    """UsageError when out already holds a run that a fresh run would overwrite."""
    if os.path.lexists(out) and not out.is_dir():
        raise PathError(f"--out {shown(out)} exists and is not a folder; choose another --out")
    held = [n for n in (checkpoint.WEIGHTS, METRICS) if (out / n).is_file() and (out / n).stat().st_size]
    if held:
        raise UsageError(f"--out {shown(out)} already holds a run ({', '.join(held)}); continue it with --resume "
                         f"{shown(out)} or choose another --out")
    foreign = [n for n in RUN_FILES if os.path.lexists(out / n)] if not os.path.lexists(out / LOCK) else []
    if foreign:  # only a folder a run created (it holds the lock file) has files a new run may replace
        raise PathError(f"--out {shown(out)} holds files no mnist-scratch run wrote ({', '.join(foreign)}); "
                        "nothing was touched: choose another --out")


@dataclasses.dataclass
class Run:
    """A finished (or stopped) training run."""

    cfg: TrainConfig
    out: Path
    device: str
    epochs: list[EpochStats]  # the epochs this invocation trained
    interrupted: bool
    seconds: float
    history: list[dict] = dataclasses.field(default_factory=list)  # every recorded epoch, earlier runs' too
    checkpoint: "Path | None" = None  # the saved weights, None when no epoch was saved
    signal: "int | None" = None  # the signal that stopped it (SIGINT or SIGTERM); None when it was not stopped


@dataclasses.dataclass
class Plan:
    """What `train` will do: the resolved config, the folder, and the checkpoint it resumes from (if any)."""

    cfg: TrainConfig
    out: Path
    ckpt: "checkpoint.Checkpoint | None" = None


def plan(config: "str | Path | None", flags: dict, *, out: "Path | None" = None, resume: "Path | None" = None,
         root: Path = Path("runs"), stats: bool = False, rules: bool = False, world_size: "int | None" = None
         ) -> Plan:
    """Resolve a fresh run (defaults -> config -> flags, a new or empty --out) or a resumed one (its own config).

    stats: record statistics even where the config turned them off (--stats); rules: a run on the learner's rules,
    recorded as the reference engine (the same math, so evaluate and --resume work); world_size: torchrun's
    WORLD_SIZE, the number of processes.
    """
    from mnist_scratch.config import merge, resolve

    given = {k: v for k, v in flags.items() if v is not None}
    if world_size is not None and given.get("procs", world_size) != world_size:
        raise UsageError(f"--procs {given['procs']} does not match torchrun's WORLD_SIZE {world_size}; drop --procs "
                         "under torchrun")
    if resume is not None:
        if config is not None:
            raise UsageError("--resume continues with the run's own config; drop --config")
        ckpt = checkpoint.load(resume)
        cfg = merge(ckpt.cfg, given)
        check_resumable(cfg, ckpt)
        return Plan(_final(cfg, stats, rules, world_size), ckpt.path.parent, ckpt)
    cfg = _final(resolve(config, given), stats, rules, world_size)
    out = out or new_run_dir(root, cfg)
    check_fresh_out(out)
    return Plan(cfg, out)


def _final(cfg: TrainConfig, stats: bool, rules: bool, world_size: "int | None") -> TrainConfig:
    """cfg with what the flags beyond the config's keys change: --stats, --rules, torchrun's world size."""
    changes: dict = {}
    if stats and not cfg.stats_every:  # --stats turns recording on where a config turned it off
        changes["stats_every"] = TrainConfig.__dataclass_fields__["stats_every"].default
    if rules:
        changes["engine"] = "reference"
    if world_size is not None:
        changes["procs"] = world_size
    return dataclasses.replace(cfg, **changes) if changes else cfg


def check_resumable(cfg: TrainConfig, ckpt: checkpoint.Checkpoint) -> None:
    """UsageError when the checkpoint already holds every epoch cfg asks for, or the model would differ."""
    if (cfg.nh, cfg.loss) != (ckpt.cfg.nh, ckpt.cfg.loss):
        raise UsageError(f"{ckpt.path} holds a model with nh {ckpt.cfg.nh} and loss {ckpt.cfg.loss}; "
                         "--nh and --loss cannot change on --resume")
    if ckpt.epoch >= cfg.epochs:
        raise UsageError(f"the run in {ckpt.path.parent} already finished {ckpt.epoch} of {cfg.epochs} epochs; "
                         f"pass --epochs N (N > {ckpt.epoch}) to train further")


def train_run(p: Plan, data, display: "list[Callback] | tuple" = (), engine_factory=None, world=None,
              tensorboard: "Path | None" = None) -> Run:
    """Build the model from the plan's config (or its checkpoint), train it, record every epoch in its folder.

    display: the callbacks that show the run (rank 0's only); engine_factory(model, cfg) replaces cfg.engine's class
    (train --rules: the learner's own rules); tensorboard: also write TensorBoard events into that folder.
    world (a distributed.World, the process group joined): train this rank's share of every batch; rank 0 alone
    locks, records and displays.
    """
    from mnist_scratch.lesson.nn import make_model
    from mnist_scratch.training.engines import ENGINES
    from mnist_scratch.training.fit import fit

    cfg, out, ckpt = p.cfg, p.out, p.ckpt
    if cfg.bs > len(data.x_train):  # a larger batch buffer is only wasted memory (or a failed huge allocation)
        raise UsageError(f"--bs {cfg.bs} is larger than the train split ({len(data.x_train):,} rows); "
                         f"use at most {len(data.x_train)}")
    check_threads(cfg.threads or None)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    device = data.x_train.device
    lead = world is None or world.lead  # the one process that writes the run folder
    with run_lock(out) if lead else contextlib.nullcontext():  # until the last epoch is recorded, no other run
        if lead and ckpt is None:  # writes to out
            check_fresh_out(out)  # again, under the lock: another run may have started here meanwhile
        elif lead and checkpoint.load(ckpt.path).epoch != ckpt.epoch:
            raise MnistScratchError(f"the run in {shown(out)} moved on while this command started; run it again")
        model = make_model(cfg.nh, cfg.loss, generator=torch.Generator().manual_seed(cfg.seed), device=device)
        engine = (engine_factory or ENGINES[cfg.engine])(model, cfg)
        if world is not None:
            from mnist_scratch.training.parallel import DataParallel

            engine = DataParallel(engine, cfg)
        start = 0
        if ckpt is not None:
            engine.load_state({k: v.to(device) for k, v in ckpt.state.items()})
            start = ckpt.epoch
        if ckpt is not None and lead:
            kept = "".join(json.dumps(r) + "\n" for r in read_metrics(out) if r["epoch"] <= start)
            try:
                atomic_write(out / METRICS, lambda p: p.write_text(kept))
            except OSError as e:
                raise MnistScratchError(f"cannot write the run folder {shown(out)}: {e.strerror or e}") from None
        stop, cbs = Stop(), []
        if lead:
            from mnist_scratch.training.statslog import stats_callbacks

            logs = stats_callbacks(out, cfg, len(data.x_train), start, tensorboard)  # before the Recorder writes
            cbs = [Recorder(out, cfg, data.mean, data.std, fresh=ckpt is None), *logs, *display]
        if world is None:
            cbs.append(stop)
        else:  # the ranks stop together: this rank's request rides on the next all_reduce
            from mnist_scratch.training.parallel import ParallelCallback

            cbs.insert(0, ParallelCallback(engine, stop))  # first: the ranks agree before rank 0 records
        with deferred(stop.ask):  # Ctrl-C and SIGTERM: stop after the current batch
            res = fit(engine, data, cfg, cbs, start_epoch=start)
    weights = out / checkpoint.WEIGHTS
    return Run(cfg, out, str(device), res.epochs, res.interrupted, time.perf_counter() - t0, read_metrics(out),
               weights if weights.exists() else None, stop.signum or None)
