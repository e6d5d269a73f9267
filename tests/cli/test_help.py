"""Every command's --help shows its defaults and choices; flags show no type; shell completion offers choices,
shipped config names and run folders."""

import dataclasses
import re

import pytest
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.config import DEVICES, ENGINES, LOSSES, SCHEDULES, SPLITS, TrainConfig, default_text

runner = CliRunner()
WIDE = {"COLUMNS": "300", "NO_COLOR": "1", "TERM": "dumb"}  # one line per option, no escape codes
COMMANDS = sorted(c.name for c in app.registered_commands)


def help_of(*cmd: str) -> str:
    r = runner.invoke(app, [*cmd, "--help"], env=WIDE)
    assert r.exit_code == 0, r.output
    return r.stdout


def option_line(text: str, flag: str) -> str:
    """The help line of option `flag` (its first line: name, type, help, default)."""
    lines = [ln for ln in text.splitlines() if re.search(rf"│ {re.escape(flag)}\b", ln)]
    assert lines, f"{flag} not in help"
    return lines[0]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_help_with_an_example_and_no_bool_metavar(cmd):
    text = help_of(cmd)
    assert "Example" in text, cmd
    assert "<bool>" not in text, cmd
    assert "--help" in text


def test_train_help_shows_every_config_default_from_the_dataclass():
    text = help_of("train")
    for f in dataclasses.fields(TrainConfig):
        line = option_line(text, f"--{f.name.replace('_', '-')}")
        assert f"[default: {default_text(f.name)}]" in line, line
        assert f.metadata["help"].split()[0] in line, line


def test_defaults_follow_the_dataclass_not_a_copy():
    """The help of --lr reads TrainConfig's default: what help shows is what a run uses."""
    assert default_text("lr") == str(TrainConfig().lr) and "[default: 0.05]" in option_line(help_of("train"), "--lr")


@pytest.mark.parametrize(("cmd", "flag", "values"), [
    ("train", "--loss", LOSSES), ("train", "--lr-schedule", SCHEDULES), ("train", "--device", DEVICES),
    ("train", "--engine", ENGINES), ("gradcheck", "--loss", LOSSES), ("gradcheck", "--dtype", ("float32", "float64")),
    ("show", "--split", SPLITS), ("bench", "--device", DEVICES), ("download", "--source", ("auto", "web", "index",
                                                                                          "local")),
])
def test_choices_are_listed(cmd, flag, values):
    assert f"<{'|'.join(values)}>" in option_line(help_of(cmd), flag)


@pytest.mark.parametrize(("cmd", "flag", "default"), [
    ("gradcheck", "--nh", "50"), ("gradcheck", "--bs", "64"), ("gradcheck", "--dtype", "float32"),
    ("show", "--split", "valid"), ("show", "--index", "(0..9)"), ("bench", "--repeats", "5"),
    ("bench", "--steps", "(one epoch)"), ("init", "--depth", "8"), ("matmul", "--rows", "5"),
    ("download", "--source", "auto"),
])
def test_other_commands_show_defaults(cmd, flag, default):
    assert f"[default: {default}]" in option_line(help_of(cmd), flag)


def test_root_help_offers_completion():
    text = help_of()
    assert "--install-completion" in text and "--show-completion" in text


def complete(words: str, cwd=None) -> list[str]:
    """What bash completion would offer after `words` (Typer's completion protocol, no shell needed)."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)  # the index of the word being completed
    env = {"_MNIST_SCRATCH_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    r = runner.invoke(app, [], env=env, prog_name="mnist-scratch")
    assert r.exit_code == 0, r.output
    return r.stdout.split()


def test_completion_offers_choices():
    assert complete("mnist-scratch train --engine ") == list(ENGINES)
    assert complete("mnist-scratch show --split ") == list(SPLITS)


def test_completion_offers_shipped_configs_and_run_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "model.safetensors").write_bytes(b"")
    (tmp_path / "runs" / "not-a-run").mkdir()
    assert {"list", "default", "lesson", "wide"} <= set(complete("mnist-scratch train --config "))
    assert complete("mnist-scratch train --config le") == ["lesson"]
    assert complete("mnist-scratch evaluate ") == ["runs/a"]
    assert complete("mnist-scratch train --resume ") == ["runs/a"]


def test_show_completion_prints_a_script_for_the_calling_shell():
    """Typer detects the shell from the parent process, so the command runs under a real bash (in-process, the
    detected shell depends on whatever runs the tests)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe, bash = Path(sys.executable).with_name("mnist-scratch"), shutil.which("bash")
    if not exe.exists() or bash is None:
        pytest.skip("needs the installed mnist-scratch script and bash")
    r = subprocess.run([bash, "-c", f"'{exe}' --show-completion; true"], capture_output=True, text=True, timeout=60)
    assert "_MNIST_SCRATCH_COMPLETE=complete_bash" in r.stdout, r.stdout + r.stderr
