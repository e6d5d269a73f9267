"""`export`: the torch state_dict loads into a real nn.Sequential, the ONNX model runs in onnxruntime; both give the
run's outputs, neither overwrites without --force, and a mismatch writes nothing."""

import json

import pytest
import torch
from torch import nn
from trainfakes import small_data
from typer.testing import CliRunner
from userun import by_hand, save_run

import mnist_scratch.data
from mnist_scratch.cli import app
from mnist_scratch.use import export as ex

runner = CliRunner()


@pytest.fixture
def data(monkeypatch):
    d = small_data(n_test=400)
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: d)
    return d


def pixels_of(d):
    return d.x_test * d.std + d.mean  # (n, 784): what a user would feed


def test_torch_export_loads_into_nn_sequential_and_the_snippet_runs(tmp_path, data, capsys):
    ckpt = save_run(tmp_path / "run", nh=(30, 20), mean=data.mean, std=data.std)
    r = runner.invoke(app, ["export", str(tmp_path / "run"), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["files"] == [str(tmp_path / "run" / "model.pt"), str(tmp_path / "run" / "model.json")]
    assert doc["sizes"] == [784, 30, 20, 10] and doc["predictions_agree"] == doc["test_digits"] == 400
    assert doc["max_abs_diff"] < 1e-4
    net = nn.Sequential(nn.Linear(784, 30), nn.ReLU(), nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 10))
    net.load_state_dict(torch.load(tmp_path / "run" / "model.pt", weights_only=True))  # strict: every key, shape
    norm = json.loads((tmp_path / "run" / "model.json").read_text())
    assert (norm["mean"], norm["std"]) == (ckpt.mean, ckpt.std)
    with torch.no_grad():
        out = net((pixels_of(data) - norm["mean"]) / norm["std"])
    assert (out - by_hand(ckpt, pixels_of(data))).abs().max() < 1e-4
    exec(doc["snippet"], {})  # the printed loading code works as printed
    assert "tensor(" in capsys.readouterr().out


def test_onnx_export_runs_in_onnxruntime_with_the_normalisation_inside(tmp_path, data):
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra (in dev) runs the export")
    onnx = pytest.importorskip("onnx")
    for loss, n_out in (("ce", 10), ("mse", 1)):
        ckpt = save_run(tmp_path / loss, nh=(40,), loss=loss, mean=data.mean, std=data.std)
        r = runner.invoke(app, ["export", str(tmp_path / loss), "--format", "onnx"])
        assert r.exit_code == 0, r.output
        assert "onnxruntime on the 400 test digits: max |difference|" in r.stdout
        path = tmp_path / loss / "model.onnx"
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        out = torch.from_numpy(sess.run(None, {"pixels": pixels_of(data).float().numpy()})[0])
        assert out.shape == (400, n_out)
        assert (out - by_hand(ckpt, pixels_of(data))).abs().max() < 1e-4
        props = {p.key: p.value for p in onnx.load(path).metadata_props}
        assert float(props["mean"]) == ckpt.mean and json.loads(props["classes"]) == list("0123456789")


def test_no_overwrite_without_force(tmp_path, data):
    save_run(tmp_path / "run")
    target = tmp_path / "out.pt"
    target.write_bytes(b"mine")
    r = runner.invoke(app, ["export", str(tmp_path / "run"), "--out", str(target)])
    assert r.exit_code == 2 and "exists; pass --force" in r.stderr and target.read_bytes() == b"mine"
    r = runner.invoke(app, ["export", str(tmp_path / "run"), "--out", str(target), "--force"])
    assert r.exit_code == 0 and target.read_bytes() != b"mine" and (tmp_path / "out.json").exists()


def test_an_export_that_does_not_match_the_run_writes_nothing(tmp_path, data, monkeypatch):
    save_run(tmp_path / "run")
    good = ex.state_dict
    monkeypatch.setattr(ex, "state_dict", lambda c: {k: v * 1.01 if k == "0.weight" else v
                                                      for k, v in good(c).items()})
    r = runner.invoke(app, ["export", str(tmp_path / "run")])
    assert r.exit_code == 1 and "differs from the run" in r.stderr
    assert not (tmp_path / "run" / "model.pt").exists() and not (tmp_path / "run" / "model.json").exists()


def test_onnx_without_the_extra_is_a_usage_error(tmp_path, data, monkeypatch):
    import sys

    save_run(tmp_path / "run")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as when not installed
    r = runner.invoke(app, ["export", str(tmp_path / "run"), "--format", "onnx"])
    assert r.exit_code == 2 and "pip install 'mnist-scratch[onnx]'" in r.stderr
