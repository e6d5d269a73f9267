"""TrainConfig: dataclass defaults (the tuned recipe) -> TOML file -> command-line flags, strictly validated.

Each field carries its help and its check in `field(metadata=...)`: validation is one loop over the fields, and
the CLI's help text and shown defaults come from the same place, so neither can drift from the rules.
"""

import dataclasses
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from mnist_scratch.atomic import read_bounded
from mnist_scratch.errors import ConfigError, PathError
from mnist_scratch.limits import MAX_LAYERS, check_sizes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LOSSES = ("ce", "mse")
SCHEDULES = ("constant", "onecycle", "cosine")
DEVICES = ("cpu", "cuda", "auto")
SPLITS = ("train", "valid", "test")
ENGINES = ("manual", "reference", "autograd")  # the `name` of each engine class in training/engines.py
PRECISIONS = ("highest", "high", "medium")  # torch.set_float32_matmul_precision's values
LR_RULES = ("valley", "steepest")  # the suggestion rules of training/lr_find.py, the first its default
MAX_NH = 65_536  # a 784 x 65536 float32 weight is 200 MB; wider is a typo, not a model
MAX_SEED = 2**32 - 1  # what every command accepts; torch's generator overflows on much larger seeds
MAX_PROCS = 256  # worker processes on one machine; more is a typo, not a plan
MAX_CONFIG_BYTES = 1 << 20  # a config is a few lines; a bigger file is not one


def parse_nh(value: "str | int | list | tuple") -> tuple[int, ...]:
    """Hidden sizes from '50', '100,50', 50 or [100, 50]; each must be a positive int."""
    if isinstance(value, bool):
        raise ConfigError(f"nh must be hidden sizes like 50 or 100,50, got {value!r}")
    if isinstance(value, int):
        items = [value]
    elif isinstance(value, str):
        try:
            items = [int(p) for p in value.replace(" ", "").split(",") if p != ""]
        except ValueError:
            raise ConfigError(f"nh must be hidden sizes like 50 or 100,50, got {value!r}") from None
    elif isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        items = list(value)
    else:
        raise ConfigError(f"nh must be hidden sizes like 50 or 100,50, got {value!r}")
    if not items or any(n <= 0 for n in items):
        raise ConfigError(f"nh must be one or more positive sizes, got {value!r}")
    if any(n > MAX_NH for n in items):
        raise ConfigError(f"nh sizes must be at most {MAX_NH}, got {value!r}")
    if len(items) > MAX_LAYERS:
        raise ConfigError(f"nh must have at most {MAX_LAYERS} hidden layers, got {len(items)}")
    return tuple(items)


def _nh(value: Any) -> tuple[int, ...]:
    try:
        return parse_nh(value)
    except ConfigError as e:
        raise ConfigError(str(e).removeprefix("nh ")) from None


def _count(value: Any) -> int:
    """A positive integer (epochs, bs)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"must be an integer, got {value!r}")
    if value <= 0:
        raise ConfigError(f"must be positive, got {value}")
    return value


def _seed(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"must be an integer, got {value!r}")
    if not 0 <= value <= MAX_SEED:
        raise ConfigError(f"must be between 0 and {MAX_SEED}, got {value}")
    return value


def _threads(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1024:
        raise ConfigError(f"must be an integer in 0..1024 (0: torch's default), got {value!r}")
    return value


def _procs(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_PROCS:
        raise ConfigError(f"must be an integer in 1..{MAX_PROCS} (worker processes), got {value!r}")
    return value


def _every(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1_000_000:
        raise ConfigError(f"must be an integer in 0..1000000 (0: off), got {value!r}")
    return value


def _num(*, positive: bool = False, below_one: bool = False) -> Callable[[Any], float]:
    """A check for a finite number >= 0 (> 0 when positive, < 1 when below_one)."""
    def check(value: Any) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise ConfigError(f"must be a finite number {'> 0' if positive else '>= 0'}, got {value}")
        if below_one and value >= 1:
            raise ConfigError(f"must be below 1, got {value}")
        return value
    return check


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ConfigError(f"must be one of {', '.join(choices)}, got {value!r}")
        return value
    return check


MODEL, OPTIMISER, DATA, RUN, STATS, PARALLEL, ADVANCED = (  # the --help panels, in this order
    "Model", "Optimiser", "Data", "Run & output", "Statistics & logs", "Parallel", "Advanced")


def opt(default: Any, help: str, check: Callable[[Any], Any], choices: "tuple[str, ...] | None" = None,
        panel: str = OPTIMISER) -> Any:
    """A config field: its default, its help line, its check (value -> value in the field's type), its choices and
    the --help panel it is listed in."""
    return field(default=default, metadata={"help": help, "check": check, "choices": choices, "panel": panel})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; saved with every result. The defaults are the tuned recipe."""

    nh: tuple[int, ...] = opt((50,), "Hidden sizes: 50, or 100,50 for two hidden layers.", _nh, panel=MODEL)
    loss: str = opt("ce", "ce: 10 outputs, softmax cross-entropy; mse: the lesson's one output.", _one_of(LOSSES),
                    LOSSES, MODEL)
    epochs: int = opt(5, "Passes over the 50,000 training images.", _count)
    bs: int = opt(64, "Batch size.", _count)
    lr: float = opt(0.05, "Peak learning rate.", _num(positive=True))
    momentum: float = opt(0.9, "SGD momentum (0: plain SGD).", _num(below_one=True))
    weight_decay: float = opt(1e-3, "L2 weight decay, as torch.optim.SGD applies it.", _num())
    lr_schedule: str = opt("onecycle", "Learning rate over the run: constant, onecycle (warm up, anneal) or "
                           "cosine.", _one_of(SCHEDULES), SCHEDULES)
    seed: int = opt(42, "Seed of the init and of every epoch's shuffle.", _seed, panel=RUN)
    device: str = opt("cpu", "cpu, cuda, or auto (cuda when there is one).", _one_of(DEVICES), DEVICES, ADVANCED)
    engine: str = opt("manual", "manual: the fused hand-written backward pass; reference: the readable lesson "
                      "classes; autograd: the same model by PyTorch autograd.", _one_of(ENGINES), ENGINES, ADVANCED)
    threads: int = opt(0, "torch CPU threads (0: torch's default, one per core); 1 is steadier on a busy machine.",
                       _threads, panel=ADVANCED)
    matmul_precision: str = opt(
        "highest", "float32 matmuls: highest (exact), high (TF32 on GPUs), medium (bfloat16 GEMMs where the "
        "hardware has them).", _one_of(PRECISIONS), PRECISIONS, ADVANCED)
    procs: int = opt(1, "Worker processes on this machine, each training on its share of every batch (data "
                     "parallel; gloo on the CPU, NCCL on CUDA). Under torchrun the world comes from torchrun.",
                     _procs, panel=PARALLEL)
    dist_timeout: float = opt(60.0, "Seconds a worker waits for the others (the process-group timeout): a dead or "
                              "hung worker stops the rest after at most this long.", _num(positive=True),
                              panel=PARALLEL)
    stats_every: int = opt(100, "Record layer statistics every this many steps (0: off); see `plot`.", _every,
                           panel=STATS)

    def to_dict(self) -> dict[str, Any]:
        """A JSON/TOML-friendly dict."""
        d = dataclasses.asdict(self)
        d["nh"] = list(self.nh)
        return d


def meta(name: str) -> dict[str, Any]:
    """A field's metadata: help, check, choices."""
    return TrainConfig.__dataclass_fields__[name].metadata


def default_text(name: str) -> str:
    """A field's default as a user types it (50,100 for nh)."""
    value = TrainConfig.__dataclass_fields__[name].default
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def merge(base: TrainConfig, values: dict[str, Any], where: "str | None" = None) -> TrainConfig:
    """base with values applied; unknown keys and wrong types raise ConfigError naming the key and where.

    where=None means the values are command-line flags, named as --flag in errors.
    """
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        known = ", ".join(sorted(names))
        keys = f"key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
        raise ConfigError(f"unknown {keys} in {where or 'the options'} (known keys: {known})")
    out = {}
    for k, v in values.items():
        try:
            out[k] = meta(k)["check"](v)
        except ConfigError as e:
            label = f"--{k.replace('_', '-')}" if where is None else f"{k} in {where}"
            raise ConfigError(f"{label} {e}") from None
    cfg = dataclasses.replace(base, **out)
    check_sizes(cfg.nh, cfg.loss, cfg.bs, where)  # each size in range, their products too
    return cfg


def shipped() -> dict[str, str]:
    """The configs that come with the package: name -> its first comment line."""
    out = {}
    for f in sorted(resources.files("mnist_scratch.configs").iterdir(), key=lambda f: f.name):
        if f.name.endswith(".toml"):
            first = f.read_text(encoding="utf-8").splitlines()[0]
            out[f.name.removesuffix(".toml")] = first.lstrip("# ").strip()
    return out


def locate(spec: "str | Path") -> "Path | Any":
    """A config path, or the shipped config of that name (`lesson`, `wide`, ...); ConfigError for neither."""
    text = str(spec)
    if Path(text).suffix == ".toml" or "/" in text or Path(text).exists():
        return Path(text)
    if text in shipped():
        return resources.files("mnist_scratch.configs") / f"{text}.toml"
    raise ConfigError(f"--config {text} is neither a .toml file nor a shipped config (shipped: "
                      f"{', '.join(shipped())}; `--config list` describes them)")


def read_toml(path) -> dict[str, Any]:
    """The TOML file's table, or ConfigError with a one-line reason."""
    try:
        if isinstance(path, Path):  # a FIFO or device is refused (PathError), never waited on
            raw = read_bounded(path, MAX_CONFIG_BYTES)
        else:  # a shipped config inside the package
            with path.open("rb") as f:
                raw = f.read(MAX_CONFIG_BYTES + 1)
            raw = raw if len(raw) <= MAX_CONFIG_BYTES else None
        if raw is None:
            raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES:,} bytes: not a config")
        return tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except PathError as e:  # a folder, FIFO or device: refused, never read
        raise ConfigError(f"config file {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} nests too deeply to be a config") from None


def resolve(path: "str | Path | None", flags: dict[str, Any]) -> TrainConfig:
    """Defaults, then the TOML file or shipped config (if any), then the flags that were given (not None)."""
    cfg = TrainConfig()
    if path is not None:
        where = locate(path)
        cfg = merge(cfg, read_toml(where), str(path))
    return merge(cfg, {k: v for k, v in flags.items() if v is not None})
