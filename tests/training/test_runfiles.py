"""The run folder's readers: every file bounded, every row validated; a damaged row skipped with one note, a file
that cannot be a run's refused in one line; `plot` goes through them."""

import json
import os
import re
import struct

import pytest
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.training import runfiles
from mnist_scratch.training.runfiles import Notes, RunFileError, read_hist, read_losses, read_metrics, read_stats

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fake_dataset")  # tests/training/conftest.py: 1,500 small rows


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder with every file (2 epochs, stats every 4 steps)."""
    return tmp_path_factory.mktemp("runs") / "run"


def trained(tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "--nh", "16", "--bs", "100", "--no-progress", "--epochs", "2", "--stats-every",
                            "4", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    return out


def plot(out, *args):
    return runner.invoke(app, ["plot", str(out), "--json", *args])


def test_an_intact_run_reads_without_notes(tmp_path):
    out = trained(tmp_path)
    notes = Notes()
    assert [r["epoch"] for r in read_metrics(out, notes)] == [1, 2]
    assert len(read_losses(out, notes)) == 30 and len(read_stats(out, notes)) == 8
    assert read_hist(out, notes)["lin1"].shape == (8, 40)
    assert notes.lines == []


@pytest.mark.parametrize(("row", "why"), [
    ({"epoch": 3, "train_loss": 0.1, "valid_loss": 0.1, "seconds": 1.0, "lr": 0.1}, "valid_acc is not a fraction"),
    ({"epoch": 3, "valid_acc": 1.5, "train_loss": 0.1, "valid_loss": 0.1, "seconds": 1.0, "lr": 0.1},
     "valid_acc is not a fraction"),
    ({"epoch": "3", "valid_acc": 0.5}, "epoch is not a whole number >= 1"),
    ({"epoch": 3, "valid_acc": 0.5, "valid_loss": "x", "train_loss": 0.1, "seconds": 1.0, "lr": 0.1},
     "valid_loss is missing or not a number"),
])
def test_a_metrics_row_missing_or_mistyping_a_field_is_skipped_with_one_note(tmp_path, row, why):
    out = trained(tmp_path)
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n" + "[1, 2]\n")
    notes = Notes()
    assert [r["epoch"] for r in read_metrics(out, notes)] == [1, 2]
    assert notes.lines == [f"{out / 'metrics.jsonl'}: 2 damaged rows skipped (line 3: {why})"]
    r = plot(out)
    assert r.exit_code == 0 and "2 damaged rows skipped" in r.stderr


def test_a_stats_line_naming_an_absurd_layer_is_skipped_not_allocated(tmp_path):
    out = trained(tmp_path)
    with open(out / "stats.jsonl", "a") as f:
        f.write('{"step": 40, "lin99999999.mean": 1}\n{"step": 1e300}\n{"step": 44, "lin2.w.norm": "big"}\n')
    notes = Notes()
    assert len(read_stats(out, notes)) == 8
    assert notes.lines == [f"{out / 'stats.jsonl'}: 3 damaged rows skipped (line 9: field 'lin99999999.mean' is "
                           "not a layer statistic)"]
    r = plot(out)
    assert r.exit_code == 0 and len(json.loads(r.stdout)["layers"]) == 2


def test_losses_rows_with_absurd_steps_or_lists_are_skipped(tmp_path):
    out = trained(tmp_path)
    with open(out / "losses.jsonl", "a") as f:
        f.write('{"step": -1, "steps_per_epoch": 15, "loss": [1], "lr": [1]}\n'
                '{"step": 99, "steps_per_epoch": 0, "loss": [1], "lr": [1]}\n'
                '{"step": 99, "steps_per_epoch": 15, "loss": [1, 2], "lr": [1]}\n'
                '{"step": 99, "steps_per_epoch": 15, "loss": ["x"], "lr": [1]}\n'
                '\xff\xfe not utf-8\n')
    notes = Notes()
    assert len(read_losses(out, notes)) == 30
    assert len(notes.lines) == 1
    assert re.search(r"losses.jsonl: 5 damaged rows skipped \(line \d+: step or steps_per_epoch out of range\)$",
                     notes.lines[0])


def test_a_huge_sparse_losses_file_is_refused_at_once(tmp_path):
    out = trained(tmp_path)
    with open(out / "losses.jsonl", "r+b") as f:
        f.truncate(64 << 30)  # 64 GB, sparse: nothing to read but zeros
    with pytest.raises(RunFileError, match=r"losses.jsonl holds 68,719,476,736 bytes, more than the 268,435,456 a run "
                                           r"writes; refused"):
        read_losses(out)
    r = plot(out)
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and "refused" in r.stderr


def test_a_fifo_or_link_in_place_of_a_run_file_is_refused_never_opened(tmp_path):
    out = trained(tmp_path)
    os.replace(out / "stats.jsonl", tmp_path / "elsewhere.jsonl")
    os.symlink(tmp_path / "elsewhere.jsonl", out / "stats.jsonl")
    with pytest.raises(RunFileError, match="symbolic link"):
        read_stats(out)
    os.unlink(out / "stats.jsonl")
    os.mkfifo(out / "stats.jsonl")
    with pytest.raises(RunFileError, match="FIFO"):
        read_stats(out)


def _declaring(path, steps: int) -> None:
    """Rewrite a chunk's header to declare `steps` rows (the data stays as it was)."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    for k, v in header.items():
        if k != "__metadata__":
            v["shape"][0] = steps
    new = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(new)) + new + data[8 + n :])


@pytest.mark.parametrize("damage", ["two-million-steps", "truncated", "bad-range", "foreign-layer"])
def test_a_damaged_hist_chunk_is_skipped_with_a_note_before_anything_is_allocated(tmp_path, damage):
    out = trained(tmp_path)
    chunk = runfiles.chunks(out)[-1]
    if damage == "two-million-steps":
        _declaring(chunk, 2_000_000)
    elif damage == "truncated":
        chunk.write_bytes(chunk.read_bytes()[:-100])
    elif damage == "bad-range":
        data = chunk.read_bytes().replace(b'"lin1":"[', b'"lin1":"[1e999, ')
        chunk.write_bytes(data)
    else:
        data = chunk.read_bytes().replace(b'"lin2"', b'"xxx2"')
        chunk.write_bytes(data)
    notes = Notes()
    hist = read_hist(out, notes)
    assert len(notes.lines) == 1 and "histogram chunk skipped" in notes.lines[0]
    assert all(len(v) <= 8 for k, v in hist.items() if k != "ranges")
    assert plot(out).exit_code == 0


def test_resume_repairs_damaged_stats_files_and_still_reproduces_the_uninterrupted_run(tmp_path, monkeypatch):
    from mnist_scratch.training import checkpoint, runs
    from mnist_scratch.training.fit import Stop

    args = ["train", "--nh", "16", "--bs", "100", "--no-progress", "--epochs", "3", "--stats-every", "4"]
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "a")]).exit_code == 0
    orig = Stop.should_stop
    monkeypatch.setattr(Stop, "should_stop", lambda self: len(runs.read_metrics(tmp_path / "b")) >= 2 or orig(self))
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "b")]).exit_code == 130
    monkeypatch.setattr(Stop, "should_stop", orig)
    b = tmp_path / "b"
    _declaring(runfiles.chunks(b)[0], 2_000_000)  # a malformed chunk: IndexError on resume before
    with open(b / "stats.jsonl", "a") as f:
        f.write('{"step": 3, "lin99999999.mean": 1}\n')
    with open(b / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 2, "valid_acc": "all of them"}\n')
    r = runner.invoke(app, ["train", "--resume", str(b), "--no-progress"])
    assert r.exit_code == 0, r.output
    a_state, b_state = checkpoint.load(tmp_path / "a").state, checkpoint.load(b).state
    assert all(float((a_state[k] - b_state[k]).abs().max()) <= 1e-6 for k in a_state)
    assert [m["epoch"] for m in read_metrics(b)] == [1, 2, 3]
    notes = Notes()
    assert [r["step"] for r in read_stats(b, notes)][-3:] == [r["step"] for r in read_stats(tmp_path / "a")][-3:]
    assert read_hist(b, notes)["step"].tolist()[-1] == read_hist(tmp_path / "a")["step"].tolist()[-1]
    assert notes.lines == []  # the resumed run dropped what it could not trust
