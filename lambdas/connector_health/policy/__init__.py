"""One IAM policy model and one evaluator (pure Python, no AWS calls).

Parse once with `parse_policy`, then ask as many questions as needed with `evaluate`,
`evaluate_with_boundary` or `actions_allowed`. See `evaluator` for the IAM rules applied.
"""

from .document import (
    ConditionClause,
    DuplicateKey,
    PolicyDocument,
    PolicyProblem,
    Statement,
    find_duplicate_keys,
    parse_policy,
)
from .evaluator import (
    UNKNOWN,
    Decision,
    Effect,
    Principal,
    RequestContext,
    StatementRef,
    Undecided,
    actions_allowed,
    evaluate,
    evaluate_condition,
    evaluate_with_boundary,
)

__all__ = [
    "UNKNOWN",
    "ConditionClause",
    "Decision",
    "DuplicateKey",
    "Effect",
    "PolicyDocument",
    "PolicyProblem",
    "Principal",
    "RequestContext",
    "Statement",
    "StatementRef",
    "Undecided",
    "actions_allowed",
    "evaluate",
    "evaluate_condition",
    "evaluate_with_boundary",
    "find_duplicate_keys",
    "parse_policy",
]
