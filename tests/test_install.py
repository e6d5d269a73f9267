"""The tool installs like a tool: a built wheel, in a fresh venv, runs from its own files with its configs inside."""

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

import mnist_scratch

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run(*cmd, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}  # only the venv's own files
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel built from this checkout; torch and the other dependencies come from the test's
    own environment through a .pth file, so nothing is downloaded (a real install takes torch==2.13.0 first)."""
    pytest.importorskip("setuptools", reason="building the wheel without network needs setuptools installed")
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT / "mnist_scratch", src / "mnist_scratch", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                "--disable-pip-version-check", "-w", tmp / "dist", src, cwd=tmp)
    if built.returncode != 0:
        pytest.skip(f"pip cannot build the wheel here: {built.stderr.strip().splitlines()[-1:]}")
    wheel = next((tmp / "dist").glob("mnist_scratch-*.whl"))
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    purelib = run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).stdout.strip()
    deps = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    Path(purelib, "deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    got = run(sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index",
              "--disable-pip-version-check", wheel, cwd=tmp)
    assert got.returncode == 0, got.stderr
    return env_dir


def test_the_installed_tool_runs_from_the_wheel_not_the_checkout(installed, tmp_path):
    where = run(installed / "bin" / "python", "-c", "import mnist_scratch; print(mnist_scratch.__file__)", cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout + where.stderr
    version = run(installed / "bin" / "mnist-scratch", "--version", cwd=tmp_path)
    assert version.returncode == 0 and mnist_scratch.__version__ in version.stdout, version.stdout + version.stderr


def test_the_shipped_configs_are_inside_the_wheel(installed, tmp_path):
    listed = run(installed / "bin" / "mnist-scratch", "train", "--config", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    firsts = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    assert {"default", "lesson", "speedrun", "wide"} <= firsts, listed.stdout


def test_the_installed_tool_writes_and_grades_an_exercise(installed, tmp_path):
    tool = installed / "bin" / "mnist-scratch"
    assert run(tool, "exercise", "answers.py", "--solutions", "--part", "backward", cwd=tmp_path).returncode == 0
    graded = run(tool, "check", "answers.py", "--part", "backward", "--json", cwd=tmp_path)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert '"ok": true' in graded.stdout
