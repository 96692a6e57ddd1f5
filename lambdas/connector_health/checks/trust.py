"""TRUST_*: the trust policies of the roles a connector uses (CHECKS.md "Role trust policy").

The analysis (trust/analysis.py) runs once per connector and run; each check below reports its own ID from it,
so every ID stays a self-describing unit with its title, risk and remediation.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator

from ..findings import Finding
from ..policy import PolicyDocument
from ..policy.cache import BoundedCache, content_digest
from ..trust.analysis import ExpectedPrincipal, TrustIssue, TrustTarget, analyze_trust
from ..trust.profiles import legit_identity, normalise_caller_key, profile_for_preset
from .base import Check, CheckContext, connector_roles, named_audiences, provider_arn
from .registry import register

READS = ("iam:GetAccountAuthorizationDetails",)


def trust_analysis(ctx: CheckContext) -> dict[str, list[tuple[str, TrustIssue]]]:
    """{check_id: [(role ARN, issue)]} for the connector, computed once per context."""
    cached = ctx.extras.get("trust")
    if cached is not None:
        return cached
    conn = ctx.connector
    snap = ctx.snapshot
    profile = profile_for_preset(conn.preset.name, conn.issuer_key)
    arn = provider_arn(ctx)
    provider = snap.provider_for(conn.issuer)
    siblings = [c for c in ctx.config.resolved_connectors() if c.name != conn.name]
    others = frozenset(p.arn for c in siblings for p in [snap.provider_for(c.issuer)] if p)
    same_provider = [c for c in siblings if provider and snap.provider_for(c.issuer) is provider]
    named = {r.name: r for r in conn.roles}
    # Roles of the preset's other plans (not selected for this connector) still have a known audience.
    preset_roles = {n: r for roles in conn.preset.plans.values() for r in roles for n in (r.name, *r.aliases)}
    client_ids = tuple(provider.client_ids) if provider else None
    legit = legit_identity(profile, {k: v for k, v in conn.caller.items() if normalise_caller_key(k) != "aud"})
    results: dict[str, list[tuple[str, TrustIssue]]] = {}
    for name in connector_roles(conn, snap, arn, same_provider):
        role = snap.roles[name]
        document = snap.trust_document(role)
        known = named.get(name) or preset_roles.get(name)
        if known and known.audience:
            audiences: tuple[str, ...] = (known.audience,)
        else:
            # A role nobody configured: the audiences of this connector its policy names are its own; when it names
            # none, the analysis takes the provider's (and reports an audience it should not accept as high).
            audiences = tuple(sorted(set(conn.accepted_audiences) & named_audiences(document)))
        target = TrustTarget(
            issuer_key=conn.issuer_key, provider_arn=arn, profile=profile, audiences=audiences,
            provider_audiences=client_ids, legit=legit, expected_federated=others,
            expected_principals=tuple(ExpectedPrincipal(p.principal, p.external_id)
                                      for p in (known.expected_principals if known else ())),
        )
        for issue in _analyze(document, target):
            results.setdefault(issue.check_id, []).append((role.arn, issue))
    ctx.extras["trust"] = results
    return results


# Verdicts by content: the same trust policy text judged against the same target (provider ARN, audiences, legitimate
# caller, profile: account-specific values included) gives the same issues, whichever role carries it.
_VERDICTS: BoundedCache[tuple[TrustIssue, ...]] = BoundedCache("trust-verdicts", 2048)


def _analyze(document: PolicyDocument, target: TrustTarget) -> list[TrustIssue]:
    if not isinstance(document.raw, str):
        return analyze_trust(document, [target])
    key = content_digest(document.raw, repr(target))
    issues = _VERDICTS.get_or_compute(key, lambda: tuple(analyze_trust(document, [target])))
    return [dataclasses.replace(issue, details=copy.deepcopy(issue.details)) for issue in issues]


class _TrustCheck(Check):
    permissions = READS
    needs = ("roles",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for role_arn, issue in trust_analysis(ctx).get(self.id, []):
            role = role_arn.rsplit("/", 1)[-1]
            yield self.finding(ctx, role_arn, f"Role {role}: {issue.message}", severity=issue.severity,
                               details={"role": role, **issue.details})


@register
class TrustRoleMissing(Check):
    id = "TRUST_ROLE_MISSING"
    title = "Expected role missing"
    risk = "The connector's plan cannot work without its role."
    remediation = "Recreate the role from the onboarding template (or remove the plan from the connector's config)."
    permissions = READS
    needs = ("roles",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for spec in ctx.connector.roles:
            if spec.name not in ctx.snapshot.roles:
                arn = f"arn:{ctx.snapshot.partition}:iam::{ctx.snapshot.account_id}:role/{spec.name}"
                plan = f" (plan {spec.plan})" if spec.plan else ""
                yield self.finding(ctx, arn, f"Role {spec.name}{plan} does not exist.", details={"role": spec.name, "plan": spec.plan})


@register
class TrustNotFederated(_TrustCheck):
    id = "TRUST_NOT_FEDERATED"
    title = "Role does not trust the connector's provider"
    risk = "STS refuses every exchange for this role: the connector is broken."
    remediation = ("Restore the trust policy's Allow statement with Principal {\"Federated\": <provider ARN>} and Action "
                   "sts:AssumeRoleWithWebIdentity (re-run the onboarding template).")


@register
class TrustWildcardPrincipal(_TrustCheck):
    id = "TRUST_WILDCARD_PRINCIPAL"
    title = "Trust policy allows any principal"
    risk = "Anyone who satisfies the conditions (in any AWS account) can assume the role."
    remediation = "Replace Principal \"*\" (or NotPrincipal) with {\"Federated\": <provider ARN>}."


@register
class TrustUnexpectedPrincipal(_TrustCheck):
    id = "TRUST_UNEXPECTED_PRINCIPAL"
    title = "Trust policy admits an unexpected principal"
    risk = "An extra principal in a connector role's trust policy is a classic backdoor."
    remediation = "Remove the extra principal from the trust policy: `aws iam update-assume-role-policy --role-name ROLE --policy-document file://trust.json`."


@register
class TrustUnexpectedAction(_TrustCheck):
    id = "TRUST_UNEXPECTED_ACTION"
    title = "Trust policy grants more than web-identity actions"
    risk = "sts:AssumeRole, sts:* or * in the provider's statement widens how the role can be assumed."
    remediation = "Limit the statement's Action to sts:AssumeRoleWithWebIdentity (plus sts:TagSession / sts:SetSourceIdentity if used)."


@register
class TrustAudienceUnrestricted(_TrustCheck):
    id = "TRUST_AUDIENCE_UNRESTRICTED"
    title = "Audience not pinned"
    risk = ("A token minted for another audience the provider accepts (another app on a shared provider; any app or "
            "identity pool for Google and Cognito) can assume the role. STS refuses audiences outside the provider's "
            "ClientIDList, so when that list holds only this role's audience the pin is defence in depth (low).")
    remediation = "Add StringEquals on <issuer>:aud with the connector's audience (not a wildcard, not an IfExists form)."


@register
class TrustSubjectUnrestricted(_TrustCheck):
    id = "TRUST_SUBJECT_UNRESTRICTED"
    title = "Caller identity not pinned"
    risk = ("On a shared issuer, other tenants, repositories, groups, organizations or service accounts of the issuer "
            "can assume the role.")
    remediation = ("Pin the identity key with StringEquals (GitHub: :sub repo:OWNER/REPO:... or a customised sub that "
                   "starts with repo or repository_owner; GitLab: project_path:GROUP/PROJECT:...; EKS: "
                   "system:serviceaccount:NS:NAME; Defender/Sentinel: sts:RoleSessionName MicrosoftDefenderForClouds_<GUID>), "
                   "or a StringLike pattern whose wildcard comes after the owner's boundary (repo:OWNER/*).")


@register
class TrustForAllValuesAllow(_TrustCheck):
    id = "TRUST_FORALLVALUES_ALLOW"
    title = "ForAllValues on an identity key in an Allow"
    risk = "ForAllValues is true when the claim is absent: a token without the claim passes."
    remediation = "Use the plain operator (StringEquals / StringLike) on single-valued claims, or ForAnyValue for multi-valued ones."


@register
class TrustWildcardValue(_TrustCheck):
    id = "TRUST_WILDCARD_VALUE"
    title = "Wildcard in a scoped identity condition"
    risk = ("The pattern stays within one owner, but admits every repository, project or workload of that owner "
            "(medium) or every branch, environment or run of one of them (low).")
    remediation = "Prefer StringEquals with the exact subject(s) the connector uses."


@register
class TrustDuplicateKey(_TrustCheck):
    id = "TRUST_DUPLICATE_KEY"
    title = "Duplicate key in the trust policy JSON"
    risk = "Parsers keep one of two equal keys: a restriction you wrote may silently not apply."
    remediation = "Merge the duplicated operators or condition keys into one object with all values."


@register
class TrustExpectedIdentityDenied(_TrustCheck):
    id = "TRUST_EXPECTED_IDENTITY_DENIED"
    title = "Legitimate caller refused"
    risk = "The connector is broken: every exchange ends in AccessDenied (as Sentinel's did after the March 2025 session-name change)."
    remediation = ("Fix the conditions so the legitimate caller matches (e.g. sts:RoleSessionName "
                   "MicrosoftDefenderForClouds_<tenant>, the plan's audience); re-run the onboarding template.")


@register
class TrustForeignIdentityAdmitted(_TrustCheck):
    id = "TRUST_FOREIGN_IDENTITY_ADMITTED"
    title = "Foreign caller admitted"
    risk = "A caller from the same issuer that is not yours (another audience, owner, tenant or prefix) can assume the role."
    remediation = "Tighten the audience and identity conditions to literal values of the legitimate caller."


@register
class TrustInvalidDocument(_TrustCheck):
    id = "TRUST_INVALID_DOCUMENT"
    title = "Invalid statement in the trust policy"
    risk = "IAM would reject the statement; what it was meant to restrict or allow does not apply."
    remediation = "Fix or remove the statement (Effect Allow/Deny, a Principal, an Action)."
