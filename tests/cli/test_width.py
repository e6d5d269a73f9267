"""At 80 columns: --help stays readable in panels, tables keep every figure whole, one-line summaries stay one line."""

import re

from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.lesson.matmul import MatmulResult, MatmulRow
from mnist_scratch.report import matmul as matmul_report

runner = CliRunner()
NARROW = {"COLUMNS": "80", "NO_COLOR": "1"}
FIGURE = re.compile(r"\d\.\d\de[+-]\d\d")  # a whole 3-digit scientific figure


def invoke(*args: str) -> str:
    r = runner.invoke(app, list(args), env=NARROW)
    assert r.exit_code == 0, r.output
    return r.stdout


def test_train_help_is_grouped_in_panels_and_fits_80_columns():
    text = invoke("train", "--help")
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80, [ln for ln in lines if len(ln) > 80]
    for panel in ("Model", "Optimiser", "Data", "Run & output", "Statistics & logs", "Parallel", "Advanced"):
        assert f"╭─ {panel} " in text, panel
    for flag in ("--nh", "--lr-schedule", "--matmul-precision", "--dist-timeout", "--stats-every", "--data-dir"):
        # each option starts its own line, its help on the lines under it at nearly the whole width
        i = next(i for i, ln in enumerate(lines) if re.match(rf"│ {re.escape(flag)}\b", ln))
        assert lines[i + 1].startswith("│     ") and len(lines[i + 1].rstrip("│ ")) > 40, lines[i:i + 2]


def test_wide_terminals_keep_the_one_line_table():
    r = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "160", "NO_COLOR": "1"})
    assert re.search(r"│ --lr +<float> +Peak learning rate", r.stdout), r.stdout


def test_gradcheck_fd_keeps_every_figure_and_its_summary_on_one_line():
    text = invoke("gradcheck", "--synthetic", "--fd", "--nh", "100,50", "--samples", "3")
    assert "…" not in text
    rows = [ln for ln in text.splitlines() if ln.startswith("│ ")]
    assert len(rows) == 12 + 6 and all(len(FIGURE.findall(ln)) == 2 for ln in rows), rows
    assert all(len(ln) <= 80 for ln in text.splitlines() if ln[:1] in "┏┃┡│└")
    first = text.splitlines()[0]
    assert first.startswith("gradcheck: nh 100,50") and first.rstrip().endswith(tuple("0123456789")), first
    assert re.search(r"^PASS: all 18 checks agree; max rel diff autograd \S+; max rel diff fd \S+$", text, re.M)


def test_matmul_keeps_every_column_at_80(monkeypatch, capsys):
    names = ("three loops", "elementwise", "broadcasting", "einsum", "torch @")
    rows = [MatmulRow(n, 1.2345 / 10**i, 1.1 / 10**i, 0.123 / 10**i, 10**i, 123456.0 if i else 1.0, i != 2, 1e-3)
            for i, n in enumerate(names)]
    monkeypatch.setenv("COLUMNS", "80")
    matmul_report.render(MatmulResult((5, 784), (784, 10), "x_train[:5], normalized", 1, rows, [[1.0]], 1.0, True))
    text = capsys.readouterr().out
    table = text.splitlines()[1:-1]
    assert "…" not in text and all(len(ln) <= 80 for ln in table), table
    assert table[0].split() == ["version", "median", "best", "IQR", "calls", "speedup", "torch", "lesson"], table[0]
    assert "123,456×" in text and "FAIL" in text and "500–800 ms" in text


def test_train_summary_lines_never_wrap(tmp_path, monkeypatch):
    from trainfakes import small_data

    import mnist_scratch.data

    data = small_data(n_train=600)
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: data)
    out = tmp_path / "a-run-folder-with-a-long-name-so-the-last-line-is-longer-than-eighty-columns"
    text = invoke("train", "--epochs", "1", "--no-progress", "--out", str(out), "--no-stats")
    assert re.search(r"^best valid accuracy .* s in all$", text, re.M), text
    assert re.search(rf"^results in {re.escape(str(out))} \(config.json, metrics.jsonl, model.safetensors\)$",
                     text, re.M), text
    evaluated = invoke("evaluate", str(out))
    assert "…" not in evaluated and all(len(ln) <= 80 for ln in evaluated.splitlines()[1:]), evaluated
    assert re.search(r"^│ +9 │( +(\d+|·) │){10}$", evaluated, re.M), evaluated  # the confusion matrix's last row
