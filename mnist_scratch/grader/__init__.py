"""Grading a learner's own lesson code: each rule on its own against autograd and finite differences, in float64.

Pure: returns dataclasses (result.py); mnist_scratch.report.check renders them.
"""

from mnist_scratch.grader.grade import TIMEOUT, check_file, check_object, grade_namespace, grade_rule
from mnist_scratch.grader.result import STATUSES, CheckResult, RuleResult
from mnist_scratch.grader.solutions import PARTS
from mnist_scratch.grader.spec import RULES, rules_of

__all__ = ["PARTS", "RULES", "STATUSES", "TIMEOUT", "CheckResult", "RuleResult", "check_file", "check_object",
           "grade_namespace", "grade_rule", "rules_of"]
