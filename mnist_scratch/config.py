"""TrainConfig: dataclass defaults -> TOML file -> command-line flags, strictly validated."""

import dataclasses
import math
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mnist_scratch.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LOSSES = ("ce", "mse")
SCHEDULES = ("constant", "onecycle", "cosine")
DEVICES = ("cpu", "cuda", "auto")
MAX_NH = 65_536  # a 784 x 65536 float32 weight is 200 MB; wider is a typo, not a model
MAX_SEED = 2**32 - 1  # what every command accepts; torch's generator overflows on much larger seeds
ENGINES = ("manual", "reference", "autograd")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; saved with every result."""

    nh: tuple[int, ...] = (50,)
    loss: str = "ce"
    epochs: int = 5
    bs: int = 64
    lr: float = 0.1
    momentum: float = 0.0
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    seed: int = 42
    device: str = "cpu"
    engine: str = "manual"
    threads: int = 0  # torch CPU threads; 0 keeps torch's default (one per core)

    def to_dict(self) -> dict[str, Any]:
        """A JSON/TOML-friendly dict."""
        d = dataclasses.asdict(self)
        d["nh"] = list(self.nh)
        return d


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
    return tuple(items)


def _coerce(name: str, value: Any) -> Any:
    """Check one key's type and range; return the value in the field's type."""
    if name == "nh":
        try:
            return parse_nh(value)
        except ConfigError as e:
            raise ConfigError(str(e).removeprefix("nh ")) from None
    if name == "threads":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1024:
            raise ConfigError(f"must be an integer in 0..1024 (0: torch's default), got {value!r}")
        return value
    if name in ("epochs", "bs", "seed"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"must be an integer, got {value!r}")
        if name != "seed" and value <= 0:
            raise ConfigError(f"must be positive, got {value}")
        if name == "seed" and not 0 <= value <= MAX_SEED:
            raise ConfigError(f"must be between 0 and {MAX_SEED}, got {value}")
        return value
    if name in ("lr", "momentum", "weight_decay"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value) or value < 0 or (name == "lr" and value == 0):
            raise ConfigError(f"must be a finite number {'> 0' if name == 'lr' else '>= 0'}, got {value}")
        if name == "momentum" and value >= 1:
            raise ConfigError(f"must be below 1, got {value}")
        return value
    choices = {"loss": LOSSES, "lr_schedule": SCHEDULES, "device": DEVICES, "engine": ENGINES}[name]
    if value not in choices:
        raise ConfigError(f"must be one of {', '.join(choices)}, got {value!r}")
    return value


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
            out[k] = _coerce(k, v)
        except ConfigError as e:
            label = f"--{k.replace('_', '-')}" if where is None else f"{k} in {where}"
            raise ConfigError(f"{label} {e}") from None
    return dataclasses.replace(base, **out)


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML file's table, or ConfigError with a one-line reason."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} nests too deeply to be a config") from None


def resolve(path: "Path | None", flags: dict[str, Any]) -> TrainConfig:
    """Defaults, then the TOML file (if any), then the flags that were given (not None)."""
    cfg = TrainConfig()
    if path is not None:
        cfg = merge(cfg, read_toml(path), str(path))
    return merge(cfg, {k: v for k, v in flags.items() if v is not None})
