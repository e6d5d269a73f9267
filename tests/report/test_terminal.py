"""Any terminal width ($COLUMNS 0, 1, huge; TERM=dumb) prints the whole report; text from files shows its control
characters as escapes."""

import re

import pytest
from faultkit import cli
from trainfakes import small_data

import mnist_scratch.data
from mnist_scratch.atomic import printable, shown
from mnist_scratch.report.console import esc

ENVS = [{"COLUMNS": "0"}, {"COLUMNS": "1"}, {"COLUMNS": "100000"}, {"COLUMNS": "-5"}, {"COLUMNS": "wide"},
        {"TERM": "dumb"}]


def words(text: str) -> list[str]:
    """The report's letters and digits, whatever the table borders, line wrapping and cells folded in two."""
    assert "…" not in text  # a cell cut short
    return sorted(re.sub(r"[^\w.%+-]", "", text))


def with_env(monkeypatch, env, *args):
    monkeypatch.delenv("COLUMNS", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return cli(*args)


@pytest.mark.parametrize("env", ENVS)
def test_gradcheck_report_is_whole_at_any_width(monkeypatch, env):
    ref = with_env(monkeypatch, {"COLUMNS": "160"}, "gradcheck", "--synthetic", "--fd")
    got = with_env(monkeypatch, env, "gradcheck", "--synthetic", "--fd")
    assert got.exit_code == ref.exit_code == 0
    assert "lin2.b" in ref.stdout and "PASS" in ref.stdout
    assert words(got.stdout) == words(ref.stdout)


@pytest.mark.parametrize("env", ENVS[:3] + ENVS[-1:])
def test_train_and_evaluate_reports_are_whole_at_any_width(monkeypatch, tmp_path, env):
    d = small_data(n_train=200, n_valid=100, n_test=100)
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: d)
    r = with_env(monkeypatch, env, "train", "--nh", "8", "--epochs", "2", "--bs", "50", "--no-progress",
                 "--out", tmp_path / "run")
    assert r.exit_code == 0, r.output
    for needle in ("epoch", "valid", "saved" if "saved" in r.stdout else "run"):
        assert needle in r.stdout
    assert re.search(r"^\W*1\W", r.stdout, re.M) and re.search(r"^\W*2\W", r.stdout, re.M)  # both epoch rows
    ref = with_env(monkeypatch, {"COLUMNS": "160"}, "evaluate", tmp_path / "run")
    got = with_env(monkeypatch, env, "evaluate", tmp_path / "run")
    assert got.exit_code == ref.exit_code == 0 and "accuracy" in ref.stdout.lower()
    assert words(got.stdout) == words(ref.stdout)


def test_control_characters_from_files_print_as_escapes():
    hostile = "notes\x1b]0;owned\x07\x1b[2J\r.ipynb"
    assert "\x1b" not in shown(hostile) and "\\x1b]0;owned\\x07" in shown(hostile)
    assert "\x1b" not in esc(hostile) and "\r" not in esc(hostile)
    assert printable("two\nlines\tand\x9b", lines=True) == "two\nlines\tand\\x9b"
    assert printable("a\nb") == "a\\x0ab"


def test_an_error_naming_a_hostile_file_is_one_escaped_line(tmp_path):
    bad = tmp_path / "x\x1b[31mred\nsecond.toml"
    r = cli("train", "--config", bad)
    assert r.exit_code == 2
    assert "\x1b" not in r.stderr and "\\x1b[31mred\\x0asecond" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_an_unknown_config_key_with_control_characters_is_shown_escaped(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('"lr\\u001b[2J\\nx" = 1\n')
    r = cli("train", "--config", cfg)
    assert r.exit_code == 2 and "\x1b" not in r.stderr and "lr\\x1b[2J\\x0ax" in r.stderr
