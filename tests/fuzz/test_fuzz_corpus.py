"""Replay fuzz/corpus/<target>/* through the fuzz entry points (fuzz/targets.py) without atheris.

Each file must end in a valid result or the project's own error; crash-* files are inputs atheris found that
once escaped (a ValueError from numpy, a 4 GiB allocation) and must stay fixed; known-bug-* files still fail
in a file this suite's authors could not change, and are strict xfails (rename them once fixed).
"""

import importlib.util
import tracemalloc
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
_spec = importlib.util.spec_from_file_location("fuzz_targets", FUZZ / "targets.py")
targets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(targets)

FILES = sorted(p for p in (FUZZ / "corpus").glob("*/*") if p.is_file())
KNOWN: dict[str, str] = {}


def test_every_target_has_a_corpus_and_the_harness():
    assert {p.parent.name for p in FILES} == set(targets.TARGETS)
    assert (FUZZ / "fuzz.py").is_file()


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=KNOWN[p.name])) if p.name in KNOWN else p
    for p in FILES], ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_corpus_file_gives_a_result_or_the_projects_error(path):
    data = path.read_bytes()
    tracemalloc.start()
    try:
        targets.TARGETS[path.parent.name](data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * len(data) + (16 << 20)  # never far beyond the input's own size
