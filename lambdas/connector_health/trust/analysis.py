"""Trust-policy analysis: does a role's trust policy admit the legitimate caller, and only it?

One function, `analyze_trust`, serves the TRUST_* checks (roles in a snapshot) and `lint-trust` (a file). It
judges what is written (INVALID_DOCUMENT, DUPLICATE_KEY, WILDCARD_PRINCIPAL, UNEXPECTED_PRINCIPAL,
UNEXPECTED_ACTION, FORALLVALUES_ALLOW, WILDCARD_VALUE, NOT_FEDERATED) and, by effect, asks the one evaluator
(`connector_health.policy.evaluate`) about concrete callers (EXPECTED_IDENTITY_DENIED, AUDIENCE_UNRESTRICTED,
SUBJECT_UNRESTRICTED, FOREIGN_IDENTITY_ADMITTED); see CHECKS.md "How the TRUST_* checks judge".

Undecidable conditions (unknown operators, unparsable values) are resolved towards "admitted" (assume="allow"):
a foreign caller that could get in is reported, and a legitimate caller that could get in is not called broken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..findings import Severity
from ..policy import PolicyDocument, RequestContext, Statement, evaluate
from ..policy.webidentity import ACTION, web_identity_keys
from ..policy.wildcards import wildcard_match
from .profiles import Identity, Profile

ALLOWED_ACTIONS = frozenset({"sts:assumerolewithwebidentity", "sts:tagsession", "sts:setsourceidentity"})
FOREIGN_AUDIENCE = "api://connector-health-foreign-audience"
STRING_POSITIVE = frozenset({"StringEquals", "StringLike", "StringEqualsIgnoreCase"})


@dataclass
class TrustIssue:
    check_id: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None


@dataclass
class TrustTarget:
    """One provider the policy is judged against."""

    issuer_key: str  # provider URL without https://
    provider_arn: str  # the Federated principal that should be admitted
    profile: Profile
    audiences: tuple[str, ...]  # the audience(s) this role's legitimate caller presents
    foreign_audiences: tuple[str, ...] = (FOREIGN_AUDIENCE,)
    legit: Identity | None = None
    # Other Federated principals that are expected too (other monitored providers of the account).
    expected_federated: frozenset[str] = frozenset()


def _admits_web_identity_action(stmt: Statement) -> bool:
    actions = stmt.actions or ()
    matched = any(wildcard_match(a, ACTION, ignore_case=True) for a in actions)
    return (not matched) if stmt.not_action else matched


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


class _Evaluator:
    def __init__(self, document: PolicyDocument, target: TrustTarget):
        self.document = document
        self.target = target
        self.profile = target.profile
        self.hints = _claim_hints(document, target)

    def request(self, identity: Identity | None, audience: str | None, *, drop_identity: bool = False) -> RequestContext:
        profile = self.profile
        claims, session = profile.claims(identity or profile.example())
        claims.update(self.hints)
        if drop_identity:
            for key in profile.identity_keys:
                if key.startswith(":"):
                    claims.pop(key[1:], None)
                    if key == ":sub":
                        claims.pop("sub", None)
        if audience is not None:
            claims["aud"] = audience
        keys = web_identity_keys(self.target.issuer_key, claims, session)
        if drop_identity and "sts:RoleSessionName" in profile.identity_keys:
            keys["sts:RoleSessionName"] = "connector-health-session"
        return RequestContext(action=ACTION, principal=("Federated", self.target.provider_arn), keys=keys)

    def admits(self, identity: Identity | None, audience: str | None, **kw: Any) -> bool:
        return evaluate([self.document], self.request(identity, audience, **kw), assume="allow").allowed

    def caller_text(self, identity: Identity | None, audience: str | None) -> str:
        claims, session = self.profile.claims(identity or self.profile.example())
        parts = [f"aud={audience}"] if audience else ["no aud"]
        if "sub" in claims:
            parts.append(f"sub={claims['sub']}")
        if "sts:RoleSessionName" in self.profile.identity_keys:
            parts.append(f"session name {session}")
        return ", ".join(parts)


def _claim_hints(document: PolicyDocument, target: TrustTarget) -> dict[str, str]:
    """Values the policy asks for on claims that do not identify the caller (GitHub :environment,
    :job_workflow_ref, ...). Any caller can present them (any owner can name an environment, and a public reusable
    workflow can be called from any repository), so every simulated caller, legitimate or foreign, carries them."""
    prefix = target.issuer_key.lower() + ":"
    skip = {"aud", "oaud", "azp", *target.profile.extra.get("identity_claims", ("sub",))}
    skip |= {k[1:] for k in target.profile.identity_keys if k.startswith(":")}
    hints: dict[str, str] = {}
    for stmt in document.statements:
        if not stmt.is_allow:
            continue
        for clause in stmt.conditions:
            if not clause.key_lc.startswith(prefix) or clause.base not in STRING_POSITIVE or not clause.values:
                continue
            claim = clause.key[len(prefix):]
            if claim.lower() in skip:
                continue
            hints.setdefault(claim.lower(), clause.values[0].replace("*", "x").replace("?", "x"))
    return hints


def _identity_patterns(document: PolicyDocument, target: TrustTarget) -> dict[str, list[str]]:
    """Values written for each identity key (relative form) in Allow statements that could admit the provider."""
    absolute = {k.lower(): rel for rel, k in zip(target.profile.identity_keys, target.profile.absolute_keys(target.issuer_key))}
    found: dict[str, list[str]] = {}
    for stmt in document.statements:
        if not stmt.is_allow:
            continue
        for clause in stmt.conditions:
            rel = absolute.get(clause.key_lc)
            if rel and clause.base in STRING_POSITIVE and clause.qualifier is None:
                found.setdefault(rel, []).extend(clause.values)
    return found


def _policy_candidates(document: PolicyDocument, target: TrustTarget) -> list[Identity]:
    """Identities of the documented form that the policy's own identity conditions name (wildcards filled in)."""
    profile = target.profile
    per_key = {key: profile.candidates(key, values) for key, values in _identity_patterns(document, target).items()}
    candidates: list[Identity] = [c for cands in per_key.values() for c in cands]
    # An identity constrained on several keys: merge the first candidate of each key (sub's owner first).
    firsts = [cands[0] for cands in per_key.values() if cands]
    if len(firsts) > 1:
        merged_fields = dict(f for ident in reversed(firsts) for f in ident.fields)
        candidates.insert(0, Identity(firsts[0].owner, tuple(merged_fields.items()), "a caller of the documented form"))
    unique: dict[tuple[Any, ...], Identity] = {}
    for cand in candidates:
        unique.setdefault((cand.owner, cand.fields), cand)
    return list(unique.values())[:24]


def _legit_candidates(document: PolicyDocument, target: TrustTarget) -> list[Identity]:
    if target.legit is not None:
        return [target.legit]
    return [*_policy_candidates(document, target), target.profile.example()]


def analyze_trust(document: PolicyDocument, targets: list[TrustTarget], *, raw_text: bool = False) -> list[TrustIssue]:
    issues: list[TrustIssue] = []
    if not document.valid:
        reasons = "; ".join(p.message for p in document.problems[:3]) or "not a policy document"
        return [TrustIssue("TRUST_INVALID_DOCUMENT", f"The trust policy is not a valid policy document: {reasons}.")]
    for stmt in document.invalid_statements:
        issues.append(TrustIssue(
            "TRUST_INVALID_DOCUMENT",
            f"{_describe(stmt).capitalize()} would be rejected by IAM ({'; '.join(stmt.invalid_reasons)}); it was left out "
            "of the evaluation.",
            {"statement": stmt.index, "reasons": list(stmt.invalid_reasons)},
        ))
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
                f"{where.capitalize()} allows with {form}: any principal that satisfies its conditions can assume the role.",
                {"statement": stmt.index},
            ))
        for ptype, value in _principal_values(stmt):
            if value == "*" or ptype == "*":
                continue
            if ptype == "Federated" and value in expected_federated:
                continue
            kind = {"AWS": "AWS principal", "Service": "service", "Federated": "federated provider",
                    "CanonicalUser": "canonical user"}.get(ptype, ptype)
            issues.append(TrustIssue(
                "TRUST_UNEXPECTED_PRINCIPAL",
                f"{where.capitalize()} also admits the {kind} {value}, which is not the connector's provider "
                f"({', '.join(sorted(expected_federated)) or 'none expected'}).",
                {"statement": stmt.index, "principal_type": ptype, "principal": value},
            ))
        if any(_names_provider(stmt, t) for t in targets):
            extra = [a for a in (stmt.actions or ()) if a.lower() not in ALLOWED_ACTIONS]
            if stmt.not_action or extra:
                what = "uses NotAction" if stmt.not_action else f"grants {', '.join(extra)}"
                issues.append(TrustIssue(
                    "TRUST_UNEXPECTED_ACTION",
                    f"{where.capitalize()} for the provider {what}; only sts:AssumeRoleWithWebIdentity, sts:TagSession "
                    "and sts:SetSourceIdentity belong there.",
                    {"statement": stmt.index, "actions": list(stmt.actions or ()), "not_action": stmt.not_action},
                ))
        for clause in stmt.conditions:
            if clause.key_lc in identity_keys and clause.qualifier == "ForAllValues":
                issues.append(TrustIssue(
                    "TRUST_FORALLVALUES_ALLOW",
                    f"{where.capitalize()} tests {clause.key} with {clause.operator}: ForAllValues is true when the "
                    "claim is absent, so a token without it passes.",
                    {"statement": stmt.index, "operator": clause.operator, "key": clause.key},
                ))
        for target in targets:
            rel_of = {k.lower(): r for r, k in zip(target.profile.identity_keys, target.profile.absolute_keys(target.issuer_key))}
            for clause in stmt.conditions:
                rel = rel_of.get(clause.key_lc)
                if not rel or clause.base != "StringLike" or clause.qualifier:
                    continue
                for value in clause.values:
                    if ("*" in value or "?" in value) and target.profile.pattern_scoped(rel, value):
                        issues.append(TrustIssue(
                            "TRUST_WILDCARD_VALUE",
                            f"{where.capitalize()} matches {clause.key} with the pattern {value!r}: it is scoped to one "
                            "owner, but a literal value (StringEquals) would admit only the caller you mean.",
                            {"statement": stmt.index, "key": clause.key, "pattern": value},
                        ))
    return issues


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
    audiences = target.audiences or (FOREIGN_AUDIENCE,)

    candidates = _legit_candidates(document, target)
    admitted = [(c, a) for c in candidates for a in audiences if ev.admits(c, a)]
    if not admitted:
        tried = candidates[0]
        known = target.legit is not None
        who = ev.caller_text(tried, audiences[0]) if known else f"any caller of the documented form (tried {ev.caller_text(tried, audiences[0])})"
        issues.append(TrustIssue(
            "TRUST_EXPECTED_IDENTITY_DENIED",
            f"The policy does not admit the legitimate caller: {who}. Every exchange of this connector fails with "
            "AccessDenied.",
            {"caller": ev.caller_text(tried, audiences[0]), "legit_known": known},
        ))
    base, base_aud = admitted[0] if admitted else (candidates[0], audiences[0])

    # Audience pinning: a random audience, and no audience claim at all.
    aud_open = [label for label, aud in (("an arbitrary audience", FOREIGN_AUDIENCE + "-random"), ("no audience claim", None))
                if aud not in audiences and ev.admits(base, aud)]
    if aud_open:
        issues.append(TrustIssue(
            "TRUST_AUDIENCE_UNRESTRICTED",
            f"The policy does not pin {target.issuer_key}:aud to literal values: a token with {' or '.join(aud_open)} is "
            "admitted.",
            {"admitted": aud_open},
        ))

    # Identity pinning: no identity claims, an unrelated owner, owners a loose pattern also matches.
    open_to: list[str] = []
    if ev.admits(base, base_aud, drop_identity=True):
        open_to.append("a token without identity claims" if profile.kind != "defender" else "any session name")
    foreign_ids = list({(i.owner, i.fields): i for i in (profile.random_identity(), *profile.foreign(base))}.values())
    admitted_foreign = [f for f in foreign_ids if ev.admits(f, base_aud)]
    owner_foreign = [f for f in admitted_foreign if f.owner != base.owner]
    open_to += [f.label for f in owner_foreign]
    if open_to:
        keys = ", ".join(profile.absolute_keys(target.issuer_key))
        issues.append(TrustIssue(
            "TRUST_SUBJECT_UNRESTRICTED",
            f"The policy does not pin the caller's identity ({keys}) to one owner: {', '.join(dict.fromkeys(open_to))} "
            "would be admitted.",
            {"admitted": list(dict.fromkeys(open_to))},
        ))

    for f in admitted_foreign:
        issues.append(TrustIssue(
            "TRUST_FOREIGN_IDENTITY_ADMITTED",
            f"A foreign caller is admitted: {f.label} ({ev.caller_text(f, base_aud)}).",
            {"foreign": f.label, "caller": ev.caller_text(f, base_aud)},
        ))
    if target.legit is not None:
        for cand in _policy_candidates(document, target):
            if cand.owner != target.legit.owner and cand.owner not in {f.owner for f in admitted_foreign} and ev.admits(cand, base_aud):
                issues.append(TrustIssue(
                    "TRUST_FOREIGN_IDENTITY_ADMITTED",
                    f"The policy admits another owner than the configured caller: {ev.caller_text(cand, base_aud)}.",
                    {"foreign": "owner named in the policy", "caller": ev.caller_text(cand, base_aud)},
                ))
                break
    for aud in target.foreign_audiences:
        if aud in audiences:
            continue
        if ev.admits(base, aud):
            issues.append(TrustIssue(
                "TRUST_FOREIGN_IDENTITY_ADMITTED",
                f"A token for another audience is admitted: {ev.caller_text(base, aud)} (the role expects "
                f"{', '.join(audiences)}).",
                {"foreign": "another audience", "audience": aud},
            ))
    return issues
