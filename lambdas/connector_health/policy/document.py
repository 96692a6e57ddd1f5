"""IAM policy documents: one model for trust, identity and boundary policies.

`parse_policy` turns anything (a dict, JSON text as IAM returns it, junk) into a `PolicyDocument` and never
raises. What IAM would reject is reported in `problems`; statements IAM would reject outright are kept apart
in `invalid_statements` and take no part in evaluation. Odd content inside a statement (a number where a
string belongs, a nested list, ``null``) is reported and marks the affected part *uncertain*: the evaluator
then resolves it the way the caller asks (see `evaluator.evaluate`, argument ``assume``).

`find_duplicate_keys` reads raw JSON text and reports every object in which a key repeats, including
keys that differ only in letter case: a JSON parser keeps one of them and silently drops the other
restriction (TRUST_DUPLICATE_KEY).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import json
import math
import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from .cache import BoundedCache, content_digest
from .wildcards import WildcardSet, compile_wildcard, needs_template, split_arn_pattern

__all__ = [
    "ConditionClause",
    "DuplicateKey",
    "PolicyDocument",
    "PolicyProblem",
    "Statement",
    "find_duplicate_keys",
    "parse_policy",
    "parse_policy_once",
]

# --- operators ---------------------------------------------------------------------------------------

_BASE_OPERATORS = (
    "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
    "StringLike", "StringNotLike",
    "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
    "NumericGreaterThan", "NumericGreaterThanEquals",
    "DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals",
    "DateGreaterThan", "DateGreaterThanEquals",
    "Bool", "BinaryEquals", "IpAddress", "NotIpAddress",
    "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike",
    "Null",
)
_BASE_BY_LOWER = {name.lower(): name for name in _BASE_OPERATORS}

#: Operators whose policy values are combined with NOR: the condition holds for a request value when the
#: value matches none of them (IAM user guide, "Condition operators").
NEGATED_OPERATORS = frozenset({
    "StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "NumericNotEquals",
    "DateNotEquals", "NotIpAddress", "ArnNotEquals", "ArnNotLike",
})

_QUALIFIERS = {"foranyvalue": "ForAnyValue", "forallvalues": "ForAllValues"}
_PRINCIPAL_TYPES = {"aws": "AWS", "federated": "Federated", "service": "Service", "canonicaluser": "CanonicalUser"}
_STATEMENT_ELEMENTS = ("Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                       "Resource", "NotResource", "Condition")
_DOCUMENT_ELEMENTS = ("Version", "Id", "Statement")
_KNOWN_VERSIONS = ("2012-10-17", "2008-10-17")
_MAX_DEPTH = 32  # nested lists deeper than this are not read (reported, treated as uncertain)


# --- model -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PolicyProblem:
    """Something IAM would reject or that the evaluator cannot read. `statement_index` is None for the document."""

    statement_index: int | None
    message: str


@dataclass(frozen=True)
class DuplicateKey:
    """A key that occurs more than once (letter case ignored) in one JSON object.

    `path` is the JSON path of the member, e.g. ``Statement[0].Condition.StringLike``; `key` is the spelling of
    the first occurrence and `spellings` every spelling in document order (``count`` entries).
    """

    path: str
    key: str
    spellings: tuple[str, ...]
    count: int
    statement_index: int | None = None


@dataclass(eq=False)
class ConditionClause:
    """One (operator, condition key) pair of a statement's Condition block.

    `operator` and `key` keep the original spelling; `key_lc` is what the evaluator matches on. `base` is the
    canonical base operator (``StringLike``) or None when unknown. `problem` set means the clause cannot be
    decided (unknown operator, unparsable value, odd value type) and is resolved per the caller's ``assume``.
    `operands` holds the values prepared for matching (string sets, numbers, networks, compiled wildcards).
    """

    operator: str
    key: str
    values: tuple[str, ...]
    base: str | None = None
    qualifier: str | None = None  # "ForAnyValue" | "ForAllValues" | None
    if_exists: bool = False
    problem: str | None = None
    key_lc: str = ""
    operands: tuple[Any, ...] = ()

    @property
    def negated(self) -> bool:
        return self.base in NEGATED_OPERATORS

    @property
    def decidable(self) -> bool:
        return self.problem is None


@dataclass(eq=False)
class Statement:
    """One statement as written. `principals` maps a principal type (``AWS``, ``Federated``, ``Service``,
    ``CanonicalUser``, or ``*`` for ``Principal: "*"``) to its values; None when the element is absent.
    `actions`/`resources` are None when absent; `not_*` flags say the element was the negated form.
    `uncertain_parts` names the parts ("principal", "action", "resource") that held content the parser could
    not read: what they match still matches, what they do not match is undecidable.
    """

    index: int
    sid: str | None
    effect: str | None
    principals: Mapping[str, tuple[str, ...]] | None
    not_principal: bool
    actions: tuple[str, ...] | None
    not_action: bool
    resources: tuple[str, ...] | None
    not_resource: bool
    conditions: tuple[ConditionClause, ...]
    raw: Any = field(repr=False, default=None)
    source: str = ""
    invalid_reasons: tuple[str, ...] = ()
    uncertain_parts: frozenset[str] = frozenset()
    # Policy variables (${aws:username}) and ${*}-style escapes are expanded only in policies of Version 2012-10-17.
    variables: bool = False
    # Compiled matchers, filled lazily by the evaluator (kept on the statement so parsed documents are reusable).
    _compiled: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def valid(self) -> bool:
        return not self.invalid_reasons

    @property
    def is_allow(self) -> bool:
        return self.effect == "Allow"

    @property
    def is_deny(self) -> bool:
        return self.effect == "Deny"

    @property
    def federated(self) -> tuple[str, ...]:
        """The values of the statement's Federated principal (empty when it names none)."""
        return (self.principals or {}).get("Federated") or ()


@dataclass(eq=False)
class PolicyDocument:
    """A parsed policy. Reusable: evaluate it against as many requests as needed."""

    source: str = ""
    valid: bool = False
    version: str | None = None
    id: str | None = None
    statements: tuple[Statement, ...] = ()
    invalid_statements: tuple[Statement, ...] = ()
    problems: list[PolicyProblem] = field(default_factory=list)
    duplicate_keys: tuple[DuplicateKey, ...] = ()
    raw: Any = field(repr=False, default=None)

    @property
    def all_statements(self) -> tuple[Statement, ...]:
        return tuple(sorted(self.statements + self.invalid_statements, key=lambda s: s.index))


# --- helpers shared with the evaluator ---------------------------------------------------------------

_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def parse_number(text: str) -> float | None:
    """A finite number in JSON/IAM syntax, else None (no ``nan``, ``inf``, ``1_000``)."""
    text = text.strip()
    if not _NUMBER_RE.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def parse_date(text: str) -> float | None:
    """ISO 8601 date/time (naive means UTC) or epoch seconds, as epoch seconds; None when unparsable."""
    text = text.strip()
    number = parse_number(text)
    if number is not None:
        return number
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
    except (ValueError, TypeError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        return when.timestamp()
    except (OverflowError, ValueError, OSError):
        return None


def _arn_operand(value: str, variables: bool) -> tuple[Any, ...]:
    """ArnEquals/ArnLike compare each of the six colon-separated ARN components separately, each a wildcard
    pattern (IAM user guide, "Amazon Resource Name (ARN) condition operators"). A value that is not a six-part
    ARN (e.g. ``*``) is compared as one pattern over the whole string."""
    parts = split_arn_pattern(value, variables=variables)
    if len(parts) == 6:
        return ("arn", tuple(compile_wildcard(p, variables=variables) for p in parts))
    return ("glob", compile_wildcard(value, variables=variables))


# --- parsing -----------------------------------------------------------------------------------------

class _Problems:
    def __init__(self) -> None:
        self.items: list[PolicyProblem] = []

    def add(self, index: int | None, message: str) -> None:
        self.items.append(PolicyProblem(index, message))


def _short(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value, default=repr)
    except Exception:  # noqa: BLE001 - any repr trouble only shortens a message
        text = object.__repr__(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scalar_text(value: Any) -> str | None:
    """A string for JSON scalars (booleans as "true"/"false", numbers in JSON form); None for others."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return None


def _flatten(value: Any) -> tuple[list[Any], bool, bool]:
    """Items of a scalar-or-list value; returns (items, nested, too_deep). Iterative: no recursion limits."""
    if not isinstance(value, (list, tuple)):
        return [value], False, False
    items: list[Any] = []
    nested = too_deep = False
    stack: list[tuple[Any, int]] = [(v, 1) for v in reversed(value)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, tuple)):
            nested = True
            if depth >= _MAX_DEPTH:
                too_deep = True
                continue
            stack.extend((v, depth + 1) for v in reversed(item))
        else:
            items.append(item)
    return items, nested, too_deep


def _string_list(value: Any, element: str, index: int, problems: _Problems) -> tuple[tuple[str, ...], bool]:
    """Strings of an Action/Resource/principal value. Returns (strings, uncertain). Anything that is not a
    string is reported and makes the part uncertain; numbers and booleans are still kept in text form."""
    items, nested, too_deep = _flatten(value)
    uncertain = nested or too_deep
    if nested:
        problems.add(index, f"{element} holds a nested list (IAM rejects it); its strings are read, the rest is uncertain")
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
            continue
        uncertain = True
        text = _scalar_text(item)
        if text is not None:
            problems.add(index, f"{element} value {_short(item)} is not a string (read as {text!r}, treated as uncertain)")
            out.append(text)
        else:
            problems.add(index, f"{element} value {_short(item)} is not a string (ignored, treated as uncertain)")
    return tuple(out), uncertain


def _parse_principal(value: Any, element: str, index: int, problems: _Problems
                     ) -> tuple[dict[str, tuple[str, ...]], bool, str | None]:
    """Returns (principals, uncertain, invalid_reason)."""
    if isinstance(value, str):
        if value == "*":
            return {"*": ("*",)}, False, None
        problems.add(index, f"{element} {_short(value)} is a string other than \"*\"; read as an AWS principal, uncertain")
        return {"AWS": (value,)}, True, None
    if isinstance(value, Mapping):
        if not value:
            return {}, False, f"{element} is empty"
        out: dict[str, tuple[str, ...]] = {}
        uncertain = False
        for raw_type, raw_values in value.items():
            if not isinstance(raw_type, str):
                problems.add(index, f"{element} type {_short(raw_type)} is not a string (ignored, uncertain)")
                uncertain = True
                continue
            canonical = _PRINCIPAL_TYPES.get(raw_type.lower())
            if canonical is None:
                problems.add(index, f"{element} type {raw_type!r} is not one of AWS, Federated, Service, CanonicalUser")
                canonical = raw_type
            elif canonical != raw_type:
                problems.add(index, f"{element} type {raw_type!r} is spelled {canonical!r} by IAM")
            strings, odd = _string_list(raw_values, f"{element}.{raw_type}", index, problems)
            uncertain = uncertain or odd
            out[canonical] = out.get(canonical, ()) + strings
        if not any(out.values()) and not uncertain:
            return out, False, f"{element} names no principal"
        return out, uncertain, None
    problems.add(index, f"{element} is {type(value).__name__}, not \"*\" or an object (treated as uncertain)")
    return {}, True, None


def _condition_values(raw: Any) -> tuple[tuple[str, ...], str | None]:
    items, nested, too_deep = _flatten(raw)
    out: list[str] = []
    problem = None
    if nested:
        problem = "nested list of values"
    for item in items:
        text = _scalar_text(item)
        if text is None:
            problem = f"value {_short(item)} is not a string, number or boolean"
        else:
            out.append(text)
    if too_deep:
        problem = "values nested too deeply"
    if not out and problem is None:
        problem = "no values"
    return tuple(out), problem


def _string_operands(values: tuple[str, ...], variables: bool, fold: bool) -> tuple[Any, ...]:
    """(literal values as a set, values with policy variables or ``${*}``-style escapes to resolve per request)."""
    templates = tuple(v for v in values if variables and needs_template(v))
    literal = (v for v in values if v not in templates)
    return frozenset(v.casefold() for v in literal) if fold else frozenset(literal), templates


def _prepare_operands(base: str, values: tuple[str, ...], variables: bool = False
                      ) -> tuple[tuple[Any, ...], str | None]:
    """Operands for matching, or a problem when a value cannot be read for this operator. ``variables``: the
    policy is of Version 2012-10-17, so string and ARN values may hold policy variables."""
    try:
        if base == "BinaryEquals":
            return (frozenset(values), ()), None
        if base in ("StringEquals", "StringNotEquals"):
            return _string_operands(values, variables, False), None
        if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
            return _string_operands(values, variables, True), None
        if base in ("StringLike", "StringNotLike"):
            return (WildcardSet(values, variables=variables),), None
        if base.startswith("Numeric"):
            numbers = [parse_number(v) for v in values]
            bad = [v for v, n in zip(values, numbers) if n is None]
            if bad:
                return (), f"{base} value {bad[0]!r} is not a number"
            return tuple(numbers), None
        if base.startswith("Date"):
            dates = [parse_date(v) for v in values]
            bad = [v for v, d in zip(values, dates) if d is None]
            if bad:
                return (), f"{base} value {bad[0]!r} is not an ISO 8601 date or epoch seconds"
            return tuple(dates), None
        if base in ("Bool", "Null"):
            bad = [v for v in values if v.lower() not in ("true", "false")]
            if bad:
                return (), f"{base} value {bad[0]!r} is not true or false"
            return tuple(v.lower() == "true" for v in values), None
        if base in ("IpAddress", "NotIpAddress"):
            networks = []
            for v in values:
                try:
                    networks.append(ipaddress.ip_network(v.strip(), strict=False))
                except ValueError:
                    return (), f"{base} value {v!r} is not an IP address or CIDR block"
            return tuple(networks), None
        if base.startswith("Arn"):
            return tuple(_arn_operand(v, variables) for v in values), None
    except (ValueError, TypeError) as exc:  # pragma: no cover - values are strings by now; kept for safety
        return (), f"{base} value cannot be read: {exc}"
    return (), f"operator {base} is not supported"


def _parse_operator(name: str) -> tuple[str | None, str | None, bool]:
    """(base, qualifier, if_exists); base None when unknown. Case-insensitive."""
    rest = name.strip()
    qualifier = None
    if ":" in rest:
        prefix, _, tail = rest.partition(":")
        qualifier = _QUALIFIERS.get(prefix.lower())
        if qualifier is None:
            return None, None, False
        rest = tail
    if_exists = False
    if rest.lower().endswith("ifexists"):
        if_exists = True
        rest = rest[: -len("ifexists")]
    base = _BASE_BY_LOWER.get(rest.lower())
    if base == "Null" and if_exists:  # IAM has no NullIfExists
        return None, None, False
    return base, qualifier, if_exists


def _parse_conditions(value: Any, index: int, problems: _Problems, variables: bool) -> tuple[ConditionClause, ...]:
    if not isinstance(value, Mapping):
        message = f"Condition is {type(value).__name__}, not an object"
        problems.add(index, message + " (the statement's conditions are undecidable)")
        return (ConditionClause("Condition", "", (), problem=message),)
    clauses: list[ConditionClause] = []
    for op_name, block in value.items():
        if not isinstance(op_name, str):
            message = f"condition operator {_short(op_name)} is not a string"
            problems.add(index, message)
            clauses.append(ConditionClause(str(op_name), "", (), problem=message))
            continue
        base, qualifier, if_exists = _parse_operator(op_name)
        if not isinstance(block, Mapping) or not block:
            message = f"condition operator {op_name!r} does not hold an object of condition keys"
            problems.add(index, message)
            clauses.append(ConditionClause(op_name, "", (), base=base, qualifier=qualifier,
                                           if_exists=if_exists, problem=message))
            continue
        for key, raw_values in block.items():
            key_text = key if isinstance(key, str) else str(key)
            values, problem = _condition_values(raw_values)
            operands: tuple[Any, ...] = ()
            if not isinstance(key, str):
                problem = f"condition key {_short(key)} is not a string"
            elif base is None:
                problem = f"unknown condition operator {op_name!r}"
            elif problem is None:
                operands, problem = _prepare_operands(base, values, variables)
            if problem is not None:
                problems.add(index, f"{op_name} {key_text!r}: {problem} (undecidable)")
            clauses.append(ConditionClause(
                operator=op_name, key=key_text, values=values, base=base, qualifier=qualifier,
                if_exists=if_exists, problem=problem, key_lc=key_text.lower(), operands=operands,
            ))
    return tuple(clauses)


def _parse_statement(raw: Any, index: int, source: str, require_principal: bool,
                     problems: _Problems, variables: bool = False) -> Statement:
    invalid: list[str] = []
    if not isinstance(raw, Mapping):
        reason = f"statement is {type(raw).__name__}, not an object"
        problems.add(index, reason)
        return Statement(index, None, None, None, False, None, False, None, False, (), raw=raw,
                         source=source, invalid_reasons=(reason,))
    for name in raw:
        if name not in _STATEMENT_ELEMENTS:
            hint = next((e for e in _STATEMENT_ELEMENTS if isinstance(name, str) and e.lower() == name.lower()), None)
            problems.add(index, f"unknown statement element {_short(name)}"
                         + (f" (IAM spells it {hint!r}; element names are case-sensitive)" if hint else ""))
    uncertain: set[str] = set()

    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        problems.add(index, f"Sid {_short(sid)} is not a string")
        sid = _scalar_text(sid) or _short(sid)

    effect = raw.get("Effect")
    if "Effect" not in raw:
        invalid.append("no Effect")
    elif effect not in ("Allow", "Deny"):
        invalid.append(f"Effect {_short(effect)} is not \"Allow\" or \"Deny\"")
        effect = effect if isinstance(effect, str) else None

    principals = None
    not_principal = False
    if "Principal" in raw and "NotPrincipal" in raw:
        invalid.append("both Principal and NotPrincipal")
    elif "Principal" in raw or "NotPrincipal" in raw:
        not_principal = "NotPrincipal" in raw
        element = "NotPrincipal" if not_principal else "Principal"
        principals, odd, reason = _parse_principal(raw[element], element, index, problems)
        if reason:
            invalid.append(reason)
        if odd:
            uncertain.add("principal")
    elif require_principal:
        invalid.append("no Principal or NotPrincipal")

    actions = None
    not_action = False
    if "Action" in raw and "NotAction" in raw:
        invalid.append("both Action and NotAction")
    elif "Action" in raw or "NotAction" in raw:
        not_action = "NotAction" in raw
        element = "NotAction" if not_action else "Action"
        actions, odd = _string_list(raw[element], element, index, problems)
        if odd:
            uncertain.add("action")
        elif not actions:
            invalid.append(f"{element} is empty")
    else:
        invalid.append("no Action or NotAction")

    resources = None
    not_resource = False
    if "Resource" in raw and "NotResource" in raw:
        invalid.append("both Resource and NotResource")
    elif "Resource" in raw or "NotResource" in raw:
        not_resource = "NotResource" in raw
        element = "NotResource" if not_resource else "Resource"
        resources, odd = _string_list(raw[element], element, index, problems)
        if odd:
            uncertain.add("resource")
        elif not resources:
            invalid.append(f"{element} is empty")
    elif not require_principal and principals is None:
        problems.add(index, "no Resource or NotResource (IAM requires one in identity policies); matches any resource")

    conditions: tuple[ConditionClause, ...] = ()
    if "Condition" in raw:
        conditions = _parse_conditions(raw["Condition"], index, problems, variables)

    for reason in invalid:
        problems.add(index, f"statement rejected: {reason}")
    return Statement(
        index=index, sid=sid, effect=effect, principals=principals, not_principal=not_principal,
        actions=actions, not_action=not_action, resources=resources, not_resource=not_resource,
        conditions=conditions, raw=raw, source=source, invalid_reasons=tuple(invalid),
        uncertain_parts=frozenset(uncertain), variables=variables,
    )


class _KeyRepeats:
    """An `object_pairs_hook` that builds each object as `json.loads` does (the last of two equal keys wins) and
    notes whether any object repeats a key, letter case ignored: only then is the text searched for where."""

    def __init__(self) -> None:
        self.found = False

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if not self.found and len({key.lower() for key, _ in pairs}) != len(pairs):
            self.found = True
        return dict(pairs)


def _decode_text(text: str, problems: _Problems) -> tuple[Any, bool, str | None, bool]:
    """JSON value of `text` (BOM and URL-encoding handled). Returns (value, ok, json_text, a key repeats)."""
    candidate = text.lstrip("\ufeff").strip()
    attempts = [candidate]
    if "%" in candidate or "+" in candidate:
        attempts.append(urllib.parse.unquote(candidate).lstrip("\ufeff").strip())
        attempts.append(urllib.parse.unquote_plus(candidate).lstrip("\ufeff").strip())
    for number, attempt in enumerate(attempts):
        repeats = _KeyRepeats()
        try:
            value = json.loads(attempt, object_pairs_hook=repeats)
        except (ValueError, RecursionError):
            continue
        return value, True, attempt, repeats.found
    problems.add(None, "not valid JSON")
    return None, False, None, False


def parse_policy(doc: Any, *, source: str = "", require_principal: bool = False) -> PolicyDocument:
    """Parse a policy from a dict, JSON text (URL-encoded or with a BOM) or bytes. Never raises.

    ``require_principal=True`` is for trust (resource-based) policies: a statement without Principal or
    NotPrincipal is then invalid. The result is immutable in practice and reusable across requests.
    """
    try:
        return _parse_policy(doc, source, require_principal)
    except Exception as exc:  # noqa: BLE001 - the contract is "never raises"; the reason is kept
        return PolicyDocument(source=source, valid=False, raw=doc,
                              problems=[PolicyProblem(None, f"internal error while parsing: {exc!r}")])


# Parsed documents by text: the same trust policy on many roles, the same AWS managed policy in every account a hub
# worker scans, are parsed once per process. Bounded: beyond it the least recently used are parsed again.
_PARSED: BoundedCache[PolicyDocument] = BoundedCache("parsed-policies", 2048)


def parse_policy_once(doc: Any, *, source: str = "", require_principal: bool = False) -> PolicyDocument:
    """`parse_policy`, with documents given as text parsed once per process: equal texts share one parsed document
    (statements and their compiled matchers; the statements' own `source` is then empty), each caller's copy
    carrying its own `source`. The result must not be changed (none of the evaluator's callers does)."""
    if not isinstance(doc, str):
        return parse_policy(doc, source=source, require_principal=require_principal)
    key = (content_digest(doc), require_principal)
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = _PARSED.put(key, parse_policy(doc, require_principal=require_principal))
    return dataclasses.replace(parsed, source=source)


def _parse_policy(doc: Any, source: str, require_principal: bool) -> PolicyDocument:
    problems = _Problems()
    duplicates: tuple[DuplicateKey, ...] = ()
    value = doc
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            value = bytes(value).decode("utf-8-sig")
        except UnicodeDecodeError:
            problems.add(None, "bytes are not UTF-8")
            return PolicyDocument(source=source, valid=False, raw=doc, problems=problems.items)
    for _ in range(3):  # a JSON string may itself hold JSON text (double-encoded documents)
        if not isinstance(value, str):
            break
        value, ok, json_text, repeats = _decode_text(value, problems)
        if not ok:
            return PolicyDocument(source=source, valid=False, raw=doc, problems=problems.items)
        if json_text is not None and not duplicates and repeats:
            duplicates = tuple(_duplicates_of_text(json_text))
    if not isinstance(value, Mapping):
        problems.add(None, f"policy is {type(value).__name__}, not a JSON object")
        return PolicyDocument(source=source, valid=False, raw=doc, problems=problems.items,
                              duplicate_keys=duplicates)
    for dup in duplicates:
        problems.add(dup.statement_index, f"duplicate key {dup.path} ({', '.join(dup.spellings)}): "
                                          "a parser keeps one and drops the others")
    for name in value:
        if name not in _DOCUMENT_ELEMENTS:
            problems.add(None, f"unknown policy element {_short(name)}")
    version = value.get("Version")
    if version is None:
        problems.add(None, "no Version (IAM assumes 2008-10-17: policy variables are not expanded)")
    elif version not in _KNOWN_VERSIONS:
        problems.add(None, f"Version {_short(version)} is not 2012-10-17 or 2008-10-17")
    version_text = version if isinstance(version, str) else None
    policy_id = value.get("Id") if isinstance(value.get("Id"), str) else None
    if "Statement" not in value:
        problems.add(None, "no Statement")
        return PolicyDocument(source=source, valid=False, version=version_text, id=policy_id, raw=doc,
                              problems=problems.items, duplicate_keys=duplicates)
    raw_statements = value["Statement"]
    if isinstance(raw_statements, Mapping):
        raw_list: list[Any] = [raw_statements]
    elif isinstance(raw_statements, (list, tuple)):
        raw_list = list(raw_statements)
        if not raw_list:
            problems.add(None, "Statement is empty")
    else:
        raw_list = [raw_statements]
    good: list[Statement] = []
    bad: list[Statement] = []
    for index, raw in enumerate(raw_list):
        statement = _parse_statement(raw, index, source, require_principal, problems,
                                     variables=version_text == "2012-10-17")
        (good if statement.valid else bad).append(statement)
    return PolicyDocument(source=source, valid=True, version=version_text, id=policy_id,
                          statements=tuple(good), invalid_statements=tuple(bad), problems=problems.items,
                          duplicate_keys=duplicates, raw=doc)


# --- duplicate keys ----------------------------------------------------------------------------------

class _Pairs(list):
    """An object as its list of (key, value) pairs, so that repeated keys survive parsing."""


_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _member_path(parent: str, key: str) -> str:
    if _IDENT_RE.fullmatch(key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{json.dumps(key)}]"


def _statement_index_of(path: str) -> int | None:
    """Index of the statement a path lies in (0 for a single-object Statement); None outside statements."""
    match = re.match(r"(?:.*\.)?Statement(?:\[(\d+)\])?([.\[]|$)", path)
    if not match:
        return None
    if match.group(1) is not None:
        return int(match.group(1))
    return 0 if match.group(2) else None


def _duplicates_of_text(text: str) -> list[DuplicateKey]:
    try:
        tree = json.loads(text, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return []
    found: list[DuplicateKey] = []
    stack: list[tuple[Any, str]] = [(tree, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _Pairs):
            groups: dict[str, list[str]] = {}
            for key, _ in node:
                groups.setdefault(key.lower(), []).append(key)
            for spellings in groups.values():
                if len(spellings) > 1:
                    member = _member_path(path, spellings[0])
                    found.append(DuplicateKey(member, spellings[0], tuple(spellings), len(spellings),
                                              _statement_index_of(member)))
            stack.extend((value, _member_path(path, key)) for key, value in reversed(node))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{i}]") for i, value in reversed(list(enumerate(node))))
    found.sort(key=lambda d: d.path)
    return found


def find_duplicate_keys(text: str) -> list[DuplicateKey]:
    """Every object (any depth) in which a key repeats, letter case ignored, with its JSON path.

    Accepts the same text `parse_policy` does (UTF-8 BOM, URL-encoding). Invalid JSON gives an empty list;
    the caller reports invalid JSON separately. Never raises.
    """
    try:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8-sig", errors="replace")
        if not isinstance(text, str):
            return []
        candidate = text.lstrip("\ufeff").strip()
        found = _duplicates_of_text(candidate)
        if found or _is_json(candidate):
            return found
        for decoded in (urllib.parse.unquote(candidate), urllib.parse.unquote_plus(candidate)):
            decoded = decoded.lstrip("\ufeff").strip()
            if _is_json(decoded):
                return _duplicates_of_text(decoded)
        return []
    except Exception:  # noqa: BLE001 - never raises; an unreadable text has no duplicates to report
        return []


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True
