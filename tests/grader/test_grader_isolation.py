"""A graded file cannot change its own verdict, hang `check` or outlive it (issue 20): each escape, run for real.

Each test runs `check` as a subprocess, as an autograder would, and asserts the exit code, the verdicts and a loose
wall-time bound (the machine is shared: the bounds are limits plus generous slack, not speed claims).
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mnist_scratch.grader.exercise import render

SOLUTIONS = render("py", solutions=True)
ROOT = Path(__file__).resolve().parents[2]
WRONG_MSE_GRAD = "\ndef mse_grad(inp, targ):\n    inp.g = (inp[:, 0] - targ)[:, None] / inp.shape[0]  # factor 2 lost\n"
SLACK = 30.0  # seconds on top of the limits: two Python+torch start-ups on a busy 2-core machine


def check(tmp_path, text: str, *args: str, limit: float = 120.0):
    """(exit code, parsed --json report, stdout, wall seconds) of `check FILE --json` in a fresh process."""
    p = tmp_path / "mine.py"
    p.write_text(text)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mnist_scratch", "check", str(p), "--json", *args],
                          capture_output=True, timeout=limit, env=env, cwd=tmp_path)
    wall = time.monotonic() - t0
    out = proc.stdout.decode(errors="replace")
    return proc.returncode, json.loads(out), out, wall


def status(report: dict, name: str) -> str:
    return next(r["status"] for r in report["rules"] if r["name"] == name)


def alive(marker: str) -> list[int]:
    """Pids of processes whose command line carries marker."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:  # gone meanwhile
                continue
            if marker.encode() in cmdline:
                found.append(int(name))
    return found


def test_patching_torch_and_the_grader_cannot_pass_a_wrong_rule(tmp_path):
    src = SOLUTIONS + WRONG_MSE_GRAD + (
        "import torch, mnist_scratch.grader.diagnose as d, mnist_scratch.grader.core as c\n"
        "torch.allclose = lambda *a, **k: True\n"
        "torch.equal = lambda *a, **k: True\n"
        "d.close = lambda *a, **k: True\n"
        "c.close = lambda *a, **k: True\n"
        "c.Ctx.expect = lambda *a, **k: None\n")
    code, rep, _, _ = check(tmp_path, src)
    assert code == 1 and not rep["ok"]
    assert status(rep, "mse_grad") == "wrong" and status(rep, "lin_grad") == "pass"


def test_a_tensor_subclass_that_equals_everything_is_judged_by_its_values(tmp_path):
    src = SOLUTIONS + (
        "\nclass Liar(torch.Tensor):\n"
        "    @classmethod\n"
        "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
        "        return torch.tensor(0.0)\n"
        "    def __eq__(self, other):\n        return True\n\n"
        "def mse(output, targ):\n    return torch.zeros(()).as_subclass(Liar)\n")
    code, rep, _, _ = check(tmp_path, src)
    assert code == 1 and status(rep, "mse") == "wrong" and status(rep, "lin") == "pass"


def test_a_forged_report_and_os_exit_cannot_pass(tmp_path):
    forged = json.dumps({"ok": True, "rules": []})
    src = SOLUTIONS + WRONG_MSE_GRAD + f"\nimport os\nprint({forged!r}, flush=True)\nos._exit(0)\n"
    code, rep, out, _ = check(tmp_path, src)
    assert code == 1 and not rep["ok"] and out.count('"ok"') == 1  # one report, the grader's
    assert status(rep, "mse_grad") == "error"


def test_os_exit_inside_a_rule_costs_that_rule_only(tmp_path):
    src = SOLUTIONS + "\nimport os\ndef relu(x):\n    print('{\"ok\": true}', flush=True)\n    os._exit(0)\n"
    code, rep, _, _ = check(tmp_path, src)
    assert code == 1 and status(rep, "relu") == "error" and status(rep, "lin_grad") == "pass"
    assert "died" in next(r["hint"] for r in rep["rules"] if r["name"] == "relu")


@pytest.mark.parametrize("how", [
    "(grad,) = torch.autograd.grad(loss, i)",
    "loss.backward()\n    grad = i.grad",
    "grad = torch.func.grad(lambda i: (i[:, 0] - targ).pow(2).mean())(inp.detach())",
])
def test_a_backward_rule_that_uses_autograd_is_not_a_pass(tmp_path, how):
    src = SOLUTIONS + (
        "\ndef mse_grad(inp, targ):\n"
        "    with torch.enable_grad():\n"
        "        i = inp.detach().requires_grad_()\n"
        "        loss = (i[:, 0] - targ).pow(2).mean()\n"
        f"    {how}\n"
        "    inp.g = grad.detach()\n")
    code, rep, _, _ = check(tmp_path, src)
    assert code == 1 and status(rep, "mse_grad") == "autograd"
    assert "autograd" in next(r["hint"] for r in rep["rules"] if r["name"] == "mse_grad")


def test_a_gradient_assigned_to_grad_by_hand_is_not_autograd(tmp_path):
    src = SOLUTIONS + "\ndef mse_grad(inp, targ):\n    inp.grad = 2.0 * (inp[:, 0] - targ)[:, None] / inp.shape[0]\n"
    _, rep, _, _ = check(tmp_path, src)  # (forward_and_backward then fails: their lin_grad reads out.g)
    row = next(r for r in rep["rules"] if r["name"] == "mse_grad")
    assert row["status"] == "pass" and ".grad" in row["hint"]


def test_a_signal_swallowing_loop_at_top_level_is_stopped_at_the_file_limit(tmp_path):
    src = SOLUTIONS + (
        "\nimport signal\n"
        "while True:\n    try:\n        for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):\n"
        "            signal.signal(s, signal.SIG_IGN)\n    except BaseException:\n        pass\n")
    code, rep, _, wall = check(tmp_path, src, "--timeout", "2", "--file-timeout", "6")
    assert code == 1 and not rep["ok"] and wall < 6 + SLACK


def test_a_signal_swallowing_loop_in_a_rule_costs_that_rule_only(tmp_path):
    src = SOLUTIONS + (
        "\nimport signal\ndef relu(x):\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "    while True:\n        try:\n            pass\n        except BaseException:\n            pass\n")
    code, rep, _, wall = check(tmp_path, src, "--timeout", "2", "--file-timeout", "40")
    assert code == 1 and status(rep, "relu") == "error" and status(rep, "lin_grad") == "pass"
    assert wall < 40 + SLACK


def test_a_non_daemon_thread_does_not_keep_check_running(tmp_path):
    src = SOLUTIONS + "\nimport threading, time\nthreading.Thread(target=time.sleep, args=(600,)).start()\n"
    code, rep, _, wall = check(tmp_path, src, "--file-timeout", "30")
    assert code == 0 and rep["ok"] and wall < 30 + SLACK


@pytest.mark.parametrize("setsid", [False, True])
def test_a_forked_sleeper_dies_with_check(tmp_path, setsid):
    marker = f"sleeper-{uuid.uuid4().hex}"
    started = tmp_path / "started"
    src = SOLUTIONS + (
        "\nimport os, sys\nif os.fork() == 0:\n"
        + ("    os.setsid()\n    if os.fork():\n        os._exit(0)\n" if setsid else "")
        + f"    open({str(started)!r}, 'w').close()\n"
        + f"    os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)', '{marker}'])\n")
    code, rep, _, wall = check(tmp_path, src, "--file-timeout", "30")  # returns: nothing holds its stdout
    assert code == 0 and rep["ok"] and wall < 30 + SLACK
    time.sleep(0.5)
    assert started.exists() and alive(marker) == []  # it ran, and it is gone


def test_a_huge_print_is_dropped_past_a_bound(tmp_path):
    src = SOLUTIONS + ("\nimport sys\nfor _ in range(1000):\n    print('x' * 100_000)\n"  # 100 MB, captured
                       "    sys.__stdout__.write('y' * 100_000)\n")  # and 100 MB past any capture, to the real stdout
    code, rep, out, wall = check(tmp_path, src, "--file-timeout", "60")
    assert code == 0 and len(out) < 100_000 and wall < 60 + SLACK
    assert any("printed" in n for n in rep.get("notes", []))


def test_a_huge_single_line_and_a_too_deep_expression_are_a_verdict_not_a_crash(tmp_path):
    for line in ("x = " + "-" * 200_000 + "1\n", "x = " + "+".join(["1"] * 300_000) + "\n"):
        code, rep, _, wall = check(tmp_path, SOLUTIONS + line, "--file-timeout", "30")
        assert code == 1 and not rep["ok"] and "compile" in rep.get("error", "") and wall < 30 + SLACK


def test_raise_base_exception_in_a_rule_and_at_top_level(tmp_path):
    src = SOLUTIONS + "\ndef relu(x):\n    raise BaseException('mine')\n\nraise BaseException('top')\n"
    code, rep, _, _ = check(tmp_path, src)
    assert code == 1 and status(rep, "relu") == "error" and status(rep, "lin_grad") == "pass"


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000,  # json.loads: RecursionError
                                  b'{"values": [], "traceback": 7, "notes": 1, "kinds": []}'])  # wrong types
def test_a_hostile_reply_frame_from_the_child_is_a_report_not_a_crash(tmp_path, body):
    frame = len(body).to_bytes(4, "big") + (0).to_bytes(4, "big") + body
    src = SOLUTIONS + WRONG_MSE_GRAD + (
        "\nimport os, sys\n"
        "def relu(x):\n"
        f"    os.write(int(sys.argv[-3]), {frame!r})\n"
        "    return x.clamp(min=0.0)\n")
    code, rep, _, _ = check(tmp_path, src)
    assert code == 1 and not rep["ok"] and status(rep, "relu") == "error" and status(rep, "lin_grad") == "pass"


def test_rich_markup_in_what_the_learner_wrote_is_printed_as_text(capsys):
    from mnist_scratch.grader.result import CheckResult, RuleResult
    from mnist_scratch.report.check import render, render_class

    bad = "[/bold] closing tag with nothing open [red]"
    rows = [RuleResult("relu", "forward", "error", hint=f"ValueError: {bad}", key="error",
                       traceback=('File "[/x].py", line 3, in relu', f"ValueError: {bad}"))]
    res = CheckResult(rows, "sub/[/i]mine.py", notes=[f"a note {bad}"])
    render(res)
    render_class([res, CheckResult([], "[/b]other.py", error=f"cannot read {bad}")])
    out = capsys.readouterr().out
    assert out.count("[/bold] closing tag") >= 2 and "[/i]mine.py" in out and "[/b]other.py" in out


def test_the_file_runs_in_a_fresh_folder_off_sys_path_removed_afterwards(tmp_path):
    where = tmp_path / "where.json"
    src = SOLUTIONS + (
        "\nimport json, os, sys, tempfile\n"
        "os.makedirs('mnist_scratch', exist_ok=True)\n"
        "open('mnist_scratch/__init__.py', 'w').write('raise SystemExit(3)')\n"  # a package planted in the cwd
        f"json.dump([os.getcwd(), tempfile.gettempdir(), sys.path], open({str(where)!r}, 'w'))\n")
    code, rep, _, _ = check(tmp_path, src)
    cwd, tmp, path = json.loads(where.read_text())
    assert code == 0 and rep["ok"]
    assert cwd != str(tmp_path) and tmp.startswith(cwd + os.sep) and not os.path.exists(cwd)
    assert cwd not in path and "" not in path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.py", "where.json"]


def test_a_symlinked_submission_is_refused_and_its_target_never_shown(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TEACHER SECRET answer key\n")
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "a.py").write_text(SOLUTIONS)
    (tmp_path / "class" / "link.py").symlink_to(secret)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "mnist_scratch", "check", *args], capture_output=True,
                              timeout=120, env=env, cwd=tmp_path, text=True)

    one = run("class/link.py")
    assert one.returncode == 2 and "symbolic link" in one.stderr and len(one.stderr.strip().splitlines()) == 1
    assert "SECRET" not in one.stdout + one.stderr
    folder = run("class", "--json")
    files = {Path(f["source"]).name: f for f in json.loads(folder.stdout)["files"]}
    assert folder.returncode == 1 and files["a.py"]["ok"] and "symbolic link" in files["link.py"]["error"]
    assert "SECRET" not in folder.stdout + folder.stderr


TIDY_CALL = (  # hides an in-place write: restores the inputs after their function ran
    "    orig = ad.OPS['call']\n"
    "    def tidy(ns, name, *args):\n"
    "        saved = [a.clone() for a in args]\n"
    "        r = orig(ns, name, *args).clone()\n"
    "        for a, s in zip(args, saved):\n"
    "            a.copy_(s)\n"
    "        return r\n"
    "    ad.OPS['call'] = tidy\n")


@pytest.mark.parametrize("when", ["load", "call"])
def test_replacing_the_childs_judging_code_fails_the_rule(tmp_path, when):
    src = SOLUTIONS + "\nimport sys\ndef relu(x):\n    return x.clamp_(min=0.0)  # in place: wrong\n"
    if when == "load":
        src += "if True:\n    ad = sys.modules['mnist_scratch.grader.adapters']\n" + TIDY_CALL
    else:  # a rule that swaps it on its first call: that answer and every later one are not graded
        src += "def lin(x, w, b):\n    ad = sys.modules['mnist_scratch.grader.adapters']\n" + TIDY_CALL.replace(
            "    ad.OPS['call'] = tidy\n", "    ad.OPS['call'] = tidy\n    return x @ w + b\n")
    code, rep, _, _ = check(tmp_path, src)
    assert code == 1 and status(rep, "relu") != "pass"
    hint = next(r["hint"] for r in rep["rules"] if r["name"] == "relu")
    assert "changed the grader's own code (adapters.OPS['call'])" in hint


def test_a_blinded_autograd_watch_is_caught(tmp_path):
    src = SOLUTIONS + (
        "\nimport contextlib, sys\n"
        "sys.modules['mnist_scratch.grader.sandbox'].watch_autograd = contextlib.contextmanager(lambda: (yield []))\n"
        "def mse_grad(inp, targ):\n"
        "    with torch.enable_grad():\n"
        "        i = inp.detach().requires_grad_()\n"
        "        (g,) = torch.autograd.grad((i[:, 0] - targ).pow(2).mean(), i)\n"
        "    inp.g = g\n")
    code, rep, _, _ = check(tmp_path, src)
    assert code == 1 and status(rep, "mse_grad") in ("error", "autograd")
    assert "sandbox.watch_autograd" in next(r["hint"] for r in rep["rules"] if r["name"] == "mse_grad")
