"""Every command README.md and docs/ show works as shown: each `mnist-scratch` line parses with the options it
names, README's runs for real on a small stand-in dataset, and the output README shows has the shape it shows."""

import re
import shlex
from pathlib import Path

import pytest
import typer
from trainfakes import small_data
from typer.testing import CliRunner

import mnist_scratch.data
from mnist_scratch.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = ("bash", "sh", "console", "text")
# Commands the docs show that are not the tool's; each is exercised elsewhere or is a long-running server/launcher.
NOT_RUN = {
    "make": "sets up .venv and runs the suite or training: CI runs `make test` itself",
    "torchrun": "a launcher of worker processes: tests/training/test_parallel.py starts ranks itself",
    "tensorboard": "a server that runs until stopped: tests/training/test_tensorboard* read the event files",
    ".venv/bin/python": "tools/mutants.py: tens of minutes, run by `make mutants`",
    "pip": "installs packages from the network: tests/test_install.py installs the built wheel into a fresh venv",
    "otter": "otter-grader is not a dependency (about 70 packages); docs/teachers.md says how it was tried",
    "cat": "shows a file the example before it wrote",
}
runner = CliRunner()


def fences(path: Path):
    """(language, first line number, lines) of every fenced block in path."""
    lang, start, body = None, 0, []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            if lang is None:
                lang, start, body = line[3:].strip(), n + 1, []
            else:
                yield lang, start, body
                lang = None
        elif lang is not None:
            body.append(line)


def commands(path: Path):
    """(line number, argv) of every shell command path shows: bash lines, and `$ ` lines of console/text blocks."""
    for lang, start, body in fences(path):
        if lang not in SHELL:
            continue
        joined, first = "", None
        for n, line in enumerate(body, start):
            if lang in ("console", "text"):
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            if first is None:
                first = n
            joined += line.rstrip("\\").rstrip() + " "
            if line.endswith("\\"):
                continue
            for part in joined.split("&&"):
                argv = shlex.split(part, comments=True)
                if argv:
                    yield first, argv
            joined, first = "", None


EXAMPLES = [(f"{p.relative_to(ROOT)}:{n}", argv) for p in DOCS for n, argv in commands(p)]
TOOL = [(where, argv[1:]) for where, argv in EXAMPLES if argv[0] == "mnist-scratch"]


def test_the_docs_show_commands_and_every_other_program_has_a_reason():
    assert len(TOOL) >= 20, TOOL  # the extraction finds them
    others = {argv[0] for _, argv in EXAMPLES if argv[0] != "mnist-scratch"}
    assert others <= set(NOT_RUN), others - set(NOT_RUN)


@pytest.mark.parametrize(("where", "args"), TOOL, ids=[w for w, _ in TOOL])
def test_every_command_shown_parses(where, args, tmp_path, monkeypatch):
    """Its command exists and takes every option shown, with values of the right type (nothing runs)."""
    monkeypatch.chdir(tmp_path)
    group = typer.main.get_command(app)
    name, *rest = args
    cmd = group.get_command(group.make_context("mnist-scratch", [name]), name)
    assert cmd is not None, f"{where}: no command {name}"
    for a in rest:  # a run folder or lesson file the docs made earlier
        if a.startswith("runs/"):
            Path(a).mkdir(parents=True, exist_ok=True)
        elif a.endswith((".py", ".toml", ".ipynb")) and name != "exercise":
            Path(a).parent.mkdir(parents=True, exist_ok=True)
            Path(a).write_text("")
    cmd.make_context(name, rest)


@pytest.fixture
def lesson_dir(tmp_path, monkeypatch):
    """A folder to run in, with the small stand-in dataset served to every command."""
    data = small_data(n_train=1500)
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: data)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def tool(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "80", "NO_COLOR": "1"})


@pytest.mark.slow
def test_readme_lesson_route_runs_as_shown(lesson_dir):
    readme = ROOT / "README.md"
    route = [argv[1:] for _, argv in commands(readme) if argv[:2] in (["mnist-scratch", "exercise"],
                                                                      ["mnist-scratch", "check"])]
    rules = [argv[1:] for _, argv in commands(readme) if argv[1:3] == ["train", "--rules"]]
    assert route == [["exercise", "lesson.py"], ["check", "lesson.py"]] and len(rules) == 1
    wrote = tool(*route[0])
    assert wrote.exit_code == 0 and re.fullmatch(r"wrote lesson\.py: 18 blanks to fill in; then run `mnist-scratch "
                                                 r"check lesson\.py`\n", wrote.stdout), wrote.output
    fresh = tool(*route[1])
    assert fresh.exit_code == 1 and "not implemented" in fresh.stdout, fresh.output
    assert tool("exercise", "lesson.py", "--solutions", "--force").exit_code == 0  # the learner fills the blanks in
    checked = tool(*route[1])
    assert checked.exit_code == 0 and "PASS" in checked.stdout, checked.output
    trained = tool(*rules[0], "--epochs", "2", "--no-progress")
    assert trained.exit_code == 0, trained.output
    assert re.search(r"^epoch +train loss +valid loss +valid acc +seconds$", trained.stdout, re.M), trained.stdout
    assert re.search(r"^best valid accuracy [\d.]+ % \(epoch \d\)", trained.stdout, re.M), trained.stdout


@pytest.mark.slow
def test_readme_run_table_has_the_shape_shown(lesson_dir):
    """`make run`'s table as README shows it: the same header, then rows of epoch, three figures and seconds."""
    shown = next(body for lang, _, body in fences(ROOT / "README.md") if lang == "text")
    trained = tool("train", "--epochs", "1", "--no-progress")
    assert trained.exit_code == 0, trained.output
    lines = trained.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("epoch"))
    assert lines[header] == shown[0]
    row = re.compile(r" +\d+ +[\d.]+ +[\d.]+ +[\d.]+ % +[\d.]+")
    assert row.fullmatch(shown[1]) and row.fullmatch(lines[header + 1]), lines
    best = re.compile(r"best valid accuracy [\d.]+ % \(epoch \d\); training [\d.]+ s on cpu, [\d.]+ s in all")
    assert best.fullmatch(shown[2]) and best.fullmatch(lines[header + 2]), lines


@pytest.mark.slow
@pytest.mark.parametrize("args", [argv[1:] for _, argv in commands(ROOT / "README.md")
                                  if argv[0] == "mnist-scratch" and argv[1] in ("train", "gradcheck", "lr-find")
                                  and "--rules" not in argv])
def test_readme_examples_run(args, lesson_dir):
    short = ["--epochs", "1"] if args[0] == "train" and "list" not in args else []
    got = tool(*args, *short, *(["--no-progress"] if short else []))
    assert got.exit_code == 0, got.output
