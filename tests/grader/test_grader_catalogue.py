"""The grader can fail: every catalogued mistake is caught with its own diagnosis; the reference solutions pass."""

import json

import pytest
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.grader import RULES, grade_namespace
from mnist_scratch.grader.mutants import CATALOGUE, run_mutant, solutions_namespace

# every mistake the lesson's learners make that the grader promises to recognise, by diagnosis key
PROMISED = {"sign", "missing_bs", "factor2", "transposed", "wrong_axis", "bias_mean", "relu_no_mask",
            "relu_mask_wrong", "softmax_dim", "missing_onehot", "broadcast", "inplace", "returned", "unset",
            "first_wrong:l1"}


def test_the_catalogue_covers_every_promised_mistake():
    assert len(CATALOGUE) >= 15
    assert PROMISED <= {m.expect for m in CATALOGUE}
    assert len({m.name for m in CATALOGUE}) == len(CATALOGUE)


def test_reference_solutions_pass_every_rule():
    res = grade_namespace(solutions_namespace(), source="solutions")
    assert [r.name for r in res.rules] == [r.name for r in RULES]
    assert res.ok, [(r.name, r.status, r.hint) for r in res.rules if not r.ok]
    # to float64 round-off (matmul's inputs are float32); he_init's figure is its std's relative error, a statistic
    assert all(r.max_rel is not None and r.max_rel < (0.03 if r.name == "he_init" else 1e-6) for r in res.rules)


@pytest.mark.parametrize("mutant", CATALOGUE, ids=lambda m: m.name)
def test_each_mistake_is_caught_with_its_diagnosis(mutant):
    r = run_mutant(mutant, seconds=10)
    assert r.status == "wrong", (r.status, r.hint)
    assert r.key == mutant.expect, r.hint
    assert r.caught and r.hint


def test_diagnoses_read_as_the_learner_needs_them():
    by = {m.name: run_mutant(m, seconds=10) for m in CATALOGUE}
    assert "7 is the batch size" in by["mse_grad_no_bs"].hint  # the ratio is the batch size of the failing case
    assert "(7, 7) instead of (7, 1)" in by["mse_grad_broadcast"].hint
    assert "out.g is modified in place" in by["relu_grad_in_place"].hint
    assert "the gradient reaching l1 (relu's input) is wrong; everything from the loss up to l2" in \
        by["forward_and_backward_skips_relu"].hint


def test_check_mutants_command_shows_every_mistake_caught():
    res = CliRunner().invoke(app, ["check", "--mutants", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["ok"] is True and doc["reference"]["ok"] is True
    assert len(doc["mutants"]) == len(CATALOGUE) and all(m["caught"] for m in doc["mutants"])
    res = CliRunner().invoke(app, ["check", "--mutants"], env={"COLUMNS": "250"})
    assert res.exit_code == 0 and f"{len(CATALOGUE)} of {len(CATALOGUE)} mistakes caught" in res.stdout


def test_a_mutant_the_grader_misses_fails_the_command(monkeypatch):
    from mnist_scratch.grader import mutants

    blind = mutants.Mutant("harmless", "relu", "not a mistake at all", "sign", "def relu(x):\n    return x.relu()\n")
    monkeypatch.setattr(mutants, "CATALOGUE", (blind,))
    res = CliRunner().invoke(app, ["check", "--mutants"], env={"COLUMNS": "250"})
    assert res.exit_code == 1 and "MISSED" in res.stdout and "FAIL: 0 of 1" in res.stdout
