"""The grader on notebooks written the way real learners write them (tests/grader/learners/, STYLES.md says whose
style each follows): for every file and every rule, the verdict established independently against autograd
(expected.toml, by learners/verdicts.py) is the grader's verdict. Each file is graded once, through check_file.
"""

import functools
from pathlib import Path

import pytest
import tomllib

from mnist_scratch.grader import check_file

LEARNERS = Path(__file__).parent / "learners"
EXPECTED = tomllib.loads((LEARNERS / "expected.toml").read_text())

@functools.cache
def graded(name: str):
    return check_file(LEARNERS / name, seconds=10.0)


def cases():
    for name, rules in EXPECTED.items():
        for rule, want in rules.items():
            yield pytest.param(name, rule, want, id=f"{name}:{rule}")


def test_there_are_at_least_ten_learner_files_each_with_a_verdict_for_every_rule():
    from mnist_scratch.grader import RULES

    files = sorted(p.name for p in LEARNERS.iterdir() if p.suffix in (".py", ".ipynb") and p.name[:2].isdigit())
    assert len(files) >= 10 and files == sorted(EXPECTED)
    assert all(list(v) == [r.name for r in RULES] for v in EXPECTED.values())


def test_the_referee_still_gives_the_recorded_verdicts():
    """expected.toml is what verdicts.py establishes against autograd, not a copy of the grader's output."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("learner_verdicts", LEARNERS / "verdicts.py")
    referee = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(referee)
    got = {p: referee.file_verdicts(LEARNERS / p) for p in EXPECTED}
    assert got == EXPECTED


@pytest.mark.parametrize("name,rule,want", list(cases()))
def test_the_grader_agrees_with_the_referee(name, rule, want):
    res = graded(name)
    assert not res.error, res.error
    row = res[rule]
    assert row.status == want, f"{name} {rule}: grader says {row.status} ({row.hint}), referee says {want}"


def test_a_data_cell_that_fails_costs_one_note_not_dozens():
    """The 2022 notebook's data file is not here: one note for it, not one per later line that needed x_train."""
    notes = graded("03_course22p2_backprop.ipynb").notes
    data = [n for n in notes if "mnist.pkl.gz" in n]
    assert len(data) == 1 and "later statements failed for want of what this defines" in data[0]
    assert notes == data  # nothing else: model.backward() on the earlier `model` function is a consequence too
