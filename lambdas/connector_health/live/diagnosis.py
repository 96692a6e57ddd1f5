"""Which STS stage refused a recorded web-identity call, why, and the fix.

STS validates in this order (FACTS.md "STS AssumeRoleWithWebIdentity"): region (RegionDisabledException), provider
(found from the token's `iss`), audience (`aud`, or `azp`, in the ClientIDList), keys (discovery and JWKS over TLS,
thumbprint), signature, expiry (5 minutes of skew), then the role's trust policy. CloudTrail records the stage only
through `errorCode` and `errorMessage`, classified as `exchange.classify` does, except that `AccessDenied` means the
trust stage whatever its text (the record of a real refusal says "An unknown error occurred").

For the trust stage the caller is rebuilt from the record (provider, `aud`, `sub`, session name, role, source IP,
user agent, time, session tags) and the role's trust policy, as the snapshot holds it now, is asked why
(`refusal.explain_trust`). Claims CloudTrail does not record are unknown there: a policy that depends on them is
reported as undecided, never guessed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..collect.aws import OidcProvider
from ..exchange.classify import Outcome, classify
from ..policy import PolicyDocument
from .events import WebIdentityCall, display
from .refusal import TrustExplanation, explain_trust, web_identity_context

STAGES = ("region", "provider", "audience", "keys", "signature", "expiry", "trust")
MSG_MISSING_AUD = "Missing a required claim: aud"

_OUTCOME_STAGE = {
    Outcome.REGION_DISABLED: ("region", "region-disabled"),
    Outcome.PROVIDER_NOT_FOUND: ("provider", "provider-missing"),
    Outcome.AUDIENCE_REJECTED: ("audience", "audience-rejected"),
    Outcome.THUMBPRINT_REJECTED: ("keys", "thumbprint-rejected"),
    Outcome.IDP_UNREACHABLE: ("keys", "keys-unreachable"),
    Outcome.SIGNATURE_REJECTED: ("signature", "token-invalid"),
}


@dataclass
class Diagnosis:
    """Why one call failed: the stage STS stopped at, a stable `cause` (groups failures, keeps findings' identity),
    one line saying what refused it, and the fix."""

    stage: str
    cause: str
    summary: str
    fix: str
    resource_arn: str
    trust: TrustExplanation | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {"stage": self.stage, "cause": self.cause, "summary": self.summary, "fix": self.fix}
        if self.trust is not None:
            out["trust"] = self.trust.as_dict()
        return out | self.details


@dataclass
class AccountView:
    """What the diagnosis may know of the account: its OIDC providers (None: unknown, e.g. offline) and a role's
    trust policy (`trust_of(role_arn)`: the parsed document, or None when the role does not exist; `trust_of` None:
    unknown)."""

    providers: list[OidcProvider] | None = None
    trust_of: Callable[[str], PolicyDocument | None] | None = None
    partition: str = "aws"
    account: str = ""

    def provider(self, key: str | None) -> OidcProvider | None:
        if key is None or self.providers is None:
            return None
        return next((p for p in self.providers if p.key == key), None)

    def provider_arn(self, call: WebIdentityCall) -> str:
        found = self.provider(call.provider_key)
        if found:
            return found.arn
        if call.provider_arn:
            return call.provider_arn
        account = call.account or self.account or "000000000000"
        return f"arn:{self.partition}:iam::{account}:oidc-provider/{call.provider_key or '?'}"

    @classmethod
    def of_snapshot(cls, snapshot) -> "AccountView":
        def trust_of(role_arn: str) -> PolicyDocument | None:
            role = snapshot.role(role_arn.rsplit("/", 1)[-1])
            return snapshot.trust_document(role) if role is not None and role.arn == role_arn else None

        return cls(providers=list(snapshot.providers) if snapshot.providers_complete else None,
                   trust_of=trust_of if snapshot.roles_complete else None,
                   partition=snapshot.partition, account=snapshot.account_id)


@dataclass(frozen=True)
class ExpectedCaller:
    """What the connector's legitimate caller presents (config `caller` and the preset), to tell a changed caller
    from a changed policy."""

    audiences: frozenset[str] = frozenset()
    session_name: str | None = None
    subject: str | None = None

    @classmethod
    def of_connector(cls, connector) -> "ExpectedCaller":
        caller = connector.caller or {}
        session = caller.get("session_name") or caller.get("sts:RoleSessionName")
        return cls(frozenset(connector.accepted_audiences), session if session and "{" not in session else None,
                   caller.get("sub"))


def _context_keys(call: WebIdentityCall) -> dict[str, Any]:
    """Keys of the request context that the record tells besides the claims."""
    keys: dict[str, Any] = {"aws:SecureTransport": "true"}
    if call.source_ip:
        keys["aws:SourceIp"] = call.source_ip
    if call.user_agent:
        keys["aws:UserAgent"] = call.user_agent
    if call.region:
        keys["aws:RequestedRegion"] = call.region
    if call.time:
        moment = call.time.astimezone(dt.timezone.utc)
        keys["aws:CurrentTime"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        keys["aws:EpochTime"] = str(int(moment.timestamp()))
    if call.source_identity:
        keys["sts:SourceIdentity"] = call.source_identity
    if call.principal_tags:
        keys["aws:TagKeys"] = [k for k, _ in call.principal_tags]
        for key, value in call.principal_tags:
            keys[f"aws:RequestTag/{key}"] = value
    return keys


def _legitimacy(call: WebIdentityCall, trust: TrustExplanation, expected: ExpectedCaller | None) -> str:
    """A sentence on whether the refused caller is the one the connector expects (changed policy) or not (changed
    caller, or someone else)."""
    first = trust.first
    if expected is None or first is None:
        return ""
    key = first.key.lower()
    sent, wanted = None, None
    if key == "sts:rolesessionname" and expected.session_name:
        sent, wanted = call.session_name, expected.session_name
    elif key.endswith(":sub") and expected.subject:
        sent, wanted = call.subject, expected.subject
    elif key.endswith(":aud") and expected.audiences:
        if call.audience in expected.audiences:
            return " The caller presents an audience the connector expects: the policy is what is wrong."
        return " The caller's audience is not one the connector expects."
    if wanted is None:
        return ""
    if sent == wanted:
        return " This is the caller the connector expects: the trust policy is what changed."
    return (f" The caller sends {display(sent)!r} where the connector expects {display(wanted)!r}: the service may have "
            f"changed what it sends (Microsoft changed its session names in March 2025), or this is not the "
            f"connector's caller.")


def trust_diagnosis(call: WebIdentityCall, view: AccountView, expected: ExpectedCaller | None) -> Diagnosis:
    role = display(call.role_arn, 1000) or "(no role in the record)"
    name = display(call.role_name)
    if view.trust_of is None:
        return Diagnosis("trust", "trust-unknown", f"STS refused the caller for {role} (AccessDenied)",
                         "Read the role's trust policy to know which condition refused the caller "
                         "(`connector-health explain --role ROLE --cloudtrail-event FILE`).", role)
    policy = view.trust_of(call.role_arn) if call.role_arn else None
    if policy is None:
        return Diagnosis("trust", "role-missing",
                         f"the caller asks for role {role}, which does not exist (STS answers AccessDenied)",
                         "Recreate the role (re-run the onboarding template) or point the caller at the right role.",
                         role)
    provider_arn = view.provider_arn(call)
    issuer_key = call.provider_key or ""
    request = web_identity_context(policy, provider_arn=provider_arn, issuer_key=issuer_key, claims=call.claims(),
                                   session_name=call.session_name, role_arn=call.role_arn,
                                   known=_context_keys(call), unknowable=lambda key: True)
    trust = explain_trust(policy, request)
    reason = trust.reason(provider_arn, giver="the caller")
    if trust.verdict == "admitted":
        fix = ("The trust policy as it is now admits the recorded caller: it was changed since the call (see "
               "TRUST_DRIFT), or a condition on something CloudTrail does not record refused it then.")
    elif trust.verdict == "undecided":
        fix = ("The policy tests claims CloudTrail does not record; check them against one of the caller's tokens: "
               f"`connector-health explain --role {name} --token JWT`.")
    elif trust.denied_by:
        fix = (f"A Deny statement of {name}'s trust policy matches the caller ({', '.join(trust.denied_by)}): "
               "narrow or remove it if this caller is legitimate.")
    elif trust.no_statement:
        fix = (f"Add an Allow statement for {provider_arn} with sts:AssumeRoleWithWebIdentity to {name}'s "
               "trust policy (re-run the onboarding template); the policy may name a deleted or recreated provider.")
    else:
        first = trust.first
        fix = (f"If this caller is legitimate, change {first.operator} {first.key} in {first.statement} of "
               f"{name}'s trust policy to admit it; if it is not, nothing is locked out: someone else is "
               "trying the role.") + _legitimacy(call, trust, expected)
    return Diagnosis("trust", trust.cause, reason, fix, call.role_arn, trust=trust)


def diagnose(call: WebIdentityCall, view: AccountView, expected: ExpectedCaller | None = None) -> Diagnosis:
    """The stage, cause and fix of one failed call (a successful call is diagnosed as admitted)."""
    code = call.error_code
    message = call.error_message or ""
    provider_arn = view.provider_arn(call)
    issuer = f"https://{display(call.provider_key)}" if call.provider_key else "the caller's issuer"
    if code is None:
        return Diagnosis("credentials", "admitted", "STS issued credentials", "", call.role_arn)
    if code == "AccessDenied":
        return trust_diagnosis(call, view, expected)
    if code == "ExpiredTokenException":
        return Diagnosis("expiry", "token-expired", f"the caller presented an expired token ({display(message)})",
                         "The caller must fetch a fresh token for each exchange (STS allows 5 minutes of clock skew "
                         "past `exp`); check its clock.", call.role_arn)
    if code == "InvalidIdentityToken" and " ".join(message.split()).startswith(MSG_MISSING_AUD):
        return Diagnosis("audience", "audience-missing", "the caller's token has no `aud` claim",
                         "Fix how the caller requests its token: it must carry an audience in the provider's "
                         "ClientIDList.", provider_arn)
    if code == "ValidationError":
        return Diagnosis("request", "request-invalid", f"STS refused the request itself ({display(message)})",
                         "Fix the caller's request (session name 2-64 characters of [\\w+=,.@-], duration 900-43200 "
                         "seconds, a role ARN).", call.role_arn)
    stage_cause = _OUTCOME_STAGE.get(classify(code, message))
    if stage_cause is None:
        return Diagnosis("unknown", f"sts-{code}", f"STS answered {display(code)}: {display(message)}",
                         "Read the CloudTrail record (the event id is in the details); this answer is reported as "
                         "is, never guessed at.", call.role_arn)
    stage, cause = stage_cause
    provider = view.provider(call.provider_key)
    if cause == "provider-missing":
        now = (" An IAM OIDC provider for it exists now (recreated since?)." if provider else
               " There is still none." if view.providers is not None else "")
        return Diagnosis(stage, cause, f"no IAM OIDC provider for {issuer} existed when the caller called.{now}",
                         f"Create the IAM OIDC provider for {issuer} (URL exactly as the token's `iss`, with the "
                         "connector's audiences and thumbprint): re-run the onboarding template.", provider_arn)
    if cause == "audience-rejected":
        listed = ""
        if provider is not None:
            listed = (" It is in the ClientIDList now (added since?)." if call.audience in provider.client_ids else
                      f" The ClientIDList holds {', '.join(display(a) or '' for a in provider.client_ids[:6])}.")
        return Diagnosis(stage, cause,
                         f"the caller's audience {display(call.audience)!r} is not in the ClientIDList of {provider_arn}."
                         f"{listed}",
                         f"If {display(call.audience)!r} is the connector's audience, add it: `aws iam "
                         f"add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn {provider_arn} "
                         f"--client-id AUDIENCE`; otherwise the caller requests tokens for the wrong audience.",
                         provider_arn, details={"audience": display(call.audience)})
    if cause == "thumbprint-rejected":
        return Diagnosis(stage, cause, f"the issuer's certificate does not match the thumbprints of {provider_arn}",
                         "Pin the thumbprint of the issuer's current top intermediate certificate (see "
                         "PROVIDER_THUMBPRINT_MISMATCH for the live value).", provider_arn)
    if cause == "keys-unreachable":
        return Diagnosis(stage, cause, f"STS could not retrieve the signing keys of {issuer} ({display(message)})",
                         "Make the issuer's discovery document and JWKS reachable over HTTPS (see "
                         "PROVIDER_DISCOVERY_UNREACHABLE / PROVIDER_JWKS_UNREACHABLE); transient errors clear by "
                         "themselves.", provider_arn)
    if cause == "region-disabled":
        return Diagnosis(stage, cause, f"STS is not activated in {display(call.region) or 'the region'}",
                         "Activate STS in that region (IAM > Account settings > STS endpoints) or point the caller at "
                         "an active region.", call.role_arn)
    return Diagnosis(stage, cause, f"STS could not validate the caller's token ({display(code)}: {display(message)})",
                     "The token's signature, key id or format is wrong: the caller signs with a key its issuer no "
                     "longer publishes, or presents a token of another issuer; a fresh token from the issuer fixes "
                     "the former.", provider_arn)
