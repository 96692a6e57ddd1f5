"""One IAM policy model and one evaluator (pure Python, no AWS calls).

Parse once with `parse_policy`, then ask as many questions as needed with `evaluate`,
`evaluate_with_boundary` or `actions_allowed`. See `evaluator` for the IAM rules applied, and `wildcards` for
the one matcher of IAM patterns (`compile_wildcard`, `wildcard_match`): no backtracking, whatever the pattern.
"""

from .document import (
    ConditionClause,
    DuplicateKey,
    PolicyDocument,
    PolicyProblem,
    Statement,
    find_duplicate_keys,
    parse_policy,
    parse_policy_once,
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
    applicable_actions,
    evaluate,
    evaluate_condition,
    evaluate_with_boundary,
)
from .wildcards import Wildcard, WildcardSet, compile_wildcard, wildcard_match

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
    "Wildcard",
    "WildcardSet",
    "actions_allowed",
    "applicable_actions",
    "compile_wildcard",
    "evaluate",
    "evaluate_condition",
    "evaluate_with_boundary",
    "find_duplicate_keys",
    "parse_policy",
    "parse_policy_once",
    "wildcard_match",
]
