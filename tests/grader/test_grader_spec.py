"""The rule table: every lesson name graded by its own grader, in the lesson's order, and the part filter."""

import pytest

from mnist_scratch.grader import chain, classes, funcs, softmax
from mnist_scratch.grader.spec import BY_RULE, RULES, Rule, rules_of

TABLE = [
    ("matmul", "matmul", "def", funcs.matmul),
    ("normalize", "init", "def", funcs.normalize),
    ("he_init", "init", "def", funcs.he_init),
    ("lin", "forward", "def", funcs.lin),
    ("relu", "forward", "def", funcs.relu),
    ("mse", "forward", "def", funcs.mse),
    ("mse_grad", "backward", "def", funcs.mse_grad),
    ("relu_grad", "backward", "def", funcs.relu_grad),
    ("lin_grad", "backward", "def", funcs.lin_grad),
    ("forward_and_backward", "backward", "def", chain.forward_and_backward),
    ("Module", "classes", "class", classes.module),
    ("Lin", "classes", "class", classes.lin),
    ("Relu", "classes", "class", classes.relu),
    ("Mse", "classes", "class", classes.mse),
    ("Model", "classes", "class", chain.model),
    ("log_softmax", "ce", "def", softmax.log_softmax),
    ("nll", "ce", "def", softmax.nll),
    ("cross_entropy_grad", "ce", "def", softmax.cross_entropy_grad),
]


def test_each_name_is_graded_by_its_own_grader_in_the_lessons_order():
    """A name wired to another rule's grader would grade relu against lin's answers: every pairing is pinned."""
    assert [(r.name, r.part, r.kind, r.grade) for r in RULES] == TABLE


def test_by_rule_finds_each_rule_by_name():
    assert list(BY_RULE) == [name for name, *_ in TABLE]
    assert all(BY_RULE[r.name] is r for r in RULES)


def test_a_rule_is_immutable():
    with pytest.raises(AttributeError):
        RULES[0].name = "relu"  # type: ignore[misc]
    assert Rule("x", "p", "def", print) == Rule("x", "p", "def", print)


def test_no_part_means_every_rule():
    assert rules_of(None) == RULES


@pytest.mark.parametrize("part,names", [
    ("matmul", ["matmul"]),
    ("init", ["normalize", "he_init"]),
    ("forward", ["lin", "relu", "mse"]),
    ("backward", ["mse_grad", "relu_grad", "lin_grad", "forward_and_backward"]),
    ("classes", ["Module", "Lin", "Relu", "Mse", "Model"]),
    ("ce", ["log_softmax", "nll", "cross_entropy_grad"]),
])
def test_a_part_selects_its_rules_in_order(part, names):
    got = rules_of(part)
    assert isinstance(got, tuple) and [r.name for r in got] == names


@pytest.mark.parametrize("part", ["bogus", "", "Forward"])
def test_an_unknown_part_is_refused_with_the_choices(part):
    """A typo in --part must not grade nothing (and so "fail" or "pass" silently): it names the valid parts."""
    with pytest.raises(ValueError) as e:
        rules_of(part)
    assert str(e.value) == f"part must be one of matmul, init, forward, backward, classes, ce, got {part!r}"
