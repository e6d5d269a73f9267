"""`show`: half-block digits, labels, predictions, the most confidently wrong, PNG files; clear errors."""

import json
import struct
import sys
from io import StringIO

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.config import TrainConfig
from mnist_scratch.data import Dataset
from mnist_scratch.errors import UsageError
from mnist_scratch.report import show as report
from mnist_scratch.training import digits

MEAN, STD = 0.13, 0.31


def images(n: int, seed: int) -> torch.Tensor:
    """(n, 784) normalized rows of [0, 1] images; image k has its top k % 28 pixel rows lit."""
    img = torch.rand(n, 28, 28, generator=torch.Generator().manual_seed(seed)) * 0.2
    for k in range(n):
        img[k, : k % 28] = 1.0
    return ((img - MEAN) / STD).reshape(n, 784)


def small_dataset() -> Dataset:
    y = lambda n: torch.arange(n) % 10  # noqa: E731
    return Dataset(images(30, 0), y(30), images(20, 1), y(20), images(12, 2), y(12), MEAN, STD, True, "test")


@pytest.fixture
def ds(monkeypatch):
    d = small_dataset()
    monkeypatch.setattr("mnist_scratch.data.load_dataset", lambda *a, **k: d)
    return d


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("spec,want", [("0..3", [0, 1, 2, 3]), ("5", [5]), ("3,1,7", [3, 1, 7]),
                                       ("0..2, 9", [0, 1, 2, 9]), ("19..19", [19])])
def test_parse_indices(spec, want):
    assert digits.parse_indices(spec, 20) == want


@pytest.mark.parametrize("spec,msg", [("20", "out of range"), ("0..20", "out of range"), ("5..2", "backwards"),
                                      ("a", "like 0..9"), ("1,,2", "like 0..9"), ("-1", "like 0..9"),
                                      ("0..10000", "more than")])
def test_parse_indices_rejects(spec, msg):
    with pytest.raises(UsageError, match=msg):
        digits.parse_indices(spec, 20 if msg != "more than" else 100_000)


def test_pixels_undo_the_normalization():
    img = torch.linspace(0, 1, 784).reshape(1, 784)
    torch.testing.assert_close(digits.pixels((img - MEAN) / STD, MEAN, STD), img.reshape(1, 28, 28))


def test_half_blocks_hold_two_pixel_rows():
    img = torch.zeros(28, 28)
    img[0], img[3], img[4], img[5] = 1.0, 1.0, 1.0, 1.0  # rows 0/1: top; 2/3: bottom; 4/5: both
    lines = [t.plain for t in report.digit_lines(img, colour=False)]
    assert len(lines) == 14 and all(len(l) == 28 for l in lines)
    assert lines[:4] == ["▀" * 28, "▄" * 28, "█" * 28, " " * 28]
    coloured = report.digit_lines(img, colour=True)
    assert coloured[0].plain == "▀" * 28
    assert str(coloured[0].spans[0].style) == "rgb(255,255,255) on rgb(0,0,0)"


@pytest.mark.parametrize("c,d,want", [(0.9996, 1, "99.9%"), (1.0, 1, "100.0%"), (0.12345, 1, "12.3%"),
                                      (0.999, 0, "99%"), (0.5, 0, "50%"), (0.29, 1, "29.0%")])
def test_confidence_is_rounded_down(c, d, want):
    assert report.fmt_conf(c, d) == want


def render(grid, width=80, cols=None) -> list[str]:
    buf = StringIO()
    report.render(grid, cols=cols, console=Console(file=buf, width=width, color_system=None))
    return buf.getvalue().splitlines()


@pytest.mark.parametrize("n,width,cols,rows", [(1, 80, None, 1), (5, 80, None, 3), (10, 130, None, 3),
                                               (10, 160, 5, 2), (3, 20, None, 3)])
def test_render_line_count(n, width, cols, rows):
    grid = digits.select(small_dataset(), "valid", list(range(n)))
    lines = render(grid, width, cols)
    assert len(lines) == 1 + rows * (14 + 1) + (rows - 1)  # title, then 14 pixel lines + a label per row
    per_row = cols or max(1, (width + 2) // 30)
    assert lines[15].count("valid #") == min(per_row, n)


def test_render_shows_labels_and_lit_rows():
    lines = render(digits.select(small_dataset(), "train", [13]))
    assert lines[1:7] == ["█" * 28] * 6 and lines[7] == "▀" * 28  # 13 lit rows = 6.5 lines
    assert lines[15] == "train #13: 3"


class ScoreModel:
    """Outputs are the first n_out inputs: predictions are chosen by the test."""

    def __init__(self, n_out: int = 10):
        self.n_out = n_out

    def predict(self, x):
        return x[:, : self.n_out]


def dataset_with_logits(logits: torch.Tensor, y: torch.Tensor) -> Dataset:
    x = torch.zeros(len(y), 784)
    x[:, : logits.shape[1]] = logits
    return Dataset(x, y, x, y, x, y, MEAN, STD, True, "test")


def test_worst_orders_the_wrong_by_confidence():
    y = torch.tensor([0, 1, 2, 3, 4])
    logits = torch.zeros(5, 10)
    logits[0, 0] = 9.0  # right
    logits[1, 5] = 2.0  # wrong, unsure
    logits[2, 7] = 8.0  # wrong, sure
    logits[3, 3] = 1.0  # right
    logits[4, 9] = 5.0  # wrong, middling
    grid = digits.worst(dataset_with_logits(logits, y), "valid", ScoreModel(), 5)
    assert [d.index for d in grid.digits] == [2, 4, 1]
    assert [d.pred for d in grid.digits] == [7, 9, 5]
    confs = [d.confidence for d in grid.digits]
    assert confs == sorted(confs, reverse=True) and confs[0] == pytest.approx(torch.tensor(
        [8.0] + [0.0] * 9).softmax(0)[0].item())
    assert "3 wrong" in grid.title


def test_worst_for_the_one_output_model_is_furthest_from_the_label():
    y = torch.tensor([3, 3, 3, 3])
    out = torch.tensor([[3.2], [7.0], [0.0], [4.6]])
    grid = digits.worst(dataset_with_logits(out, y), "valid", ScoreModel(1), 2)
    assert [(d.index, d.pred, d.confidence) for d in grid.digits] == [(1, 7, None), (2, 0, None)]


def test_cli_shows_digits(ds):
    res = CliRunner().invoke(app, ["show", "--index", "0..3", "--cols", "2"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert len(lines) == 1 + 2 * 15 + 1
    assert "valid #3: 3" in lines[-1]


@pytest.mark.parametrize("args,msg", [(["--index", "20"], "out of range"), (["--split", "nope"], "--split"),
                                      (["--worst", "3"], "--checkpoint"),
                                      (["--worst", "3", "--index", "1"], "either")])
def test_cli_fails_in_one_line(ds, args, msg):
    res = CliRunner().invoke(app, ["show", *args])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and msg in res.stderr
    assert res.stdout == ""


def checkpoint_file(tmp_path, ds):
    """A real checkpoint of a small CE model, written the way training writes it."""
    from mnist_scratch.lesson.nn import make_model
    from mnist_scratch.training.checkpoint import save

    cfg = TrainConfig(nh=(8,), loss="ce")
    model = make_model(cfg.nh, "ce", generator=torch.Generator().manual_seed(3))
    path = tmp_path / "model.safetensors"
    save(path, dict(model.params()), cfg, 1, ds.mean, ds.std)
    return path, model


def test_cli_worst_with_a_checkpoint(ds, tmp_path):
    path, model = checkpoint_file(tmp_path, ds)
    res = CliRunner().invoke(app, ["show", "--checkpoint", str(path), "--worst", "4", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    pred, conf, _ = digits.predict(model, ds.x_valid)
    wrong = (pred != ds.y_valid).nonzero()[:, 0]
    want = wrong[conf[wrong].argsort(descending=True)][:4].tolist()
    assert [d["index"] for d in doc["digits"]] == want
    assert all(d["pred"] != d["label"] for d in doc["digits"])


def test_cli_predictions_add_a_line(ds, tmp_path):
    path, _ = checkpoint_file(tmp_path, ds)
    res = CliRunner().invoke(app, ["show", "--checkpoint", str(path), "--index", "0,1", "--cols", "2"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert len(lines) == 1 + 14 + 2 and lines[-1].count("pred ") == 2 and lines[-1].count("%") == 2


def test_cli_bad_checkpoint_is_one_line(ds, tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"not a checkpoint")
    res = CliRunner().invoke(app, ["show", "--checkpoint", str(bad)])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1


def test_png_of_the_grid(ds, tmp_path):
    pytest.importorskip("matplotlib")
    from mnist_scratch.report.plots import digits_size

    out = tmp_path / "grid.png"
    res = CliRunner().invoke(app, ["show", "--index", "0..12", "--png", str(out)])
    assert res.exit_code == 0, res.output
    assert png_size(out) == digits_size(13, 10) == (1000, 260)
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temp file left


def test_plot_history_png(tmp_path):
    pytest.importorskip("matplotlib")
    from mnist_scratch.report.plots import plot_history

    epochs = [{"epoch": e, "train_loss": 1 / e, "valid_loss": 1.1 / e, "valid_acc": 0.9 + e / 100} for e in (1, 2, 3)]
    out = tmp_path / "sub" / "curves.png"
    assert plot_history(epochs, out) == (1000, 400)
    assert png_size(out) == (1000, 400)


def test_png_without_matplotlib_is_a_clear_error(ds, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    res = CliRunner().invoke(app, ["show", "--index", "0", "--png", str(tmp_path / "g.png")])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "mnist-scratch[plot]" in res.stderr
    assert not list(tmp_path.iterdir())
