"""Why a role's trust policy refuses (or would admit) one web-identity caller: the statement and the condition.

Asked of the shared evaluator (`connector_health.policy`) only: the verdict comes from `evaluate` on the whole
policy (Deny over Allow, every statement); the refusing condition of each Allow statement that names the caller's
provider comes from `evaluate_condition` on its clauses, in the order they are written. Whether a statement names
the provider and the action at all is asked of `evaluate` too, on that statement alone with its condition keys
unknown, so principal, action and resource matching stay the evaluator's.

Keys the caller's side does not tell (claims CloudTrail does not record, the network path of a token checked
locally) are `UNKNOWN`: a statement that depends on one is "undecided", never guessed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..policy import UNKNOWN, Effect, PolicyDocument, evaluate, evaluate_condition
from ..policy.webidentity import web_identity_request
from .events import display

MAX_VALUES_SHOWN = 5


def normalise_keys(keys: Mapping[str, Any]) -> dict[str, Any]:
    """Request keys the way `evaluate_condition` reads them: lower-case names, tuples of strings, or UNKNOWN."""
    out: dict[str, Any] = {}
    for key, value in keys.items():
        if value is UNKNOWN:
            out[key.lower()] = UNKNOWN
        elif value is not None:
            values = tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else (str(value),)
            if values:
                out[key.lower()] = values
    return out


def _shown(values: Iterable[str]) -> str:
    """Values for a message: a few, each bounded and with JWT-looking parts removed (they come from callers)."""
    items = [display(v) or "" for v in values]
    text = ", ".join(items[:MAX_VALUES_SHOWN])
    return text + (f" (+{len(items) - MAX_VALUES_SHOWN} more)" if len(items) > MAX_VALUES_SHOWN else "")


@dataclass(frozen=True)
class RefusingCondition:
    """One condition of one Allow statement that is false for the caller."""

    statement_index: int
    sid: str | None
    operator: str
    key: str
    wanted: tuple[str, ...]
    given: tuple[str, ...] | None  # None: the key is absent from the request

    @property
    def statement(self) -> str:
        return self.sid or f"statement {self.statement_index}"

    def describe(self, giver: str = "the token") -> str:
        shown = _shown(self.given) if self.given is not None else "absent"
        return f"{self.operator} {self.key} wants {_shown(self.wanted)} but {giver} gives {shown}"

    def as_dict(self) -> dict[str, Any]:
        return {"statement": display(self.statement), "statement_index": self.statement_index,
                "operator": display(self.operator), "key": display(self.key),
                "wanted": [display(v) for v in self.wanted[:MAX_VALUES_SHOWN]]}


@dataclass
class TrustExplanation:
    """`verdict` is "admitted", "refused" or "undecided". For a refusal: the explicit Deny statements that matched
    (`denied_by`), or per Allow statement for the provider its first false condition (`refusals`, policy order), or
    `no_statement` when no Allow statement lets this provider call sts:AssumeRoleWithWebIdentity at all."""

    verdict: str
    refusals: list[RefusingCondition] = field(default_factory=list)
    denied_by: list[str] = field(default_factory=list)
    no_statement: bool = False
    federated: list[str] = field(default_factory=list)  # Federated principals the Allow statements name
    undecided_keys: list[str] = field(default_factory=list)

    @property
    def first(self) -> RefusingCondition | None:
        return self.refusals[0] if self.refusals else None

    @property
    def cause(self) -> str:
        """A stable name for why (what groups failures and keeps a finding's identity across runs)."""
        if self.verdict != "refused":
            return f"trust-{self.verdict}"
        if self.denied_by:
            return "trust-explicit-deny:" + ",".join(self.denied_by)
        if self.no_statement:
            return "trust-no-statement"
        first = self.first
        return f"trust-condition:{first.statement}:{first.operator}:{first.key.lower()}" if first else "trust-refused"

    def reason(self, provider_arn: str, giver: str = "the token") -> str:
        if self.verdict == "admitted":
            return "the trust policy admits this caller"
        if self.verdict == "undecided":
            keys = ", ".join(self.undecided_keys) or "a condition it cannot read"
            return f"whether the trust policy admits this caller depends on {keys}, which is not known here"
        if self.denied_by:
            return f"the trust policy explicitly denies this caller ({', '.join(self.denied_by)})"
        if self.no_statement:
            named = f" (its Allow statements name {_shown(self.federated)})" if self.federated else ""
            return f"no Allow statement of the trust policy lets {provider_arn} call sts:AssumeRoleWithWebIdentity{named}"
        parts = [f"{r.statement}: {r.describe(giver)}" for r in self.refusals]
        return "the trust policy does not admit this caller (" + " | ".join(parts) + ")"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verdict": self.verdict}
        if self.first:
            out["condition"] = self.first.as_dict()
        if self.denied_by:
            out["denied_by"] = self.denied_by
        if self.no_statement:
            out["no_statement_for_provider"] = True
        if self.undecided_keys:
            out["undecided_keys"] = self.undecided_keys
        return out


def condition_keys(policy: PolicyDocument) -> set[str]:
    return {clause.key for statement in policy.statements for clause in statement.conditions}


def web_identity_context(policy: PolicyDocument, *, provider_arn: str, issuer_key: str, claims: Mapping[str, Any],
                         session_name: str | None, role_arn: str, known: Mapping[str, Any] | None = None,
                         unknowable: Callable[[str], bool] = lambda key: False):
    """The request STS would evaluate: `web_identity_request` for the claims and session name, plus `known` keys
    (aws:SourceIp, aws:CurrentTime, session tags, ...); every condition key of the policy that is neither and for
    which `unknowable(key)` holds is UNKNOWN."""
    base = web_identity_request(provider_arn, issuer_key, dict(claims), session_name)
    keys = dict(base.keys) | dict(known or {})
    present = {k.lower() for k in keys}
    for key in condition_keys(policy):
        if key.lower() not in present and unknowable(key):
            keys[key] = UNKNOWN
            present.add(key.lower())
    return dataclasses.replace(base, resource=role_arn, keys=keys)


def _names_caller(policy: PolicyDocument, statement, request) -> bool:
    """Whether the statement's principal, action and resource cover the request (its conditions set aside)."""
    alone = PolicyDocument(source=policy.source, valid=True, statements=(statement,))
    probe = dataclasses.replace(request, keys={clause.key: UNKNOWN for clause in statement.conditions})
    return evaluate([alone], probe, assume="allow").allowed


def explain_trust(policy: PolicyDocument, request) -> TrustExplanation:
    """Why `policy` admits or refuses `request` (a `web_identity_context`)."""
    sure = evaluate([policy], request, assume="deny")
    if sure.allowed:
        return TrustExplanation("admitted")
    # "could it be allowed?" differs from "is it surely allowed?" only when something was undecidable.
    maybe = evaluate([policy], request, assume="allow") if sure.uncertain else sure
    if maybe.effect is Effect.EXPLICIT_DENY:
        return TrustExplanation("refused", denied_by=[ref.sid or f"statement {ref.index}" for ref in maybe.deciding])
    if maybe.allowed:
        keys = sorted({u.key for u in (sure.undecided or maybe.undecided) if u.key})
        return TrustExplanation("undecided", undecided_keys=keys)
    keys = normalise_keys(request.keys)
    out = TrustExplanation("refused")
    for statement in policy.statements:
        if not statement.is_allow:
            continue
        out.federated.extend(v for v in statement.federated if v not in out.federated)
        if not _names_caller(policy, statement, request):
            continue
        for clause in statement.conditions:
            result, _ = evaluate_condition(clause, keys)
            if result is False:
                given = keys.get(clause.key_lc)
                out.refusals.append(RefusingCondition(statement.index, statement.sid, clause.operator, clause.key,
                                                      tuple(clause.values), given if isinstance(given, tuple) else None))
                break
    out.no_statement = not out.refusals
    return out
