"""EXCHANGE_*: what STS said to the forged probe and to real tokens.

These checks never call AWS: the scan's exchange phase (`connector_health.exchange.ExchangeRunner`) made the calls
and left its `ExchangeResults` in `ctx.extras["exchanges"]`; without it (exchanges disabled) they stay silent.

Answers that do not depend on the audience (no provider, thumbprint, IdP unreachable, region disabled) give one
finding per connector and provider, listing the audiences concerned; per-audience answers give one per audience.
Every finding keeps STS's raw code and message in `details`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..exchange.runner import ExchangeResults, ProbeResult, RealExchangeResult
from ..findings import Finding
from .base import Check, CheckContext
from .registry import register


def _results(ctx: CheckContext) -> ExchangeResults | None:
    results = ctx.extras.get("exchanges")
    return results if isinstance(results, ExchangeResults) else None


def _raw(code: str | None, message: str | None) -> str:
    return f"{code}: {message}" if message else str(code)


def _probe_details(probes: list[ProbeResult]) -> dict[str, Any]:
    first = probes[0]
    return {
        "probe": "forged",
        "issuer": first.issuer,
        "audiences": [p.audience for p in probes],
        "role_arn": first.role_arn,
        "session_name": first.session_name,
        "sts_code": first.code,
        "sts_message": first.message,
        "http_status": first.http_status,
        "request_id": first.request_id,
        "stage": first.stage,
        "latency_ms": first.latency_ms,
    }


def _exchange_details(result: RealExchangeResult) -> dict[str, Any]:
    details = {
        "probe": "real",
        "token_source": result.source,
        "role_arn": result.role_arn,
        "stage": result.stage,
        "preflight_stage": result.preflight_stage,
        "sts_code": result.code,
        "sts_message": result.message,
        "http_status": result.http_status,
        "latency_ms": result.latency_ms,
        "token_claims": result.claims,
    }
    details.update(result.details)
    return {k: v for k, v in details.items() if v not in (None, {}, [])}


class _ExchangeCheck(Check):
    # AssumeRoleWithWebIdentity is an unsigned call and GetCallerIdentity needs no permission: the exchange phase
    # needs no IAM action of its own (secretsmanager:GetSecretValue for a token source is granted per secret:
    # see connector_health.exchange.token_source_permissions).
    permissions: tuple[str, ...] = ()
    reads = ("exchanges",)

    def probes(self, ctx: CheckContext) -> list[ProbeResult]:
        results = _results(ctx)
        return [p for p in results.probes_for(ctx.connector.name) if p.check_id == self.id] if results else []

    def exchanges(self, ctx: CheckContext) -> list[RealExchangeResult]:
        results = _results(ctx)
        return [e for e in results.exchanges_for(ctx.connector.name) if e.check_id == self.id] if results else []

    def exchange_findings(self, ctx: CheckContext, what: str) -> Iterator[Finding]:
        """Findings for real exchanges that STS answered with this check's outcome."""
        for result in self.exchanges(ctx):
            yield self.finding(
                ctx, result.resource_arn,
                f"A real token from the connector's {result.source} token source passed pre-flight, but STS refused "
                f"{result.role_arn}: {what} ({_raw(result.code, result.message)}).",
                details=_exchange_details(result),
            )


class _ProviderWideCheck(_ExchangeCheck):
    """One finding per provider for answers that do not depend on the audience."""

    def describe(self, ctx: CheckContext, probes: list[ProbeResult]) -> tuple[str, str | None]:  # pragma: no cover
        raise NotImplementedError

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        by_provider: dict[str, list[ProbeResult]] = {}
        for probe in self.probes(ctx):
            by_provider.setdefault(probe.provider_arn, []).append(probe)
        for provider_arn, probes in by_provider.items():
            probes.sort(key=lambda p: p.inherited_from is not None)  # the probe STS actually answered first
            message, remediation = self.describe(ctx, probes)
            yield self.finding(ctx, provider_arn, message, remediation=remediation, details=_probe_details(probes))
        yield from self.exchange_findings(ctx, self.title.lower())


@register
class ExchangeProviderNotFound(_ProviderWideCheck):
    id = "EXCHANGE_PROVIDER_NOT_FOUND"
    title = "STS finds no OIDC provider for the issuer"
    risk = "STS refuses every token of this issuer before anything else: the connector is down."
    remediation = (
        "Recreate the IAM OIDC identity provider for ISSUER with the connector's audiences and thumbprint (re-run the "
        "onboarding template, or `aws iam create-open-id-connect-provider --url ISSUER --client-id-list ... "
        "--thumbprint-list ...`). IAM matches the token's `iss` exactly, trailing slash included."
    )

    def describe(self, ctx: CheckContext, probes: list[ProbeResult]) -> tuple[str, str | None]:
        first = probes[0]
        return (f"STS refused a test token for {first.issuer} at its first step: "
                f"\"{first.message}\" ({first.code}). No role that trusts this issuer can be assumed.",
                self.remediation.replace("ISSUER", first.issuer))


@register
class ExchangeAudienceRejected(_ExchangeCheck):
    id = "EXCHANGE_AUDIENCE_REJECTED"
    title = "STS rejects an audience the connector needs"
    risk = "Tokens for this audience are refused: the plans (roles) that use it stop working."
    remediation = ("Add the audience to the provider: `aws iam add-client-id-to-open-id-connect-provider "
                   "--open-id-connect-provider-arn ARN --client-id AUD`.")

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for probe in self.probes(ctx):
            roles = [r.name for r in ctx.connector.roles if r.audience == probe.audience]
            users = f" Roles that need it: {', '.join(roles)}." if roles else ""
            yield self.finding(
                ctx, probe.provider_arn,
                f"STS refused a test token for audience {probe.audience}: \"{probe.message}\" ({probe.code}).{users}",
                remediation=self.remediation.replace("ARN", probe.provider_arn).replace("AUD", probe.audience),
                details=_probe_details([probe]) | {"audience": probe.audience, "roles": roles},
            )
        yield from self.exchange_findings(ctx, "incorrect token audience")


@register
class ExchangeThumbprintRejected(_ProviderWideCheck):
    id = "EXCHANGE_THUMBPRINT_REJECTED"
    title = "STS rejects the issuer's certificate against the pinned thumbprint"
    risk = ("The issuer's chain is not trusted by AWS's CA library and no pinned thumbprint matches it: every "
            "exchange fails until the thumbprint is updated.")
    remediation = ("Pin the thumbprint of the issuer's current top intermediate certificate: `aws iam "
                   "update-open-id-connect-provider-thumbprint --open-id-connect-provider-arn ARN --thumbprint-list "
                   "THUMBPRINT` (verify it out of band first).")

    def describe(self, ctx: CheckContext, probes: list[ProbeResult]) -> tuple[str, str | None]:
        first = probes[0]
        live = None
        if ctx.issuer is not None:
            live = next((h.top.sha1 for h in ctx.issuer.hosts if h.top), None)
        seen = f" The issuer's chain now ends in {live}." if live else ""
        fix = self.remediation.replace("ARN", first.provider_arn).replace("THUMBPRINT", live or "<thumbprint>")
        return (f"STS refused a test token for {first.issuer}: \"{first.message}\" ({first.code}).{seen}", fix)


@register
class ExchangeIdpUnreachable(_ProviderWideCheck):
    id = "EXCHANGE_IDP_UNREACHABLE"
    title = "STS cannot retrieve the issuer's signing keys"
    risk = "STS cannot verify any token of this issuer: every exchange fails while it lasts."
    remediation = ("Make `<issuer>/.well-known/openid-configuration` and its `jwks_uri` reachable from the internet "
                   "over HTTPS with a valid chain (see the PROVIDER_DISCOVERY_UNREACHABLE / PROVIDER_JWKS_UNREACHABLE "
                   "findings for what the monitor itself sees); a transient IDPCommunicationError clears by itself.")

    def describe(self, ctx: CheckContext, probes: list[ProbeResult]) -> tuple[str, str | None]:
        first = probes[0]
        return (f"STS could not get the signing keys of {first.issuer}: \"{first.message}\" ({first.code}).", None)


@register
class ExchangeRegionDisabled(_ProviderWideCheck):
    id = "EXCHANGE_REGION_DISABLED"
    title = "STS is not activated in the region"
    risk = "Exchanges against this region's STS endpoint fail for every connector."
    remediation = ("Activate STS in REGION: IAM console > Account settings > Security Token Service (STS) > Endpoints, "
                   "or point callers at an activated region's endpoint.")

    def describe(self, ctx: CheckContext, probes: list[ProbeResult]) -> tuple[str, str | None]:
        first = probes[0]
        region = ctx.config.region
        return (f"STS in {region} refused a test token for {first.issuer}: \"{first.message}\" ({first.code}).",
                self.remediation.replace("REGION", region))


@register
class ExchangeForgedTokenAccepted(_ExchangeCheck):
    id = "EXCHANGE_FORGED_TOKEN_ACCEPTED"
    title = "STS issued credentials for a forged token"
    risk = ("Anyone can mint a token that this endpoint exchanges for the role's credentials: the role is open to "
            "the internet.")
    remediation = (
        "Find out what answers the monitor's STS calls (AWS_ENDPOINT_URL_STS, a proxy, a VPC endpoint). If it is AWS "
        "STS itself, report it to AWS Security at once, and review CloudTrail AssumeRoleWithWebIdentity events for "
        "ROLE. The monitor dropped the credentials it was given without using them."
    )

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for probe in self.probes(ctx):
            yield self.finding(
                ctx, probe.role_arn,
                f"STS returned credentials for {probe.role_arn} to a forged token (iss {probe.issuer}, aud "
                f"{probe.audience}, signed with a key generated for the probe and never published).",
                remediation=self.remediation.replace("ROLE", probe.role_arn),
                details=_probe_details([probe]) | {"assumed_role_arn": probe.assumed_role_arn},
            )


@register
class ExchangeAccessDenied(_ExchangeCheck):
    id = "EXCHANGE_ACCESS_DENIED"
    title = "STS refuses a real token that passes pre-flight"
    risk = "The legitimate caller is refused by the trust policy (or an SCP/condition pre-flight cannot see)."
    remediation = (
        "Compare the role's trust policy with the token's claims and the caller's context: conditions on keys that "
        "pre-flight cannot know (aws:SourceIp, aws:SourceVpc, aws:UserAgent, ...) or a change made after the snapshot "
        "refuse it. Fix the condition, then re-run the check."
    )

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for result in self.exchanges(ctx):
            undecided = result.details.get("preflight_undecided_keys") or []
            hint = f" Pre-flight could not decide {', '.join(undecided)}." if undecided else ""
            yield self.finding(
                ctx, result.resource_arn,
                f"A real token from the {result.source} token source passed pre-flight, but STS refused "
                f"{result.role_arn}: \"{result.message}\" ({result.code}).{hint}",
                details=_exchange_details(result),
            )


@register
class ExchangePreflightFailed(_ExchangeCheck):
    id = "EXCHANGE_PREFLIGHT_FAILED"
    title = "A real token fails pre-flight validation"
    risk = "STS would refuse this token; the connector's real caller is probably refused the same way."
    remediation = "Fix what the message names; the stage says which part of the token STS would refuse."
    stage_remediation = {
        "issuer": "Make the token source return tokens of the connector's issuer, and make sure the IAM OIDC provider "
                  "for that issuer exists (URL exactly as the token's `iss`).",
        "audience": "Request the token for an audience that is in the provider's ClientIDList and that the connector's "
                    "roles expect (the scope of the token source), or add the audience to the provider.",
        "signature": "The issuer's JWKS does not verify the token: check that the token source talks to the right "
                     "issuer and that the JWKS is reachable; after a key rotation, fetch a new token.",
        "expiry": "The token source returned an expired token: refresh it (file/env/command sources are not renewed "
                  "by the monitor).",
        "trust": "Align the role's trust policy with the legitimate caller (audience, subject, session name), or the "
                 "token source with the caller the policy names.",
    }

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for result in self.exchanges(ctx):
            stage = result.preflight_stage or "?"
            subject = f" for {result.role_arn}" if result.role_arn else ""
            yield self.finding(
                ctx, result.resource_arn,
                f"The real token from the {result.source} token source fails pre-flight at stage '{stage}'{subject}: "
                f"{result.reason}.",
                remediation=self.stage_remediation.get(stage, self.remediation),
                details=_exchange_details(result),
            )


@register
class ExchangeTokenSourceFailed(_ExchangeCheck):
    id = "EXCHANGE_TOKEN_SOURCE_FAILED"
    title = "The token source returned no usable token"
    risk = "No real exchange could be tried: whether the legitimate caller still gets in is unknown."
    remediation = (
        "Fix the token source: for entra-client-credentials check the tenant, client id, scope and that the client "
        "secret is current (AADSTS7000215: wrong secret; AADSTS7000222: expired secret; AADSTS700016: unknown "
        "application); for file/env/command sources check that they hold a fresh JWT."
    )

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for result in self.exchanges(ctx):
            yield self.finding(
                ctx, result.resource_arn,
                f"The {result.source} token source of connector {ctx.connector.name} returned no usable token: "
                f"{result.reason}.",
                details=_exchange_details(result),
            )


@register
class ExchangeCredentialsUnusable(_ExchangeCheck):
    id = "EXCHANGE_CREDENTIALS_UNUSABLE"
    title = "Issued credentials do not work"
    risk = "STS issues credentials that AWS then refuses: the connector gets in but can do nothing."
    remediation = (
        "Check the STS endpoint and region the credentials come from (session tokens of the global endpoint are not "
        "valid in opt-in regions; set the account's STS token version to v2), and whether the role's sessions were "
        "revoked (an AWSRevokeOlderSessions policy)."
    )

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for result in self.exchanges(ctx):
            yield self.finding(
                ctx, result.resource_arn,
                f"STS issued credentials for {result.role_arn} to the real token, but they do not work: {result.reason}.",
                details=_exchange_details(result),
            )


@register
class ExchangeInconclusive(_ExchangeCheck):
    id = "EXCHANGE_INCONCLUSIVE"
    title = "STS gave an answer connector-health cannot interpret"
    risk = "The state of this exchange is unknown; the raw answer is kept for a person to judge."
    remediation = ("Read STS's code and message in the details. If the answer is expected in your setup, lower this "
                   "check's severity for the connector (`severities: {EXCHANGE_INCONCLUSIVE: ...}`).")

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for probe in self.probes(ctx):
            yield self.finding(
                ctx, probe.role_arn or probe.provider_arn,
                f"STS answered the forged test token for {probe.issuer} (audience {probe.audience}) with "
                f"{_raw(probe.code, probe.message)}, which matches no known outcome; it is reported as is.",
                details=_probe_details([probe]),
            )
        for result in self.exchanges(ctx):
            yield self.finding(
                ctx, result.resource_arn,
                f"STS answered the real token for {result.role_arn} with {_raw(result.code, result.message)}, which "
                f"matches no known outcome; it is reported as is.",
                details=_exchange_details(result),
            )
