"""Trust-policy analysis: does a role's trust policy admit the legitimate caller, and only it?

One function, `analyze_trust`, serves the TRUST_* checks (roles in a snapshot) and `lint-trust` (a file or a
template's role). It judges what is written (INVALID_DOCUMENT, DUPLICATE_KEY, WILDCARD_PRINCIPAL,
UNEXPECTED_PRINCIPAL, UNEXPECTED_ACTION, FORALLVALUES_ALLOW, WILDCARD_VALUE, NOT_FEDERATED) and, by effect, asks
the one evaluator (`connector_health.policy.evaluate`) about concrete callers built by the issuer's grammar
(trust/profiles.py): EXPECTED_IDENTITY_DENIED, AUDIENCE_UNRESTRICTED, SUBJECT_UNRESTRICTED,
FOREIGN_IDENTITY_ADMITTED. See CHECKS.md "How the TRUST_* checks judge".

- The legitimate caller comes from the config (or `--caller`); otherwise from the policy's own values under any
  operator (StringEquals, StringLike with its wildcards filled, ForAnyValue lists, IfExists forms), merged across
  keys; only when the policy names none, from the grammar's documented form.
- Foreign callers are derived from the policy itself: every pattern on an identity key is filled in many ways and
  the values that belong to another owner (or that any caller can present) become callers; plus an unrelated owner
  and owners whose names extend the legitimate one. No owner name is special.
- Audiences are judged with the provider (STS refuses any audience outside its ClientIDList before the policy is
  read): high only when an audience the role should not accept really reaches an Allow, low otherwise.

Undecidable conditions (unknown operators, unparsable values) are resolved towards "admitted" (assume="allow"):
a foreign caller that could get in is reported, and a legitimate caller that could get in is not called broken.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

from ..findings import Severity
from ..policy import PolicyDocument, RequestContext, Statement, evaluate, parse_policy
from ..policy.webidentity import ACTION, web_identity_keys
from .profiles import CALLER_CHOSEN, SHARED_AUDIENCES, Ident, Profile, fill_pattern, literal_prefix

ALLOWED_ACTIONS = frozenset({"sts:assumerolewithwebidentity", "sts:tagsession", "sts:setsourceidentity"})
FOREIGN_AUDIENCE = "api://connector-health-foreign-audience"
UNNAMED_AUDIENCE = "connector-health-role-audience"  # stands for the role's audience when nothing names it
ARBITRARY_AUDIENCE = "connector-health-arbitrary-audience"
POSITIVE = frozenset({"StringEquals", "StringLike", "StringEqualsIgnoreCase"})
# Web-identity principals that are not IAM OIDC providers (AWS's own federations).
BUILTIN_FEDERATIONS = ("cognito-identity.amazonaws.com", "accounts.google.com", "graph.facebook.com", "www.amazon.com")
MAX_VALUES_PER_KEY = 16
MAX_LEGIT_CANDIDATES = 16
MAX_FOREIGN = 24
PATTERN_STAND_IN = "a caller matching the policy's pattern"


@dataclass
class TrustIssue:
    check_id: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None


@dataclass(frozen=True)
class ExpectedPrincipal:
    """A principal a role is expected to trust besides its provider (e.g. Microsoft's AWS user with an external id).
    `external_id` None: some literal external id must be required, whichever."""

    principal: str
    external_id: str | None = None


@dataclass
class TrustTarget:
    """One provider the policy is judged against."""

    issuer_key: str  # provider URL without https:// (or a built-in federation name)
    provider_arn: str  # the Federated principal that should be admitted
    profile: Profile
    audiences: tuple[str, ...] = ()  # the role's own audience(s); empty: taken from the policy
    provider_audiences: tuple[str, ...] | None = None  # the provider's ClientIDList; None: unknown
    legit: Ident | None = None
    # Other Federated principals that are expected too (other monitored providers of the account).
    expected_federated: frozenset[str] = frozenset()
    expected_principals: tuple[ExpectedPrincipal, ...] = ()


def _admits_web_identity_action(stmt: Statement) -> bool:
    """Whether the statement's Action/NotAction covers sts:AssumeRoleWithWebIdentity (asked of the one evaluator)."""
    return _action_element_admits(stmt.not_action, tuple(stmt.actions or ()))


@functools.lru_cache(maxsize=1024)
def _action_element_admits(not_action: bool, actions: tuple[str, ...]) -> bool:
    """The answer by content: trust policies repeat a handful of Action elements across all roles."""
    element = "NotAction" if not_action else "Action"
    probe = parse_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", element: list(actions), "Resource": "*"}]})
    return evaluate([probe], RequestContext(action=ACTION), assume="allow").allowed


def _principal_values(stmt: Statement) -> list[tuple[str, str]]:
    """The principals a statement admits by name (none for NotPrincipal, which admits everyone else)."""
    if stmt.not_principal:
        return []
    return [(ptype, value) for ptype, values in (stmt.principals or {}).items() for value in values]


def _is_wildcard_principal(stmt: Statement) -> bool:
    return stmt.not_principal or any(p == "*" and (t in ("*", "AWS")) for t, p in _principal_values(stmt))


def _names_provider(stmt: Statement, target: TrustTarget) -> bool:
    return any(t == "Federated" and v == target.provider_arn for t, v in _principal_values(stmt))


def _describe(stmt: Statement) -> str:
    return f"statement {stmt.index}" + (f" ({stmt.sid})" if stmt.sid else "")


def _sentence(text: str) -> str:
    """`text` starting a sentence (str.capitalize would lower-case the Sid it quotes)."""
    return text[:1].upper() + text[1:]


def _invalid_federated(stmt: Statement) -> bool:
    """`Federated: "*"` (or a wildcard in a Federated value): IAM rejects such a principal."""
    return any(t == "Federated" and ("*" in v or "?" in v) for t, v in _principal_values(stmt))


def _values(clause) -> list[str]:
    return [v for v in clause.values if isinstance(v, str)][:MAX_VALUES_PER_KEY]


class _Evaluator:
    """Builds the request context STS would evaluate for a caller and asks the one evaluator."""

    def __init__(self, document: PolicyDocument, target: TrustTarget):
        self.document = document
        self.target = target
        self.profile = target.profile
        self.hints = _claim_hints(document, target)

    def request(self, ident: Ident, audience: str) -> RequestContext:
        claims, session = self.profile.render(ident)
        fixed = dict(ident.claims)  # what the identity itself implies wins over what the policy asks for
        merged = claims | {k: v for k, v in self.hints.items() if k not in fixed}
        exposed = set(self.profile.exposed_claims)
        dropped = set(fixed.get("\x00drop", "").split(","))
        token = {k: v for k, v in merged.items() if k in exposed and k not in dropped}
        token["aud"] = audience
        keys = web_identity_keys(self.target.issuer_key, {k: v for k, v in token.items() if k in ("aud", "sub", "azp")},
                                 session)
        for claim, value in token.items():  # claims webidentity does not list for every issuer (amr, oaud, ...)
            if claim not in ("aud", "sub", "azp"):
                keys[f"{self.target.issuer_key}:{claim}"] = value if isinstance(value, list) else [str(value)]
        return RequestContext(action=ACTION, principal=("Federated", self.target.provider_arn), keys=keys)

    def admits(self, ident: Ident, audience: str) -> bool:
        return evaluate([self.document], self.request(ident, audience), assume="allow").allowed

    def caller_text(self, ident: Ident, audience: str) -> str:
        claims, session = self.profile.render(ident)
        parts = [f"aud={audience}"]
        if "sub" in claims and "sts:RoleSessionName" not in self.profile.identity_keys:
            parts.append(f"sub={claims['sub']}")
        if "sts:RoleSessionName" in self.profile.identity_keys:
            parts.append(f"session name {session}")
        return ", ".join(parts)


def _claim_hints(document: PolicyDocument, target: TrustTarget) -> dict[str, str]:
    """Values the policy asks for on exposed claims that do not identify the caller (GitHub :environment, :ref,
    :job_workflow_ref, :workflow, :actor, Cognito :amr ...). Any caller can present them (any owner can name an
    environment or a branch, a public reusable workflow can be called from any repository, an actor can act in their
    own repositories), so every simulated caller, legitimate or foreign, carries them."""
    prefix = target.issuer_key.lower() + ":"
    skip = {"aud", "oaud", "azp", *(k[1:] for k in target.profile.identity_keys if k.startswith(":"))}
    hints: dict[str, str] = {}
    for stmt in document.statements:
        if not stmt.is_allow:
            continue
        for clause in stmt.conditions:
            if not clause.key_lc.startswith(prefix) or clause.base not in POSITIVE or not _values(clause):
                continue
            claim = clause.key[len(prefix):].lower()
            if claim in skip or claim not in target.profile.exposed_claims:
                continue
            hints.setdefault(claim, _values(clause)[0].replace("*", "x").replace("?", "x"))
    return hints


def _identity_values(document: PolicyDocument, target: TrustTarget) -> dict[str, list[tuple[str, bool]]]:
    """{relative identity key: [(value, is_pattern)]} written in Allow statements under any positive operator."""
    rel_of = {k.lower(): rel for rel, k in zip(target.profile.identity_keys, target.profile.absolute_keys(target.issuer_key))}
    found: dict[str, dict[tuple[str, bool], None]] = {}
    for stmt in document.statements:
        if not stmt.is_allow:
            continue
        for clause in stmt.conditions:
            rel = rel_of.get(clause.key_lc)
            if rel and clause.base in POSITIVE and clause.qualifier != "ForAllValues":
                values = found.setdefault(rel, {})
                for value in _values(clause):
                    if len(values) < MAX_VALUES_PER_KEY:  # distinct values, bounded for hostile documents
                        values.setdefault((value, clause.base == "StringLike"))
    return {key: list(values) for key, values in found.items()}


def _audience_values(document: PolicyDocument, target: TrustTarget) -> list[str]:
    """Audiences the policy names on `<issuer>:aud` under any positive operator (patterns filled)."""
    key = f"{target.issuer_key}:aud".lower()
    out: list[str] = []
    for stmt in document.statements:
        if not stmt.is_allow:
            continue
        for clause in stmt.conditions:
            if clause.key_lc == key and clause.base in POSITIVE and clause.qualifier != "ForAllValues":
                for value in _values(clause):
                    if clause.base == "StringLike":
                        out.extend(fill_pattern(value, ("x", ""), ("x",))[:2])
                    else:
                        out.append(value)
    return list(dict.fromkeys(out))


def _candidates(profile: Profile, key: str, values: list[tuple[str, bool]]) -> list[Ident]:
    found: list[Ident] = []
    for value, is_pattern in values:
        concrete = [*fill_pattern(value, profile.fillers, profile.defaults), *profile.completions(key, value)] \
            if is_pattern else [value]
        for text in concrete:
            ident = profile.parse(key, text)
            if ident is not None:
                found.append(ident)
    return found


def _policy_candidates(document: PolicyDocument, target: TrustTarget) -> list[Ident]:
    """Identities of the documented form that the policy's own identity conditions name (wildcards filled in),
    the first of each key merged into one caller (a policy may pin sub AND repository_owner, ...)."""
    profile = target.profile
    per_key = {key: _candidates(profile, key, values) for key, values in _identity_values(document, target).items()}
    out: list[Ident] = []
    firsts = [c[0] for c in per_key.values() if c]
    if len(firsts) > 1:
        claims: dict[str, str] = {}
        for ident in reversed(firsts):
            claims.update(dict(ident.claims))
        lead = firsts[0]
        out.append(dataclasses.replace(lead, claims=tuple(claims.items()), session=lead.session or next(
            (i.session for i in firsts if i.session), ""), label="a caller of the documented form"))
    out += [c for cands in per_key.values() for c in cands]
    # A pattern none of whose fillings parse (an unusual but valid value shape): some value it matches exists, so a
    # caller presenting it stands in rather than calling the connector broken. Literal values get no such pass.
    for key, values in _identity_values(document, target).items():
        if not per_key.get(key):
            for value, is_pattern in values:
                if is_pattern and key.startswith(":"):
                    text = fill_pattern(value, ("x",), ("x",))[0]
                    out.append(Ident(text, text, ((key[1:], text),), label=PATTERN_STAND_IN))
    unique: dict[tuple[Any, ...], Ident] = {}
    for cand in out:
        unique.setdefault((cand.owner, cand.claims, cand.session), cand)
    return list(unique.values())[:MAX_LEGIT_CANDIDATES]


def _literal_owners(document: PolicyDocument, target: TrustTarget) -> set[str]:
    """The owners of the identity values the policy names, when all of them are literals (empty otherwise)."""
    values = _identity_values(document, target)
    if any(is_pattern and ("*" in value or "?" in value) for found in values.values() for value, is_pattern in found):
        return set()
    return {c.owner for key, found in values.items() for c in _candidates(target.profile, key, found)}


def _pattern_foreign(document: PolicyDocument, target: TrustTarget, base: Ident) -> list[Ident]:
    """Callers whose identity value matches one of the policy's own values but belongs to another owner, or is one
    any caller can present: derived from each pattern, not from a name. A value whose every match has one owner
    (a literal, or a pattern scoped to an owner) names that owner; only values that span owners yield callers."""
    profile = target.profile
    out: dict[str, Ident] = {}
    for key, values in _identity_values(document, target).items():
        for value, is_pattern in values:
            idents = _candidates(profile, key, [(value, is_pattern)])
            owners = {i.owner for i in idents}
            if len(owners) < 2 and CALLER_CHOSEN not in owners:
                continue
            for ident in idents:
                if ident.owner == base.owner and not ident.caller_chosen:
                    continue
                if ident.caller_chosen:
                    label = (f"any caller (the {key.lstrip(':')} value {ident.get('sub') or ident.session!r} starts with "
                             "a part the caller chooses)")
                else:
                    label = f"{profile.owner_word} {ident.owner!r}, which the pattern {value!r} also matches"
                out.setdefault(ident.owner + "|" + key, ident.labelled(label))
                if len(out) >= MAX_FOREIGN:
                    return list(out.values())
    return list(out.values())


def analyze_trust(document: PolicyDocument, targets: list[TrustTarget], *, raw_text: bool = False) -> list[TrustIssue]:
    issues: list[TrustIssue] = []
    if not document.valid:
        reasons = "; ".join(p.message for p in document.problems[:3]) or "not a policy document"
        return [TrustIssue("TRUST_INVALID_DOCUMENT", f"The trust policy is not a valid policy document: {reasons}.")]
    for stmt in document.invalid_statements:
        issues.append(TrustIssue(
            "TRUST_INVALID_DOCUMENT",
            f"{_sentence(_describe(stmt))} would be rejected by IAM ({'; '.join(stmt.invalid_reasons)}); it was left out "
            "of the evaluation.",
            {"statement": stmt.index, "reasons": list(stmt.invalid_reasons)},
        ))
    rejected = [s for s in document.statements if _invalid_federated(s)]
    for stmt in rejected:
        issues.append(TrustIssue(
            "TRUST_INVALID_DOCUMENT",
            f"{_sentence(_describe(stmt))} has a wildcard Federated principal, which IAM rejects (a Federated "
            "principal names one identity provider); it was left out of the evaluation.",
            {"statement": stmt.index, "reasons": ["wildcard Federated principal"]},
        ))
    if rejected:
        document = dataclasses.replace(document, statements=tuple(s for s in document.statements if s not in rejected))
    for dup in document.duplicate_keys:
        issues.append(TrustIssue(
            "TRUST_DUPLICATE_KEY",
            f"{dup.path} repeats the key {dup.key!r} ({', '.join(repr(s) for s in dup.spellings)}): a JSON parser keeps "
            "one and silently drops the other, so one of the restrictions may not apply.",
            {"path": dup.path, "key": dup.key, "spellings": list(dup.spellings)},
        ))
    expected_federated = {t.provider_arn for t in targets}.union(*(t.expected_federated for t in targets)) if targets else set()
    identity_keys = {k.lower() for t in targets for k in t.profile.absolute_keys(t.issuer_key)}
    issues.extend(_written_issues(document, targets, expected_federated, identity_keys))
    for target in targets:
        issues.extend(_target_issues(document, target))
    return issues


def _expected_principal_issue(document: PolicyDocument, stmt: Statement, value: str,
                              expected: ExpectedPrincipal) -> TrustIssue | None:
    """An expected AWS principal must be admitted only with its external id (confused-deputy protection)."""
    principal = _as_arn(value)

    def admits(external_id: str | None) -> bool:
        keys = {"sts:ExternalId": external_id} if external_id is not None else {}
        request = RequestContext(action="sts:AssumeRole", principal=("AWS", principal), keys=keys)
        return evaluate([document], request, assume="allow").allowed

    without = [label for label, ext in (("without an external id", None),
                                        ("with another external id", "connector-health-foreign-external-id"))
               if admits(ext)]
    if not without and expected.external_id is not None and not admits(expected.external_id):
        return TrustIssue(
            "TRUST_EXPECTED_IDENTITY_DENIED",
            f"{_sentence(_describe(stmt))} does not admit the expected principal {value} with its external id "
            f"{expected.external_id}: that principal's exchanges fail with AccessDenied.",
            {"statement": stmt.index, "principal": value, "external_id": expected.external_id},
        )
    if not without:
        return None
    return TrustIssue(
        "TRUST_UNEXPECTED_PRINCIPAL",
        f"{_sentence(_describe(stmt))} admits the expected principal {value} {' and '.join(without)}: it is expected "
        f"only with the external id {expected.external_id or '(a literal sts:ExternalId)'}, so anyone able to act as "
        "that principal for another customer gets in (confused deputy).",
        {"statement": stmt.index, "principal_type": "AWS", "principal": value, "expected": True},
    )


def _as_arn(principal: str) -> str:
    return f"arn:aws:iam::{principal}:root" if principal.isdigit() else principal


def _matching_expected(value: str, targets: list[TrustTarget]) -> ExpectedPrincipal | None:
    """The expected principal a written AWS principal names (an account id and its root ARN are the same)."""
    for target in targets:
        for expected in target.expected_principals:
            if _as_arn(value) == _as_arn(expected.principal):
                return expected
    return None


def _written_issues(document: PolicyDocument, targets: list[TrustTarget], expected_federated: set[str],
                    identity_keys: set[str]) -> list[TrustIssue]:
    issues: list[TrustIssue] = []
    for stmt in document.statements:
        if not stmt.is_allow:
            continue
        where = _describe(stmt)
        if _is_wildcard_principal(stmt):
            form = "NotPrincipal in an Allow" if stmt.not_principal else "Principal \"*\""
            issues.append(TrustIssue(
                "TRUST_WILDCARD_PRINCIPAL",
                f"{_sentence(where)} allows with {form}: any principal that satisfies its conditions can assume the role.",
                {"statement": stmt.index},
            ))
        for ptype, value in _principal_values(stmt):
            if value == "*" or ptype == "*":
                continue
            if ptype == "Federated" and value in expected_federated:
                continue
            expected = _matching_expected(value, targets) if ptype == "AWS" else None
            if expected is not None:
                issue = _expected_principal_issue(document, stmt, value, expected)
                if issue:
                    issues.append(issue)
                continue
            kind = {"AWS": "AWS principal", "Service": "service", "Federated": "federated provider",
                    "CanonicalUser": "canonical user"}.get(ptype, ptype)
            issues.append(TrustIssue(
                "TRUST_UNEXPECTED_PRINCIPAL",
                f"{_sentence(where)} also admits the {kind} {value}, which is not the connector's provider "
                f"({', '.join(sorted(expected_federated)) or 'none expected'}).",
                {"statement": stmt.index, "principal_type": ptype, "principal": value},
            ))
        if any(_names_provider(stmt, t) for t in targets):
            extra = [a for a in (stmt.actions or ()) if a.lower() not in ALLOWED_ACTIONS]
            if stmt.not_action or extra:
                what = "uses NotAction" if stmt.not_action else f"grants {', '.join(extra)}"
                issues.append(TrustIssue(
                    "TRUST_UNEXPECTED_ACTION",
                    f"{_sentence(where)} for the provider {what}; only sts:AssumeRoleWithWebIdentity, sts:TagSession "
                    "and sts:SetSourceIdentity belong there.",
                    {"statement": stmt.index, "actions": list(stmt.actions or ()), "not_action": stmt.not_action},
                ))
        for clause in stmt.conditions:
            if clause.key_lc in identity_keys and clause.qualifier == "ForAllValues" and not clause.negated:
                issues.append(TrustIssue(
                    "TRUST_FORALLVALUES_ALLOW",
                    f"{_sentence(where)} tests {clause.key} with {clause.operator}: ForAllValues is true when the "
                    "claim is absent, so a token without it passes.",
                    {"statement": stmt.index, "operator": clause.operator, "key": clause.key},
                ))
    return issues


def _wildcard_values(document: PolicyDocument, target: TrustTarget) -> list[TrustIssue]:
    """TRUST_WILDCARD_VALUE: narrowing advice for patterns that keep the caller inside one owner (medium when they
    span the owner's units, low inside one unit). Patterns that span owners are judged by effect instead."""
    issues: list[TrustIssue] = []
    profile = target.profile
    rel_of = {k.lower(): r for r, k in zip(profile.identity_keys, profile.absolute_keys(target.issuer_key))}
    for stmt in document.statements:
        if not stmt.is_allow:
            continue
        for clause in stmt.conditions:
            rel = rel_of.get(clause.key_lc)
            if not rel or clause.base != "StringLike" or clause.qualifier == "ForAllValues" or clause.if_exists:
                continue
            for value in _values(clause):
                if "*" not in value and "?" not in value:
                    continue
                scope = profile.prefix_scope(rel, literal_prefix(value))
                if scope is None:
                    continue  # spans owners: SUBJECT_UNRESTRICTED / FOREIGN_IDENTITY_ADMITTED judge it by effect
                inside = scope == "unit"
                span = (f"stays inside one {profile.unit_word}" if inside else
                        f"spans every {profile.unit_word} of one {profile.owner_word}")
                issues.append(TrustIssue(
                    "TRUST_WILDCARD_VALUE",
                    f"{_sentence(_describe(stmt))} matches {clause.key} with the pattern {value!r}: it {span}; a "
                    "literal value (StringEquals) would admit only the caller you mean.",
                    {"statement": stmt.index, "key": clause.key, "pattern": value, "scope": scope or "owner"},
                    severity=Severity.LOW if inside else Severity.MEDIUM,
                ))
    return issues


def _identity_constrained(document: PolicyDocument, target: TrustTarget) -> bool:
    """Whether some Allow statement tests an identity key with a positive operator that is not IfExists."""
    keys = {k.lower() for k in target.profile.absolute_keys(target.issuer_key)}
    return any(clause.key_lc in keys and clause.base in POSITIVE and not clause.if_exists
               for stmt in document.statements if stmt.is_allow for clause in stmt.conditions)


def _weakly_pinned(document: PolicyDocument, target: TrustTarget, keys: tuple[str, ...]) -> list[str]:
    """Claims (relative keys) that some Allow statement naming the provider tests only through an IfExists or
    ForAllValues operator: CHECKS.md counts them as not pinned (true when the claim is absent)."""
    rel_of = {f"{target.issuer_key}{k}".lower(): k[1:] for k in keys if k.startswith(":")}
    weak: list[str] = []
    for stmt in document.statements:
        if not stmt.is_allow or not (_names_provider(stmt, target) or _is_wildcard_principal(stmt)):
            continue
        strong, soft = set(), set()
        for clause in stmt.conditions:
            claim = rel_of.get(clause.key_lc)
            if claim is None:
                continue
            if clause.if_exists or clause.qualifier == "ForAllValues":
                soft.add(claim)
            elif clause.base != "Null":
                strong.add(claim)
        weak += [c for c in sorted(soft - strong) if c not in weak]
    return weak


def _own_audiences(document: PolicyDocument, target: TrustTarget) -> tuple[str, ...]:
    if target.audiences:
        return target.audiences
    written = _audience_values(document, target)
    if written and target.provider_audiences:
        # STS lets only the ClientIDList's audiences through: a caller presenting anything else never reaches the
        # policy, so when the policy names none of them, the list's own are what the legitimate caller presents.
        reachable = [a for a in written if a in target.provider_audiences]
        return tuple((reachable or list(target.provider_audiences))[:4])
    if written:
        return tuple(written[:4])
    if target.provider_audiences:
        return tuple(target.provider_audiences[:4])
    return (target.profile.default_audience or UNNAMED_AUDIENCE,)


def _target_issues(document: PolicyDocument, target: TrustTarget) -> list[TrustIssue]:
    federated = [s for s in document.statements
                 if s.is_allow and (_names_provider(s, target) or _is_wildcard_principal(s)) and _admits_web_identity_action(s)]
    if not federated:
        return [TrustIssue(
            "TRUST_NOT_FEDERATED",
            f"No Allow statement lets the provider {target.provider_arn} call sts:AssumeRoleWithWebIdentity.",
            {"provider": target.provider_arn},
        )]
    ev = _Evaluator(document, target)
    profile = target.profile
    issues: list[TrustIssue] = []
    audiences = _own_audiences(document, target)

    known = target.legit is not None
    candidates = [target.legit] if known else [*_policy_candidates(document, target), profile.example()]
    admitted = next(((c, a) for c in candidates for a in audiences if ev.admits(c, a)), None)  # type: ignore[arg-type]
    if admitted is None:
        tried = candidates[0]
        written = [v for values in _identity_values(document, target).values() for v, _ in values][:3]
        who = ev.caller_text(tried, audiences[0]) if known else (
            f"no caller of the documented form matches the identity values it names ({', '.join(map(repr, written))}; "
            "StringEquals compares literally, and a condition on a key this issuer's tokens never carry is never true)"
            if written else f"any caller of the documented form (tried {ev.caller_text(tried, audiences[0])})")
        issues.append(TrustIssue(
            "TRUST_EXPECTED_IDENTITY_DENIED",
            f"The policy does not admit the legitimate caller: {who}. Every exchange of this connector fails with "
            "AccessDenied.",
            {"caller": ev.caller_text(tried, audiences[0]), "legit_known": known},
        ))
        base, base_aud = tried, audiences[0]  # type: ignore[assignment]
    else:
        base, base_aud = admitted

    issues.extend(_audience_issues(ev, target, base, base_aud, audiences))
    if profile.identity_keys:
        issues.extend(_identity_issues(document, ev, target, base, base_aud, audiences))
    issues.extend(_wildcard_values(document, target))
    return issues


def _audience_issues(ev: _Evaluator, target: TrustTarget, base: Ident, base_aud: str,
                     audiences: tuple[str, ...]) -> list[TrustIssue]:
    """AUDIENCE_UNRESTRICTED by the CHECKS.md rule: STS refuses every audience outside the provider's ClientIDList,
    so only the list's other audiences (or, for open issuers like Google and Cognito, any audience) can hurt."""
    profile = target.profile
    key = f"{target.issuer_key}:aud"
    if profile.open_audiences:
        others: tuple[str, ...] = (FOREIGN_AUDIENCE,)
        where = f"{target.issuer_key} issues tokens for any app or pool and STS accepts them all"
    elif target.provider_audiences is not None:
        others = tuple(a for a in target.provider_audiences if a not in audiences)
        where = f"the provider's ClientIDList also holds {', '.join(others)}" if others else ""
    else:
        others, where = (), ""
    reach = [a for a in others if ev.admits(base, a)]
    if reach:
        own = "" if audiences == (UNNAMED_AUDIENCE,) else f" to the role's own audience ({', '.join(audiences)})"
        shown = profile.extra.get("audience_word", "another audience") if profile.open_audiences else \
            "another audience of the provider"
        admitted = f"a token for {shown} is admitted" if profile.open_audiences else \
            ("tokens for them are admitted" if len(reach) > 1 else "tokens for it are admitted")
        return [
            TrustIssue(
                "TRUST_AUDIENCE_UNRESTRICTED",
                f"The policy does not pin {key}{own}: {where}, so {admitted}.",
                {"admitted": list(reach), "case": "foreign-audience-admitted"}, severity=Severity.HIGH,
            ),
            TrustIssue(
                "TRUST_FOREIGN_IDENTITY_ADMITTED",
                f"A token for {shown} is admitted: {ev.caller_text(base, reach[0])}"
                + ("." if audiences == (UNNAMED_AUDIENCE,) else f" (the role expects {', '.join(audiences)})."),
                {"foreign": "another audience", "audience": reach[0]},
            ),
        ]
    only_weak = bool(_weakly_pinned(ev.document, target, (":aud",)))
    if not only_weak and (ARBITRARY_AUDIENCE in audiences or not ev.admits(base, ARBITRARY_AUDIENCE)):
        return []
    if target.provider_audiences is None:
        why = ("STS refuses audiences outside the provider's ClientIDList before it reads this policy; that list is "
               "unknown here (lint-trust --provider-audience, or `check` reads it), so this is defence in depth")
    else:
        why = (f"STS refuses audiences outside the provider's ClientIDList ({', '.join(target.provider_audiences)}), "
               "which holds only this role's audience, so nothing else gets in today: defence in depth against a "
               "later addition to the list")
    return [TrustIssue(
        "TRUST_AUDIENCE_UNRESTRICTED",
        f"The policy does not pin {key} to a literal audience (no condition, a wildcard or only an IfExists form). {why}.",
        {"case": "not-pinned", "provider_audiences": list(target.provider_audiences or [])}, severity=Severity.LOW,
    )]


def _identity_issues(document: PolicyDocument, ev: _Evaluator, target: TrustTarget, base: Ident, base_aud: str,
                     audiences: tuple[str, ...]) -> list[TrustIssue]:
    profile = target.profile
    foreign = [*profile.foreign(base), *_pattern_foreign(document, target, base)]
    weak = _weakly_pinned(document, target, profile.identity_keys)
    if weak:
        foreign.append(Ident(CALLER_CHOSEN, "", (("\x00drop", ",".join(weak)),), label=(
            f"a token without {', '.join(weak)} (the policy tests it only with IfExists or ForAllValues, which are "
            "true when the claim is absent)")))
    foreign_aud = "connector-health-foreign-app" if profile.audience_pins and base_aud not in SHARED_AUDIENCES else None
    unique: dict[tuple[Any, ...], Ident] = {}
    for ident in foreign:
        if ident.audience is None and foreign_aud:
            ident = dataclasses.replace(ident, audience=profile.extra.get("foreign_audience", foreign_aud))
        unique.setdefault((ident.owner, ident.claims, ident.session, ident.audience), ident)
    admitted = [f for f in list(unique.values())[:MAX_FOREIGN] if ev.admits(f, f.audience or base_aud)]
    # An owner the policy pins with literal values only is one owner, not an unpinned identity: when the configured
    # caller is another, that is a foreign owner admitted (below), even if a generated foreign caller happens to be it.
    pinned = _literal_owners(document, target) if target.legit is not None else set()
    owner_foreign = [f for f in admitted if (f.owner != base.owner or f.caller_chosen) and f.owner not in pinned]
    if not owner_foreign and admitted and not profile.audience_pins and not _identity_constrained(document, target):
        owner_foreign = [dataclasses.replace(admitted[0], label=f"any caller of the issuer, since no condition names "
                                                                f"the caller's identity (e.g. {admitted[0].label})")]
    issues: list[TrustIssue] = []
    if owner_foreign:
        keys = ", ".join(profile.absolute_keys(target.issuer_key)) or f"{target.issuer_key}:aud"
        labels = list(dict.fromkeys(f.label for f in owner_foreign))
        issues.append(TrustIssue(
            "TRUST_SUBJECT_UNRESTRICTED",
            f"The policy does not pin the caller's identity ({keys}) to one {profile.owner_word}: "
            f"{'; '.join(labels[:4])} would be admitted.",
            {"admitted": labels},
        ))
    # A token without the claim is how CHECKS.md reads IfExists/ForAllValues; the issuer never mints one, so it
    # makes the identity unpinned without being a foreign caller anyone can be.
    admitted = [f for f in admitted if "\x00drop" not in dict(f.claims)]
    if admitted:
        shown = [f"{f.label} ({ev.caller_text(f, f.audience or base_aud)})" for f in admitted[:3]]
        more = f" and {len(admitted) - 3} more" if len(admitted) > 3 else ""
        issues.append(TrustIssue(
            "TRUST_FOREIGN_IDENTITY_ADMITTED",
            f"Foreign callers are admitted: {'; '.join(shown)}{more}." if len(admitted) > 1 else
            f"A foreign caller is admitted: {shown[0]}.",
            {"foreign": [f.label for f in admitted], "caller": ev.caller_text(admitted[0], admitted[0].audience or base_aud)},
        ))
    if target.legit is not None:
        seen = {f.owner for f in admitted}
        for cand in _policy_candidates(document, target):
            if cand.owner not in (target.legit.owner, *seen) and not cand.caller_chosen and cand.label != PATTERN_STAND_IN \
                    and ev.admits(cand, base_aud):
                issues.append(TrustIssue(
                    "TRUST_FOREIGN_IDENTITY_ADMITTED",
                    f"The policy admits another {profile.owner_word} than the configured caller: "
                    f"{ev.caller_text(cand, base_aud)}.",
                    {"foreign": "owner named in the policy", "caller": ev.caller_text(cand, base_aud)},
                ))
                break
    return issues


__all__ = ["ARBITRARY_AUDIENCE", "BUILTIN_FEDERATIONS", "ExpectedPrincipal", "FOREIGN_AUDIENCE", "TrustIssue",
           "TrustTarget", "analyze_trust"]
