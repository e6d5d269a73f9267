"""Layered config: defaults -> TOML -> flags; unknown keys and wrong types rejected."""

from pathlib import Path

import pytest

from mnist_scratch.config import TrainConfig, merge, parse_nh, resolve, shipped
from mnist_scratch.errors import ConfigError, UsageError

CONFIGS = Path(__file__).resolve().parents[2] / "mnist_scratch" / "configs"


def test_layers_apply_in_order(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('nh = [100, 50]\nlr = 0.3\nloss = "mse"\n')
    cfg = resolve(f, {"lr": 0.2, "epochs": None})
    assert cfg.nh == (100, 50) and cfg.loss == "mse" and cfg.lr == 0.2 and cfg.epochs == TrainConfig().epochs


@pytest.mark.parametrize("text,match", [
    ("nhh = 50\n", "unknown key nhh"),
    ('bs = "64"\n', "bs in .* must be an integer"),
    ("bs = 0\n", "bs in .* must be positive"),
    ("lr = -1\n", "lr in .* > 0"),
    ("lr = nan\n", "lr in .* finite"),
    ("momentum = 1.0\n", "momentum in .* below 1"),
    ('loss = "hinge"\n', "loss in .* one of ce, mse"),
    ("nh = [50, 0]\n", "nh in .* positive"),
    ("epochs = true\n", "epochs in .* integer"),
    ("lr = [\n", "not valid TOML"),
])
def test_bad_files_are_rejected_with_the_key_named(tmp_path, text, match):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match) as e:
        resolve(f, {})
    assert isinstance(e.value, UsageError) and e.value.exit_code == 2


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(tmp_path / "nope.toml", {})
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError):
        resolve(tmp_path / "bin.toml", {})


def test_flags_are_named_as_flags():
    with pytest.raises(ConfigError, match="^--lr-schedule must be one of"):
        merge(TrainConfig(), {"lr_schedule": "linear"})
    with pytest.raises(ConfigError, match="^--nh must be"):
        merge(TrainConfig(), {"nh": "50,x"})


@pytest.mark.parametrize("value,expected", [("50", (50,)), ("100,50", (100, 50)), (50, (50,)), ([8, 4], (8, 4))])
def test_parse_nh(value, expected):
    assert parse_nh(value) == expected


@pytest.mark.parametrize("value", ["", "0", "-5", "a", "1.5", [], [1, True], True, 2.0])
def test_parse_nh_rejects(value):
    with pytest.raises(ConfigError):
        parse_nh(value)


@pytest.mark.parametrize("name", ["default", "lesson", "wide", "speedrun"])
def test_shipped_configs_load(name):
    cfg = resolve(CONFIGS / f"{name}.toml", {})
    assert isinstance(cfg, TrainConfig)


def test_shipped_configs_say_what_they_are():
    assert resolve(CONFIGS / "lesson.toml", {}).loss == "mse"
    assert resolve(CONFIGS / "lesson.toml", {}).nh == (50,)
    assert resolve(CONFIGS / "wide.toml", {}).nh == (1000,)
    speed = resolve("speedrun", {})
    assert (speed.engine, speed.loss, speed.threads, speed.matmul_precision) == ("manual", "ce", 1, "medium")


def test_threads_key():
    assert merge(TrainConfig(), {"threads": 1}).threads == 1
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(ConfigError, match="^--threads"):
            merge(TrainConfig(), {"threads": bad})


def test_default_config_says_exactly_what_the_defaults_say():
    assert resolve("default", {}) == TrainConfig()
    assert resolve(CONFIGS / "default.toml", {}) == TrainConfig()


def test_shipped_configs_by_name_and_listed():
    assert resolve("lesson", {}).loss == "mse" and resolve("wide", {}).nh == (1000,)
    names = shipped()
    assert {"default", "lesson", "wide"} <= set(names) and all(names.values())


def test_unknown_config_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="neither a .toml file nor a shipped config .*default, lesson") as e:
        resolve("lessons", {})
    assert e.value.exit_code == 2


def test_every_field_carries_help_and_check():
    import dataclasses

    for f in dataclasses.fields(TrainConfig):
        assert f.metadata["help"].strip() and callable(f.metadata["check"]), f.name
        assert f.metadata["check"](f.default) == f.default, f.name  # the defaults pass their own checks


def test_oversized_config_file_is_refused(tmp_path):
    f = tmp_path / "big.toml"
    f.write_text("# " + "x" * (2 << 20) + "\n")
    with pytest.raises(ConfigError, match="larger than"):
        resolve(f, {})
