"""One IAM policy evaluator: every trust, permission and pre-flight question is asked of `evaluate`.

Semantics (IAM user guide: "Policy evaluation logic", "IAM JSON policy elements: Condition operators",
"Multivalued context keys", "Permissions boundaries"):

* Within one policy set an explicit Deny wins over an Allow; without an Allow the request is implicitly denied.
  `evaluate_with_boundary` intersects the identity policies with the permissions boundary; a Deny in either wins.
* A statement applies when its action, resource, principal and all its conditions match. Action names are
  matched case-insensitively, resources case-sensitively, both with ``*``/``?`` wildcards over the whole string
  (`wildcards.py`: one matcher without backtracking for every pattern question, policy variables included).
* A request's action or resource may itself hold ``*``/``?``. With ``wildcards="all"`` (default) it stands
  for *every* name it matches: an Allow applies only when one of its patterns covers all of them, a Deny
  applies when it matches any of them. So ``action="*", resource="*"`` asks "is everything allowed
  everywhere?" (PERMS_ADMIN_ACCESS), and a Deny on one bucket makes ``s3:DeleteBucket`` on ``*`` denied.
  With ``wildcards="any"`` it asks whether *some* matching name is allowed: an Allow applies when it
  matches any of them, a Deny only when it covers all of them ("can this role pass some role?",
  PERMS_PRIVILEGE_ESCALATION). Literal names behave the same in both modes.
* Undecidable parts (a condition key marked `UNKNOWN`, an unknown operator, an unparsable value, content the
  parser could not read) are resolved by ``assume``: ``assume="allow"`` answers "could this be allowed?"
  (undecidable Allow statements apply, undecidable Deny statements do not); ``assume="deny"`` answers
  "is this surely allowed?" (undecidable Allow statements do not apply, undecidable Deny statements do).
  `Decision.uncertain` is True exactly when the two answers differ, and `Decision.undecided` names why.

Conditions — the rules chosen where IAM is subtle:

* Operators within a statement AND; keys within an operator AND; several policy values for one key OR.
  Negated operators (StringNotEquals, StringNotLike, NumericNotEquals, DateNotEquals, NotIpAddress, ArnNotEquals,
  ArnNotLike, StringNotEqualsIgnoreCase) are NOR over the policy values: a request value satisfies them when it
  matches none.
* A key absent from the request: plain operators are false, negated operators are TRUE. Source: IAM user guide,
  "Condition operators", Important box: "If the key that you specify in a policy condition is not present in
  the request context, the values do not match and the condition is false. If the policy condition requires
  that the key is not matched, such as StringNotLike or ArnNotLike, and the right key is not present, the
  condition is true. This logic applies to all condition operators except ...IfExists and Null check."
* ``…IfExists``: an absent key makes the condition true (same page, "...IfExists condition operators").
* ``ForAllValues:`` is true when the key is absent (or has no values) or every request value satisfies the
  operator; ``ForAnyValue:`` is false when the key is absent, true when any request value satisfies it
  (IAM user guide, "Multivalued context keys" / "Multivalued context key examples": "The ForAllValues set
  operator also returns true if there are no context keys in the request"). ``ForAnyValue:…IfExists`` on an
  absent key is false: the set operator decides absence and IfExists only applies per value (AWS does not
  document this case; this follows the Cloud Copilot IAM simulator, iam.cloudcopilot.io, operator pages).
* With a negated operator a qualifier works per request value: ``ForAllValues:StringNotLike`` holds when every
  request value matches none of the patterns, ``ForAnyValue:StringNotEquals`` when some request value matches
  none. A plain operator on a multivalued request key holds when any value matches (negated: when none does).
* ``Null``: ``"true"`` holds when the key is absent, ``"false"`` when it is present.
* StringLike/ArnLike: only ``*`` and ``?`` are special. Arn operators compare the six colon-separated ARN
  components separately (IAM user guide, "Amazon Resource Name (ARN) condition operators"); ArnEquals behaves
  like ArnLike. Numeric and Date values that cannot be parsed make the condition undecidable. Dates are
  ISO 8601 (naive means UTC) or epoch seconds.
* Policy variables (IAM user guide, "IAM policy elements: Variables and tags"): in policies of Version
  2012-10-17, ``${key}`` and ``${key, 'default'}`` in Resource/NotResource and in string and ARN condition values
  are replaced by the request's single value of that key, and ``${*}``, ``${?}``, ``${$}`` stand for the literal
  characters. A variable the request cannot resolve (key absent without a default, several values, `UNKNOWN`)
  makes that match undecidable, resolved by ``assume``. In older policies ``${...}`` is plain text, as in IAM.

Principals (trust policies): ``Principal: "*"`` and ``{"AWS": "*"}`` match anyone. ``AWS`` values match by
account (``123456789012`` or ``arn:…:iam::123456789012:root`` match any principal of that account), by exact
ARN, and a role ARN matches that role's sessions (``arn:…:sts::ACCOUNT:assumed-role/NAME/…``). ``Federated``
values are compared exactly with the request's provider ARN or name, ``Service`` values case-insensitively.
Without a request principal (identity and boundary policies) Principal elements are not consulted.

Nothing here raises on a parsed document or a request: an internal failure becomes an undecidable verdict.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
from collections import abc
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .document import (
    ConditionClause,
    PolicyDocument,
    Statement,
    parse_date,
    parse_number,
    parse_policy,
)
from .cache import BoundedCache, content_digest
from .wildcards import WildcardSet, compile_wildcard, literal_template

__all__ = [
    "UNKNOWN",
    "Decision",
    "Effect",
    "Principal",
    "RequestContext",
    "StatementRef",
    "Undecided",
    "actions_allowed",
    "applicable_actions",
    "evaluate",
    "evaluate_with_boundary",
]


class _Unknown:
    """Marks a condition key whose value is not knowable at scan time (e.g. ``aws:SourceIp``)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
_ABSENT = object()


class Effect(str, enum.Enum):
    ALLOW = "Allow"
    IMPLICIT_DENY = "ImplicitDeny"
    EXPLICIT_DENY = "ExplicitDeny"


class Principal(tuple):
    """``(type, id)``, e.g. ``Principal("Federated", "arn:aws:iam::1:oidc-provider/host")``. Plain tuples work too."""

    def __new__(cls, type: str, id: str) -> Principal:  # noqa: A002 - IAM's own words
        return super().__new__(cls, (type, id))

    @property
    def type(self) -> str:
        return self[0]

    @property
    def id(self) -> str:
        return self[1]


@dataclass(frozen=True, kw_only=True)
class RequestContext:
    """One request. `keys` maps condition keys (matched case-insensitively) to a string, a list of strings, or
    `UNKNOWN`; None or an empty list means the key is absent. `principal` is ``(type, id)`` or None for
    identity/boundary questions. Action and resource may hold ``*``/``?``; `wildcards` says whether they then
    stand for every matching name ("all", default) or some matching name ("any") — see the module docstring.
    Keyword arguments only."""

    action: str
    resource: str = "*"
    principal: tuple[str, str] | None = None
    keys: Mapping[str, Any] = field(default_factory=dict)
    wildcards: str = "all"  # "all" | "any": what ``*``/``?`` in action or resource stand for


@dataclass(frozen=True)
class StatementRef:
    """A statement that took part in a verdict: the policy's `source`, the statement's index and Sid."""

    source: str
    index: int
    sid: str | None
    effect: str
    statement: Statement = field(repr=False, compare=False)


@dataclass(frozen=True)
class Undecided:
    """Why a statement could not be decided: a condition (`operator`, `key`) or an unreadable part."""

    source: str
    statement_index: int
    operator: str
    key: str
    reason: str


@dataclass(frozen=True)
class Decision:
    """The verdict. `deciding` lists the statements that produced it (Deny statements for an explicit deny,
    Allow statements for an allow, nothing for an implicit deny). `uncertain` is True when ``assume="allow"``
    and ``assume="deny"`` would give different verdicts; `undecided` says which parts were undecidable.
    For `evaluate_with_boundary`, `blocked_by` names the side(s) that refused ("identity", "boundary") and
    `identity`/`boundary` hold each side's own decision."""

    effect: Effect
    deciding: tuple[StatementRef, ...] = ()
    uncertain: bool = False
    undecided: tuple[Undecided, ...] = ()
    assume: str = "deny"
    blocked_by: tuple[str, ...] = ()
    identity: Decision | None = field(default=None, repr=False)
    boundary: Decision | None = field(default=None, repr=False)

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW


# --- wildcard matching -------------------------------------------------------------------------------

def _glob_covers(p: str, q: str) -> bool:
    """Every name matched by pattern `q` is matched by pattern `p` (sound; exact for the usual shapes)."""
    return bool(compile_wildcard(p).covers(q))


def _glob_overlaps(p: str, q: str) -> bool:
    """Some name is matched by both patterns (exact)."""
    return bool(compile_wildcard(p).overlaps(q))


def _has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def _collapse_stars(text: str) -> str:
    while "**" in text:
        text = text.replace("**", "*")
    return text


@functools.lru_cache(maxsize=8192)
def _pattern_set(patterns: tuple[str, ...], ignore_case: bool, split_service: bool,
                 variables: bool = False) -> WildcardSet:
    """One element's patterns compiled once and shared by every statement that lists the same ones."""
    return WildcardSet(patterns, ignore_case=ignore_case, split_service=split_service, variables=variables)


# --- principals --------------------------------------------------------------------------------------

def _split_arn(value: str) -> list[str] | None:
    parts = value.split(":", 5)
    return parts if len(parts) == 6 and parts[0] == "arn" else None


def _aws_identity(value: str) -> tuple[str | None, tuple[str, str] | None]:
    """(account, (account, role name) for an assumed-role session) of an AWS principal id or ARN."""
    if len(value) == 12 and value.isdigit():
        return value, None
    parts = _split_arn(value)
    if parts is None:
        return None, None
    account = parts[4] or None
    role = None
    if parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        pieces = parts[5].split("/")
        if len(pieces) >= 2 and account:
            role = (account, pieces[1])
    return account, role


class _PrincipalSet:
    __slots__ = ("anyone", "any_of_type", "values", "accounts", "arns", "roles", "services")

    def __init__(self, principals: Mapping[str, tuple[str, ...]]) -> None:
        self.anyone = "*" in principals or "*" in principals.get("AWS", ())
        self.any_of_type = frozenset(t for t, vals in principals.items() if "*" in vals)
        self.values = {t: frozenset(vals) for t, vals in principals.items()}
        accounts, arns, roles = set(), set(), set()
        for value in principals.get("AWS", ()):
            value = value.strip()
            if len(value) == 12 and value.isdigit():
                accounts.add(value)
                continue
            arns.add(value)
            parts = _split_arn(value)
            if parts and parts[2] == "iam" and parts[4]:
                if parts[5] == "root":
                    accounts.add(parts[4])
                elif parts[5].startswith("role/"):
                    roles.add((parts[4], parts[5].rsplit("/", 1)[-1]))
        self.accounts, self.arns, self.roles = frozenset(accounts), frozenset(arns), frozenset(roles)
        self.services = frozenset(v.lower() for v in principals.get("Service", ()))

    def match(self, req: _Request) -> bool:
        if self.anyone or req.principal_type in self.any_of_type:
            return True
        if req.principal_type == "AWS":
            return ((req.account is not None and req.account in self.accounts)
                    or req.principal_id in self.arns
                    or (req.role is not None and req.role in self.roles))
        if req.principal_type == "Service":
            return req.principal_id.lower() in self.services
        return req.principal_id in self.values.get(req.principal_type, ())


# --- requests ----------------------------------------------------------------------------------------

_CANONICAL_TYPES = {"aws": "AWS", "federated": "Federated", "service": "Service", "canonicaluser": "CanonicalUser"}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _normalise_keys(keys: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(keys, abc.Mapping):  # collections.abc: typing.Mapping's isinstance check is much slower
        return out
    for key, value in keys.items():
        key_lc = _text(key).lower()
        if value.__class__ is str:  # the common case first
            out[key_lc] = (value,)
        elif value is UNKNOWN:
            out[key_lc] = UNKNOWN
        elif value is None:
            continue
        elif isinstance(value, (list, tuple, set, frozenset)):
            values = tuple(v if v.__class__ is str else _text(v) for v in value if v is not None)
            if values:
                out[key_lc] = values
        else:
            out[key_lc] = (_text(value),)
    return out


class _Request:
    __slots__ = ("action", "action_wild", "resource", "resource_wild",
                 "principal_type", "principal_id", "account", "role", "keys", "any_mode")

    def __init__(self, action: Any, resource: Any, principal: Any, keys: dict[str, Any],
                 wildcards: Any = "all") -> None:
        self.any_mode = wildcards == "any"
        self.set_action(action)
        self.resource = _text(resource) if resource is not None else "*"
        self.resource_wild = _has_wildcard(self.resource)
        if self.resource_wild:
            self.resource = _collapse_stars(self.resource)
        self.principal_type: str | None = None
        self.principal_id = ""
        self.account: str | None = None
        self.role: tuple[str, str] | None = None
        if isinstance(principal, (tuple, list)) and len(principal) == 2:
            ptype = _text(principal[0])
            self.principal_type = _CANONICAL_TYPES.get(ptype.lower(), ptype)
            self.principal_id = _text(principal[1]).strip()
            if self.principal_type == "AWS":
                self.account, self.role = _aws_identity(self.principal_id)
        elif principal is not None:  # unusable principal: only "*" principals match it
            self.principal_type = "?"
        self.keys = keys

    def set_action(self, action: Any) -> None:
        self.action = _collapse_stars(_text(action).lower())
        self.action_wild = _has_wildcard(self.action)


def _as_request(request: RequestContext) -> _Request:
    return _Request(getattr(request, "action", ""), getattr(request, "resource", "*"),
                    getattr(request, "principal", None), _normalise_keys(getattr(request, "keys", None)),
                    getattr(request, "wildcards", "all"))


# --- conditions --------------------------------------------------------------------------------------

def _numeric(compare):
    def match(clause: ConditionClause, value: str, keys: Mapping[str, Any] | None = None,
              parse=parse_number) -> bool | None:
        number = parse(value)
        if number is None:
            return None
        return any(compare(number, operand) for operand in clause.operands)
    return match


def _date(compare):
    inner = _numeric(compare)
    return lambda clause, value, keys=None: inner(clause, value, keys, parse_date)


def _ip(clause: ConditionClause, value: str, keys: Mapping[str, Any] | None = None) -> bool | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    return any(address in network for network in clause.operands)


def _arn(clause: ConditionClause, value: str, keys: Mapping[str, Any]) -> bool | None:
    parts = value.split(":", 5)
    undecided = False
    for kind, compiled in clause.operands:
        if kind == "glob":
            found = compiled.match(value, keys)
        elif len(parts) == 6:
            found = _all3(pattern.match(part, keys) for pattern, part in zip(compiled, parts))
        else:
            continue
        if found:
            return True
        undecided = undecided or found is None
    return None if undecided else False


def _string_equals(fold: bool):
    def match(clause: ConditionClause, value: str, keys: Mapping[str, Any]) -> bool | None:
        literal, templates = clause.operands
        value = value.casefold() if fold else value
        if value in literal:
            return True
        undecided = False
        for template in templates:
            expected = literal_template(template, keys)
            if expected is None:
                undecided = True
            elif (expected.casefold() if fold else expected) == value:
                return True
        return None if undecided else False
    return match


def _bool(clause: ConditionClause, value: str, keys: Mapping[str, Any] | None = None) -> bool:
    text = value.strip().lower()
    return any(text == ("true" if operand else "false") for operand in clause.operands)


_EQ = lambda a, b: a == b  # noqa: E731
_MATCHERS = {
    "StringEquals": _string_equals(False), "StringNotEquals": _string_equals(False),
    "BinaryEquals": lambda c, v, keys: v in c.operands[0],
    "StringEqualsIgnoreCase": _string_equals(True), "StringNotEqualsIgnoreCase": _string_equals(True),
    "StringLike": lambda c, v, keys: c.operands[0].match(v, keys),
    "StringNotLike": lambda c, v, keys: c.operands[0].match(v, keys),
    "NumericEquals": _numeric(_EQ), "NumericNotEquals": _numeric(_EQ),
    "NumericLessThan": _numeric(lambda a, b: a < b), "NumericLessThanEquals": _numeric(lambda a, b: a <= b),
    "NumericGreaterThan": _numeric(lambda a, b: a > b),
    "NumericGreaterThanEquals": _numeric(lambda a, b: a >= b),
    "DateEquals": _date(_EQ), "DateNotEquals": _date(_EQ),
    "DateLessThan": _date(lambda a, b: a < b), "DateLessThanEquals": _date(lambda a, b: a <= b),
    "DateGreaterThan": _date(lambda a, b: a > b), "DateGreaterThanEquals": _date(lambda a, b: a >= b),
    "Bool": _bool, "IpAddress": _ip, "NotIpAddress": _ip,
    "ArnEquals": _arn, "ArnLike": _arn, "ArnNotEquals": _arn, "ArnNotLike": _arn,
}


def _any3(results: Iterable[bool | None]) -> bool | None:
    undecided = False
    for result in results:
        if result is True:
            return True
        if result is None:
            undecided = True
    return None if undecided else False


def _all3(results: Iterable[bool | None]) -> bool | None:
    undecided = False
    for result in results:
        if result is False:
            return False
        if result is None:
            undecided = True
    return None if undecided else True


def _not3(value: bool | None) -> bool | None:
    return None if value is None else not value


def evaluate_condition(clause: ConditionClause, keys: Mapping[str, Any]) -> tuple[bool | None, str]:
    """One (operator, key) clause against normalised request keys: (True/False/None=undecidable, reason)."""
    if clause.problem is not None:
        return None, clause.problem
    value = keys.get(clause.key_lc, _ABSENT)
    if value is UNKNOWN:
        return None, f"{clause.key} is not knowable at scan time"
    if clause.base == "Null":
        present = value is not _ABSENT
        return any(present != wants_absent for wants_absent in clause.operands), ""
    if value is _ABSENT:
        if clause.qualifier == "ForAllValues":
            return True, ""
        if clause.qualifier == "ForAnyValue":
            return False, ""
        return (True if clause.if_exists else clause.negated), ""
    matcher = _MATCHERS[clause.base]
    if clause.qualifier is None:
        result = _any3(matcher(clause, v, keys) for v in value)
        if clause.negated:
            result = _not3(result)
    elif clause.negated:
        per_value = (_not3(matcher(clause, v, keys)) for v in value)
        result = _all3(per_value) if clause.qualifier == "ForAllValues" else _any3(per_value)
    else:
        per_value = (matcher(clause, v, keys) for v in value)
        result = _all3(per_value) if clause.qualifier == "ForAllValues" else _any3(per_value)
    if result is None:
        return None, (f"a request value of {clause.key} cannot be read by {clause.operator}, or a policy "
                      "variable in its values has no single value in the request")
    return result, ""


# --- statements --------------------------------------------------------------------------------------

class _Compiled:
    __slots__ = ("actions", "resources", "principals")

    def __init__(self, statement: Statement) -> None:
        self.actions = (_pattern_set(statement.actions, True, True) if statement.actions is not None else None)
        self.resources = (_pattern_set(statement.resources, False, False, statement.variables)
                          if statement.resources is not None else None)
        self.principals = (_PrincipalSet(statement.principals) if statement.principals is not None else None)


def _compiled(statement: Statement) -> _Compiled:
    compiled = statement._compiled.get("matchers")
    if compiled is None:
        compiled = statement._compiled["matchers"] = _Compiled(statement)
    return compiled


def _list_match(patterns: WildcardSet, literal: bool, value: str, keys: Mapping[str, Any],
                covers: bool) -> bool | None:
    if literal:
        return patterns.match(value, keys)
    return patterns.covers(value, keys) if covers else patterns.overlaps(value, keys)


def _part(matched: bool | None, negated: bool, uncertain: bool) -> bool | None:
    """Whether a (Not)Action/(Not)Resource/(Not)Principal element lets the statement apply. A list with
    unreadable content (or a policy variable the request cannot resolve) is only sure where it matched; a
    non-match is undecidable."""
    listed: bool | None = True if matched else (None if uncertain or matched is None else False)
    return _not3(listed) if negated else listed


def _statement_state(statement: Statement, req: _Request) -> tuple[bool | None, list[tuple[str, str, str]]]:
    """(applies: True/False/None, undecided parts as (operator, key, reason))."""
    compiled = _compiled(statement)
    allow = statement.effect == "Allow"
    reasons: list[tuple[str, str, str]] = []
    state: bool | None = True
    uncertain = statement.uncertain_parts

    if compiled.actions is not None:
        covers = (allow != statement.not_action) != req.any_mode
        matched = _list_match(compiled.actions, not req.action_wild, req.action, req.keys, covers)
        part = _part(matched, statement.not_action, "action" in uncertain)
        if part is False:
            return False, reasons
        if part is None:
            state = None
            reasons.append(("", "Action", "the action list holds content that could not be read"))

    if compiled.resources is not None:
        covers = (allow != statement.not_resource) != req.any_mode
        matched = _list_match(compiled.resources, not req.resource_wild, req.resource, req.keys, covers)
        part = _part(matched, statement.not_resource, "resource" in uncertain)
        if part is False:
            return False, reasons
        if part is None:
            state = None
            reasons.append(("", "Resource", "the resource list holds content that could not be read, or a policy "
                                            "variable the request cannot resolve"))

    if compiled.principals is not None and req.principal_type is not None:
        part = _part(compiled.principals.match(req), statement.not_principal, "principal" in uncertain)
        if part is False:
            return False, reasons
        if part is None:
            state = None
            reasons.append(("", "Principal", "the principal holds content that could not be read"))

    for clause in statement.conditions:
        result, reason = evaluate_condition(clause, req.keys)
        if result is False:
            return False, []
        if result is None:
            state = None
            reasons.append((clause.operator, clause.key, reason))
    return state, reasons


# --- policy sets -------------------------------------------------------------------------------------

def _documents(policies: Any) -> list[PolicyDocument]:
    if policies is None:
        return []
    if isinstance(policies, PolicyDocument):
        return [policies]
    if isinstance(policies, (abc.Mapping, str, bytes)):
        return [parse_policy(policies)]
    try:
        items = list(policies)
    except TypeError:
        return [parse_policy(policies)]
    return [p if isinstance(p, PolicyDocument) else parse_policy(p) for p in items]


class _SetResult:
    __slots__ = ("deny_true", "deny_maybe", "allow_true", "allow_maybe", "undecided")

    def __init__(self) -> None:
        self.deny_true: list[StatementRef] = []
        self.deny_maybe: list[StatementRef] = []
        self.allow_true: list[StatementRef] = []
        self.allow_maybe: list[StatementRef] = []
        self.undecided: list[Undecided] = []

    def verdict(self, assume: str) -> tuple[Effect, tuple[StatementRef, ...]]:
        if assume == "allow":
            if self.deny_true:
                return Effect.EXPLICIT_DENY, tuple(self.deny_true)
            if self.allow_true or self.allow_maybe:
                return Effect.ALLOW, tuple(self.allow_true + self.allow_maybe)
            return Effect.IMPLICIT_DENY, ()
        if self.deny_true or self.deny_maybe:
            return Effect.EXPLICIT_DENY, tuple(self.deny_true + self.deny_maybe)
        if self.allow_true:
            return Effect.ALLOW, tuple(self.allow_true)
        return Effect.IMPLICIT_DENY, ()


def _evaluate_set(documents: Sequence[PolicyDocument], req: _Request) -> _SetResult:
    result = _SetResult()
    for document in documents:
        for statement in document.statements:
            state, reasons = _statement_state(statement, req)
            if state is False:
                continue
            ref = StatementRef(document.source, statement.index, statement.sid, statement.effect or "",
                               statement)
            deny = statement.effect == "Deny"
            if state is True:
                (result.deny_true if deny else result.allow_true).append(ref)
            else:
                (result.deny_maybe if deny else result.allow_maybe).append(ref)
                result.undecided.extend(Undecided(document.source, statement.index, op, key, reason)
                                        for op, key, reason in reasons)
    return result


def _check_assume(assume: str) -> None:
    if assume not in ("allow", "deny"):
        raise ValueError(f'assume must be "allow" or "deny", not {assume!r}')


def _decision(result: _SetResult, assume: str) -> Decision:
    effect, deciding = result.verdict(assume)
    uncertain = result.verdict("deny" if assume == "allow" else "allow")[0] is not effect
    return Decision(effect, deciding, uncertain, tuple(result.undecided) if uncertain else (), assume)


def _failure(exc: BaseException, assume: str) -> Decision:
    effect = Effect.ALLOW if assume == "allow" else Effect.IMPLICIT_DENY
    return Decision(effect, (), True, (Undecided("", -1, "", "", f"internal error: {exc!r}"),), assume)


def evaluate(policies: Sequence[PolicyDocument], request: RequestContext, *, assume: str = "deny") -> Decision:
    """Evaluate one policy set (e.g. a trust policy, or a role's identity policies) for one request.

    ``assume`` resolves what cannot be decided (an `UNKNOWN` key, an unknown operator, an unparsable value):
    ``"allow"`` asks "could this be allowed?" — undecidable Allow statements apply and undecidable Deny
    statements do not; ``"deny"`` (default) asks "is this surely allowed?" — undecidable Allow statements do
    not apply and undecidable Deny statements do. Never raises for any documents or request (a bad
    ``assume`` is a programming error and raises ValueError).
    """
    _check_assume(assume)
    try:
        return _decision(_evaluate_set(_documents(policies), _as_request(request)), assume)
    except Exception as exc:  # noqa: BLE001 - the contract is "never raises"; the failure is reported
        return _failure(exc, assume)


def _combine(identity: Effect, boundary: Effect) -> Effect:
    if Effect.EXPLICIT_DENY in (identity, boundary):
        return Effect.EXPLICIT_DENY
    if identity is Effect.ALLOW and boundary is Effect.ALLOW:
        return Effect.ALLOW
    return Effect.IMPLICIT_DENY


def _bounded(identity: _SetResult, boundary: _SetResult | None, assume: str) -> Decision:
    if boundary is None:
        return _decision(identity, assume)
    other = "deny" if assume == "allow" else "allow"
    id_decision, b_decision = _decision(identity, assume), _decision(boundary, assume)
    effect = _combine(id_decision.effect, b_decision.effect)
    uncertain = _combine(identity.verdict(other)[0], boundary.verdict(other)[0]) is not effect
    sides = (("identity", id_decision), ("boundary", b_decision))
    if effect is Effect.ALLOW:
        blocked: tuple[str, ...] = ()
        deciding = id_decision.deciding + b_decision.deciding
    else:
        wanted = (Effect.EXPLICIT_DENY,) if effect is Effect.EXPLICIT_DENY else (Effect.IMPLICIT_DENY,
                                                                                   Effect.EXPLICIT_DENY)
        blocked = tuple(name for name, d in sides if d.effect in wanted)
        deciding = tuple(ref for name, d in sides if name in blocked for ref in d.deciding)
    undecided = tuple(identity.undecided) + tuple(boundary.undecided) if uncertain else ()
    return Decision(effect, deciding, uncertain, undecided, assume, blocked, id_decision, b_decision)


def evaluate_with_boundary(identity_policies: Sequence[PolicyDocument],
                           boundary_policies: Sequence[PolicyDocument] | None,
                           request: RequestContext, *, assume: str = "deny") -> Decision:
    """Identity policies intersected with a permissions boundary: allowed only when both allow; an explicit
    Deny on either side wins. `Decision.blocked_by` names the refusing side(s); `identity` and `boundary`
    hold each side's decision. ``boundary_policies`` None or empty means no boundary. ``assume`` as in
    `evaluate`."""
    _check_assume(assume)
    try:
        req = _as_request(request)
        boundary_docs = _documents(boundary_policies)
        identity = _evaluate_set(_documents(identity_policies), req)
        boundary = _evaluate_set(boundary_docs, req) if boundary_docs else None
        return _bounded(identity, boundary, assume)
    except Exception as exc:  # noqa: BLE001 - the contract is "never raises"
        return _failure(exc, assume)


# --- many literal actions at once ---------------------------------------------------------------------
#
# A statement whose Action element does not name an action never applies to it: `_statement_state` looks at the
# action first and stops there. So for a batch of literal action names (the PERMS_WRITE_UNEXPECTED sweep asks
# every write action AWS documents), each statement's Action element is matched against the whole batch once, and
# only the actions some statement may apply to are evaluated statement by statement; every other action gets the
# verdict of an empty policy set. The matches are cached by content (the element's patterns and the batch), so the
# same AWS managed policy asked the same batch in another role or account costs a lookup.

_BATCH_MIN = 64  # smaller batches are evaluated action by action
_ACTION_HITS: BoundedCache[frozenset[str]] = BoundedCache("action-element-hits", 4096)
_BATCHES: BoundedCache["_ActionBatch"] = BoundedCache("action-batches", 64)


class _ActionBatch:
    """A batch of action names prepared once (the sweep asks the same ~12,000 names of every role): the names once
    each in the order given, lower-cased, the positions of each lower-cased name, a content digest, and whether all
    are literal."""

    __slots__ = ("names", "lowered", "distinct", "positions", "digest", "literal")

    def __init__(self, actions: tuple[Any, ...]) -> None:
        self.names = tuple(dict.fromkeys(_text(action) for action in actions))
        self.lowered = tuple(name.lower() for name in self.names)
        self.distinct = frozenset(self.lowered)
        self.positions: dict[str, list[int]] = {}
        for i, name in enumerate(self.lowered):
            self.positions.setdefault(name, []).append(i)
        self.digest = content_digest("\n".join(self.lowered))
        self.literal = not any("*" in name or "?" in name for name in self.lowered)


def _action_batch(actions: Iterable[Any]) -> _ActionBatch:
    key = actions if isinstance(actions, tuple) else tuple(actions)
    return _BATCHES.get_or_compute(key, lambda: _ActionBatch(key))


def _batch_candidates(documents: Sequence[PolicyDocument], batch: _ActionBatch) -> set[str] | None:
    """The lower-cased actions of the batch that some statement may apply to; None when one may apply to all."""
    candidates: set[str] = set()
    for document in documents:
        for statement in document.statements:
            compiled = _compiled(statement)
            if compiled.actions is None or "action" in statement.uncertain_parts:
                return None  # a non-match is not a sure "does not apply"
            if compiled.actions.matches_all:
                if statement.not_action:
                    continue  # NotAction "*": applies to no action
                return None
            actions = compiled.actions
            hits = _ACTION_HITS.get_or_compute((statement.actions, batch.digest),
                                               lambda: actions.matching(batch.distinct))
            candidates |= (batch.distinct - hits) if statement.not_action else hits
    return candidates


def applicable_actions(policies: Sequence[PolicyDocument], actions: Iterable[str],
                       boundary: Sequence[PolicyDocument] | None = None) -> list[str]:
    """The actions (literal names, in the order given, once each) that some statement of the policies or the
    boundary names in its Action/NotAction element. Every other action gets the verdict of an empty policy set, an
    implicit deny, whatever the resource, principal or keys: asking `actions_allowed` only these finds every action
    that may be allowed or denied explicitly. A name with a wildcard, or a statement that might apply to every
    action, keeps every action."""
    batch = _action_batch(actions)
    try:
        documents = _documents(policies) + _documents(boundary)
        candidates = _batch_candidates(documents, batch) if batch.literal else None
    except Exception:  # noqa: BLE001 - never raises: keep everything, the evaluator then decides each one
        return list(batch.names)
    if candidates is None:
        return list(batch.names)
    return [batch.names[i] for i in sorted(i for a in candidates for i in batch.positions[a])]


def actions_allowed(policies: Sequence[PolicyDocument], actions: Iterable[str], resource: str = "*",
                    boundary: Sequence[PolicyDocument] | None = None, *,
                    principal: tuple[str, str] | None = None, keys: Mapping[str, Any] | None = None,
                    assume: str = "deny", wildcards: str = "all") -> dict[str, Decision]:
    """Decision per action (same resource, principal, keys), with the boundary when given. ``assume`` as in
    `evaluate`; ``wildcards`` as in `RequestContext` (the default resource ``*`` means "every resource").

    Documents are resolved and request keys normalised once; compiled matchers are cached on the
    statements, so asking hundreds of actions of a ReadOnlyAccess-size policy costs a set lookup and one
    `str.startswith` per statement and action. A large batch of literal names is first narrowed to the actions
    some statement names (see "many literal actions at once" above); the verdicts are the same.
    """
    _check_assume(assume)
    out: dict[str, Decision] = {}
    try:
        identity_docs = _documents(policies)
        boundary_docs = _documents(boundary)
        req = _Request("", resource, principal, _normalise_keys(keys or {}), wildcards)
        names = [_text(action) for action in actions]
        batch = _action_batch(names) if len(names) >= _BATCH_MIN else None
        candidates = (_batch_candidates(identity_docs + boundary_docs, batch)
                      if batch is not None and batch.literal else None)
        nothing_applies = (_bounded(_SetResult(), _SetResult() if boundary_docs else None, assume)
                           if candidates is not None else None)
    except Exception as exc:  # noqa: BLE001
        return {"": _failure(exc, assume)}
    for name in names:
        if name in out:
            continue
        if candidates is not None and name.lower() not in candidates:
            out[name] = nothing_applies
            continue
        try:
            req.set_action(name)
            identity = _evaluate_set(identity_docs, req)
            bounded = _evaluate_set(boundary_docs, req) if boundary_docs else None
            out[name] = _bounded(identity, bounded, assume)
        except Exception as exc:  # noqa: BLE001
            out[name] = _failure(exc, assume)
    return out
