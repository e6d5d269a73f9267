"""Options shared by several commands, and the options built from TrainConfig's fields."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from mnist_scratch.config import (
    DATA,
    DEVICES,
    ENGINES,
    LOSSES,
    PRECISIONS,
    RUN,
    SCHEDULES,
    TrainConfig,
    default_text,
    meta,
    shipped,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="MNIST_SCRATCH_DATA",
        help="Cache folder for the dataset (default: the per-user cache folder).",
        show_default=False,
        rich_help_panel=DATA,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.",
                                    rich_help_panel=RUN)]


def choices(name: str, values: "tuple[str, ...]") -> type[Enum]:
    """An Enum of values, so Typer validates them, lists them in --help and completes them."""
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]


Loss = choices("Loss", LOSSES)
Schedule = choices("Schedule", SCHEDULES)
Device = choices("Device", DEVICES)
EngineName = choices("EngineName", ENGINES)
Precision = choices("Precision", PRECISIONS)
Dtype = choices("Dtype", ("float32", "float64"))


def config_option(name: str, **kw: Any) -> Any:
    """A `train` option for TrainConfig field `name`, its help taken from the field."""
    return typer.Option(help=meta(name)["help"], rich_help_panel=meta(name)["panel"], **kw)


def config_default(name: str) -> Any:
    """TrainConfig's default for `name` as the command-line parameter's default (nh as '50' or '100,50')."""
    return default_text(name) if name == "nh" else TrainConfig.__dataclass_fields__[name].default


def given(ctx: typer.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The values the user typed (not defaulted), enums unwrapped: these override the config file."""
    return {k: getattr(v, "value", v) for k, v in values.items()
            if ctx.get_parameter_source(k).name not in ("DEFAULT", "DEFAULT_MAP")}


def complete_config(incomplete: str) -> list[str]:
    """Shipped config names and .toml files in the current folder, for shell completion of --config."""
    names = ["list", *shipped(), *(str(p) for p in Path(".").glob("*.toml")), *(str(p) for p in
             Path("configs").glob("*.toml"))]
    return [n for n in names if n.startswith(incomplete)]


def complete_run(incomplete: str) -> list[str]:
    """Run folders (folders holding model.safetensors) under runs/ or the folder typed so far."""
    base = Path(incomplete).parent if incomplete else Path("runs")
    try:
        found = sorted(str(p.parent) for p in base.glob("*/model.safetensors"))
        if not incomplete:
            found = [str(Path("runs") / Path(p).name) for p in found]
    except OSError:
        return []
    return [p for p in found if p.startswith(incomplete)]
