"""Fault matrix, CLI group: invalid values of every option of every command (zero, negative, NaN, wrong type,
out of range, unknown config keys, unreadable config) exit 2 with one line naming the option; runtime failures
exit 1; an unexpected internal error exits 1 with one line and never shows local variables.
"""

import builtins
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from faultkit import cli, one_line
from trainfakes import small_data

import mnist_scratch.data

SUPPORT = Path(__file__).resolve().parents[1] / "support"
BIG = str(2**64)


@pytest.fixture(autouse=True)
def data(monkeypatch):
    d = small_data(n_train=200, n_valid=100, n_test=100)
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: d)
    return d


def _v(flag: str) -> str:
    return f"error: Invalid value for '{flag}': "


TRAIN = [
    (["--nh", "0"], "error: --nh must be one or more positive sizes, got '0'"),
    (["--nh", "-3"], "error: --nh must be one or more positive sizes, got '-3'"),
    (["--nh", ""], "error: --nh must be one or more positive sizes, got ''"),
    (["--nh", "nan"], "error: --nh must be hidden sizes like 50 or 100,50, got 'nan'"),
    (["--nh", "1.5"], "error: --nh must be hidden sizes like 50 or 100,50, got '1.5'"),
    (["--nh", "50,x"], "error: --nh must be hidden sizes like 50 or 100,50, got '50,x'"),
    (["--nh", "2000000"], "error: --nh sizes must be at most 65536, got '2000000'"),
    (["--epochs", "0"], "error: --epochs must be positive, got 0"),
    (["--epochs", "-1"], "error: --epochs must be positive, got -1"),
    (["--epochs", "x"], _v("--epochs")),
    (["--epochs", "1.5"], _v("--epochs")),
    (["--bs", "0"], "error: --bs must be positive, got 0"),
    (["--bs", "-5"], "error: --bs must be positive, got -5"),
    (["--bs", "1e3"], _v("--bs")),
    (["--lr", "0"], "error: --lr must be a finite number > 0, got 0.0"),
    (["--lr", "-1"], "error: --lr must be a finite number > 0, got -1.0"),
    (["--lr", "nan"], "error: --lr must be a finite number > 0, got nan"),
    (["--lr", "inf"], "error: --lr must be a finite number > 0, got inf"),
    (["--lr", "x"], _v("--lr")),
    (["--momentum", "-0.1"], "error: --momentum must be a finite number >= 0, got -0.1"),
    (["--momentum", "1"], "error: --momentum must be below 1, got 1.0"),
    (["--momentum", "nan"], "error: --momentum must be a finite number >= 0, got nan"),
    (["--weight-decay", "-1"], "error: --weight-decay must be a finite number >= 0, got -1.0"),
    (["--weight-decay", "inf"], "error: --weight-decay must be a finite number >= 0, got inf"),
    (["--lr-schedule", "linear"], "error: Invalid value for '--lr-schedule': Value error, 'linear' is not one of "
                                  "'constant', 'onecycle', 'cosine'."),
    (["--loss", "hinge"], "error: Invalid value for '--loss': Value error, 'hinge' is not one of 'ce', 'mse'."),
    (["--seed", "-1"], "error: --seed must be between 0 and 4294967295, got -1"),
    (["--seed", "x"], _v("--seed")),
    (["--device", "tpu"], "error: Invalid value for '--device': Value error, 'tpu' is not one of 'cpu', 'cuda', "
                          "'auto'."),
    (["--engine", "magic"], "error: Invalid value for '--engine': Value error, 'magic' is not one of 'manual', "),
    (["--nope", "1"], "error: No such option: --nope"),
    (["--lr"], "error: Option '--lr' requires an argument. (see `"),
]


@pytest.mark.parametrize(("args", "want"), TRAIN, ids=[" ".join(a) for a, _ in TRAIN])
def test_train_invalid_values_exit_2_naming_the_option(args, want, tmp_path):
    out = tmp_path / "run"
    res = cli("train", "--no-progress", "--epochs", "1", "--out", out, *args)
    assert res.exit_code == 2, res.output
    assert one_line(res.stderr).startswith(want) and res.stdout == ""
    assert not out.exists()


def test_cuda_asked_for_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    res = cli("train", "--device", "cuda", "--out", tmp_path / "run")
    assert res.exit_code == 2
    assert one_line(res.stderr) == ("error: --device cuda was asked for but torch sees no CUDA device; "
                                    "use --device cpu or auto")


def _unreadable(monkeypatch, path: Path) -> None:
    """Opening path fails with EACCES (root ignores chmod), through open() or os.open()."""
    def refusing(real):
        def refuse(file, *a, **k):
            if not isinstance(file, int) and os.fspath(file) == os.fspath(path):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return real(file, *a, **k)
        return refuse

    monkeypatch.setattr(builtins, "open", refusing(builtins.open))
    monkeypatch.setattr(os, "open", refusing(os.open))


CONFIGS = {
    "missing": (None, "error: config file {p} does not exist"),
    "a-folder": ("folder", "error: config file {p} is a folder, not a regular file"),
    "unreadable": ("unreadable", "error: cannot read config file {p}: [Errno 13] Permission denied: '{p}'"),
    "binary": (b"\xff\xfe\x00\x01", "error: cannot read config file {p}: 'utf-8' codec can't decode byte 0xff"),
    "not-toml": ("lr = [\n", "error: config file {p} is not valid TOML: "),
    "unknown-key": ("learning_rate = 0.1\n",
                    "error: unknown key learning_rate in {p} (known keys: bs, dataset, device, "),
    "two-unknown": ("a = 1\nb = 2\n", "error: unknown keys a, b in {p} (known keys: "),
    "string-bs": ('bs = "64"\n', "error: bs in {p} must be an integer, got '64'"),
    "float-epochs": ("epochs = 2.5\n", "error: epochs in {p} must be an integer, got 2.5"),
    "bool-lr": ("lr = true\n", "error: lr in {p} must be a number, got True"),
    "nan-lr": ("lr = nan\n", "error: lr in {p} must be a finite number > 0, got nan"),
    "table-nh": ("[nh]\nx = 1\n", "error: nh in {p} must be hidden sizes like 50 or 100,50, got {{'x': 1}}"),
    "zero-in-nh": ("nh = [50, 0]\n", "error: nh in {p} must be one or more positive sizes, got [50, 0]"),
}


@pytest.mark.parametrize("case", list(CONFIGS))
def test_bad_config_files_exit_2_naming_file_and_key(case, tmp_path, monkeypatch):
    text, want = CONFIGS[case]
    p = tmp_path / "c.toml"
    if text == "folder":
        p.mkdir()
    elif text == "unreadable":
        p.write_text("lr = 0.1\n")
        _unreadable(monkeypatch, p)
    elif text is not None:
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
    res = cli("train", "--config", p, "--out", tmp_path / "run")
    assert res.exit_code == 2, res.output
    assert one_line(res.stderr).startswith(want.format(p=p))
    assert not (tmp_path / "run").exists()


OTHERS = [
    (["gradcheck", "--synthetic", "--nh", "0"], 2, "error: --nh must be one or more positive sizes, got '0'"),
    (["gradcheck", "--synthetic", "--loss", "x"], 2, "error: Invalid value for '--loss': Value error, 'x' is not one "
                                                     "of 'ce', 'mse'."),
    (["gradcheck", "--synthetic", "--seed", "-1"], 2, "error: --seed must be between 0 and 4294967295, got -1"),
    (["gradcheck", "--synthetic", "--seed", BIG], 2, f"error: --seed must be between 0 and 4294967295, got {BIG}"),
    (["gradcheck", "--synthetic", "--bs", "0"], 2, "error: --bs must be positive, got 0"),
    (["gradcheck", "--synthetic", "--bs", "60000"], 2, "error: --bs must be at most 50000, got 60000"),
    (["gradcheck", "--synthetic", "--bs", "x"], 2, _v("--bs")),
    (["gradcheck", "--synthetic", "--dtype", "float16"], 2, "error: Invalid value for '--dtype': Value error, "
                                                            "'float16' is not one of 'float32', 'float64'."),
    (["gradcheck", "--synthetic", "--samples", "0"], 2, "error: --samples must be positive, got 0"),
    (["gradcheck", "--synthetic", "--samples", "-1"], 2, "error: --samples must be positive, got -1"),
    (["init", "--synthetic", "--depth", "0"], 2, "error: --depth must be between 1 and 100, got 0"),
    (["init", "--synthetic", "--depth", "101"], 2, "error: --depth must be between 1 and 100, got 101"),
    (["init", "--synthetic", "--depth", "x"], 2, _v("--depth")),
    (["init", "--synthetic", "--nh", "0"], 2, "error: --nh must be between 1 and 1024, got 0"),
    (["init", "--synthetic", "--nh", "1025"], 2, "error: --nh must be between 1 and 1024, got 1025"),
    (["init", "--synthetic", "--seed", "-1"], 2, "error: --seed must be between 0 and 4294967295, got -1"),
    (["init", "--synthetic", "--seed", BIG], 2, f"error: --seed must be between 0 and 4294967295, got {BIG}"),
    (["matmul", "--synthetic", "--rows", "0"], 2, "error: --rows must be between 1 and 1000, got 0"),
    (["matmul", "--synthetic", "--rows", "1001"], 2, "error: --rows must be between 1 and 1000, got 1001"),
    (["matmul", "--synthetic", "--threads", "0"], 2, "error: --threads must be between 1 and 1024, got 0"),
    (["matmul", "--synthetic", "--threads", "-1"], 2, "error: --threads must be between 1 and 1024, got -1"),
    (["matmul", "--synthetic", "--seed", "-5"], 2, "error: --seed must be between 0 and 4294967295, got -5"),
    (["matmul", "--synthetic", "--seed", BIG], 2, f"error: --seed must be between 0 and 4294967295, got {BIG}"),
    (["show", "--split", "x"], 2, "error: Invalid value for '--split': Value error, 'x' is not one of 'train', "
                                  "'valid', 'test'."),
    (["show", "--index", "x"], 2, "error: --index must be like 0..9, 3,5,7 or 0..4,10; got 'x'"),
    (["show", "--index", "-1"], 2, "error: --index must be like 0..9, 3,5,7 or 0..4,10; got '-1'"),
    (["show", "--index", "5..1"], 2, "error: --index range 5..1 runs backwards"),
    (["show", "--index", "99999"], 2, "error: --index 99999 is out of range: the split has 100 digits (0..99)"),
    (["show", "--index", "0..300"], 2, "error: --index 300 is out of range: the split has 100 digits (0..99)"),
    (["show", "--worst", "5"], 2, "error: --worst needs --checkpoint (a trained model to be wrong)"),
    (["show", "--worst", "5", "--index", "1"], 2, "error: give either --index or --worst, not both"),
    (["show", "--cols", "0"], 2, "error: --cols must be at least 1, got 0"),
    (["show", "--cols", "-1"], 2, "error: --cols must be at least 1, got -1"),
    (["show", "--png", "{tmp}"], 2, "error: {tmp} is a folder, not a regular file; it was left alone"),
    (["show", "--png", "{tmp}/file/x.png"], 1, "error: cannot save {tmp}/file/x.png: "),
    (["show", "--checkpoint", "{tmp}/nope"], 1, "error: no checkpoint at {tmp}/nope"),
    (["evaluate"], 2, "error: Missing argument 'run'."),
    (["evaluate", "{tmp}/nope"], 1, "error: no checkpoint at {tmp}/nope"),
    (["download", "--source", "ftp"], 2, _v("--source")),
    (["download", "--source", "local"], 2, "error: --source local needs --from PATH"),
    (["download", "--source", "index", "--from", "{tmp}"], 2,
     "error: --from reads local files; it cannot be combined with --source index"),
    (["download", "--index-url", "notaurl"], 2, "error: --index-url must be an http:// or https:// URL, got 'notaurl'"),
    (["download", "--index-url", "http://[::1"], 2,
     "error: --index-url must be an http:// or https:// URL, got 'http://[::1'"),
    (["download", "--index-url", "ftp://h/simple/"], 2,
     "error: --index-url must be an http:// or https:// URL, got 'ftp://h/simple/'"),
    (["nosuchcommand"], 2, "error: No such command 'nosuchcommand'."),
]


@pytest.mark.parametrize(("args", "code", "want"), OTHERS, ids=[" ".join(a) for a, _, _ in OTHERS])
def test_other_commands_invalid_values(args, code, want, tmp_path):
    (tmp_path / "file").write_text("a file, not a folder")
    args = [a.format(tmp=tmp_path) for a in args]
    if args[0] == "download":
        args += ["--data-dir", str(tmp_path / "cache")]
    res = cli(*args)
    assert res.exit_code == code, res.output
    assert one_line(res.stderr).startswith(want.format(tmp=tmp_path)) and res.stdout == ""
    assert not (tmp_path / "cache").exists()


def test_plot_that_cannot_be_written_exits_1_after_keeping_the_run(tmp_path):
    (tmp_path / "file").write_text("a file")
    out = tmp_path / "run"
    res = cli("train", "--nh", "8", "--bs", "50", "--epochs", "1", "--no-progress", "--out", out,
              "--plot", tmp_path / "file" / "x.png")
    assert res.exit_code == 1
    assert one_line(res.stderr) == f"error: cannot save {tmp_path / 'file' / 'x.png'}: Not a directory"
    assert (out / "model.safetensors").is_file() and (tmp_path / "file").read_text() == "a file"


@pytest.mark.parametrize("seed", [str(10**15), BIG])
def test_train_seed_beyond_what_torch_accepts(seed, tmp_path):
    res = cli("train", "--nh", "8", "--bs", "50", "--epochs", "1", "--no-progress", "--seed", seed,
              "--out", tmp_path / "run")
    assert res.exit_code == 2 and one_line(res.stderr).startswith("error: --seed ")


def test_deeply_nested_config(tmp_path):
    (tmp_path / "c.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    res = cli("train", "--config", tmp_path / "c.toml")
    assert res.exit_code == 2 and one_line(res.stderr).startswith(f"error: config file {tmp_path / 'c.toml'} ")


def test_ctrl_c_outside_training_exits_130(monkeypatch, tmp_path):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(mnist_scratch.data, "load_dataset", interrupted)
    res = cli("train", "--out", tmp_path / "run")
    assert (res.exit_code, one_line(res.stderr)) == (130, "interrupted")


@pytest.mark.parametrize("debug", [False, True])
def test_unexpected_error_is_one_line_without_locals(debug, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(SUPPORT), HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
    env.pop("MNIST_SCRATCH_DEBUG", None)
    if debug:
        env["MNIST_SCRATCH_DEBUG"] = "1"
    res = subprocess.run([sys.executable, str(SUPPORT / "faultdriver.py"), json.dumps({"boom": True}), "download",
                          "--data-dir", str(tmp_path)], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 1 and res.stdout == ""
    assert "hunter2" not in res.stderr  # the local variable's value is never shown
    if debug:
        assert "Traceback" in res.stderr and res.stderr.rstrip().endswith("ZeroDivisionError: something internal broke")
    else:
        assert one_line(res.stderr) == ("unexpected error: ZeroDivisionError: something internal broke "
                                        "(set MNIST_SCRATCH_DEBUG=1 for a traceback)")
