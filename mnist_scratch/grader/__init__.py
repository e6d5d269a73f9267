"""Grading a learner's own lesson code: each rule on its own against autograd and finite differences, in float64.

Pure: returns dataclasses (result.py); mnist_scratch.report.check renders them. The names below are imported on
first use, so `mnist_scratch.grader.spawn` can start a child before torch is imported here.
"""

import importlib

_FROM = {"TIMEOUT": "grade", "check_file": "grade", "check_object": "grade", "grade_namespace": "grade",
         "grade_rule": "grade", "STATUSES": "result", "CheckResult": "result", "RuleResult": "result",
         "PARTS": "solutions", "RULES": "spec", "rules_of": "spec"}
__all__ = sorted(_FROM)


def __getattr__(name: str):
    if name not in _FROM:
        raise AttributeError(f"module 'mnist_scratch.grader' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mnist_scratch.grader.{_FROM[name]}"), name)
