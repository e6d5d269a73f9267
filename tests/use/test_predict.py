"""`predict`: every kind of run (CE of any depth, the lesson's MSE model, another dataset), folders, bad files."""

import json

import pytest
import torch
from typer.testing import CliRunner
from userun import by_hand, digit_image, png_bytes, save_run

from mnist_scratch.cli import app
from mnist_scratch.use.image import prepare
from mnist_scratch.use.predict import KNOWN, Predictor

runner = CliRunner()


@pytest.mark.parametrize("nh", [(50,), (100, 30, 20)])
def test_ce_runs_of_any_depth_give_the_top_three_of_their_own_softmax(tmp_path, nh):
    ckpt = save_run(tmp_path, nh=nh, mean=0.2, std=0.5)
    images = torch.stack([prepare(png_bytes(digit_image(scale=s))).image for s in (0.5, 1.0)])
    guesses = Predictor(ckpt)(images)
    probs = by_hand(ckpt, images).softmax(-1)
    for g, p in zip(guesses, probs, strict=True):
        want = p.topk(3)
        assert [c for c, _ in g.top] == want.indices.tolist()
        assert [q for _, q in g.top] == pytest.approx(want.values.tolist(), abs=1e-6)
        assert [len(h) for h in g.hidden] == list(nh)


def test_the_lesson_mse_model_gives_its_rounded_output(tmp_path):
    ckpt = save_run(tmp_path, loss="mse", nh=(50,))
    images = prepare(png_bytes(digit_image())).image[None]
    (g,) = Predictor(ckpt)(images)
    raw = float(by_hand(ckpt, images)[0, 0])
    assert g.output == pytest.approx([raw], abs=1e-5)
    assert g.top == [(min(max(round(raw), 0), 9), None)]


def test_class_names_from_the_metadata_or_the_dataset_name(tmp_path):
    assert Predictor(save_run(tmp_path / "a")).classes == tuple("0123456789")
    assert Predictor(save_run(tmp_path / "b", dataset="fashion-mnist")).classes == KNOWN["fashion-mnist"]
    names = [f"c{i}" for i in range(10)]
    assert Predictor(save_run(tmp_path / "c", classes=json.dumps(names), dataset="x")).classes == tuple(names)
    assert Predictor(save_run(tmp_path / "d", classes="[1, 2]")).classes == tuple("0123456789")  # malformed: ignored


def write_images(folder):
    folder.mkdir()
    (folder / "a-seven.png").write_bytes(png_bytes(digit_image()))
    (folder / "b-seven-light.jpg").write_bytes(png_bytes(digit_image(ink=255, paper=0), "JPEG"))
    (folder / "c-blank.png").write_bytes(png_bytes(digit_image(ink=255)))  # white on white
    (folder / "d-empty.png").write_bytes(b"")
    (folder / "e-notes.txt").write_text("not an image\n")
    (folder / ".hidden.png").write_bytes(b"")  # skipped


def test_cli_predicts_a_folder_one_row_each_and_names_every_bad_file(tmp_path):
    ckpt = save_run(tmp_path / "run", nh=(30,))
    write_images(tmp_path / "imgs")
    r = runner.invoke(app, ["predict", str(tmp_path / "run"), str(tmp_path / "imgs"), "--json"])
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["classes"] == list("0123456789") and doc["loss"] == "ce"
    names = [p["path"].rsplit("/", 1)[1] for p in doc["images"]]
    assert names == ["a-seven.png", "b-seven-light.jpg", "c-blank.png", "d-empty.png", "e-notes.txt"]
    good, bad = doc["images"][:2], doc["images"][2:]
    want = by_hand(ckpt, prepare(png_bytes(digit_image())).image[None]).softmax(-1)[0]
    assert good[0]["top"][0]["prob"] == pytest.approx(float(want.max()), abs=1e-6)
    assert good[0]["inverted"] and not good[1]["inverted"]
    assert [b["error"] for b in bad] == ["no digit: the image is one flat colour (blank page?)", "empty file",
                                         "not an image Pillow can read"]
    err = r.stderr.strip().splitlines()
    assert len(err) == 4 and err[-1] == "error: 3 of 5 images could not be read"
    assert all("c-blank.png" in e or "d-empty" in e or "e-notes" in e for e in err[:3])


def test_cli_table_show_and_mse(tmp_path):
    save_run(tmp_path / "run", loss="mse")
    img = tmp_path / "seven.png"
    img.write_bytes(png_bytes(digit_image()))
    r = runner.invoke(app, ["predict", str(tmp_path / "run"), str(img), "--show"], env={"NO_COLOR": "1"})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 15 and any("█" in l for l in lines[:14])  # 14 lines of half blocks, then the row
    assert lines[-1].startswith(f"{img}  ") and "(output " in lines[-1]


def test_cli_missing_run_and_missing_image(tmp_path):
    r = runner.invoke(app, ["predict", str(tmp_path / "nope"), str(tmp_path)])
    assert r.exit_code == 1 and r.stderr.startswith("error: no checkpoint at")
    save_run(tmp_path / "run")
    r = runner.invoke(app, ["predict", str(tmp_path / "run"), str(tmp_path / "gone.png")])
    assert r.exit_code == 1 and "gone.png: No such file or directory" in r.stderr
