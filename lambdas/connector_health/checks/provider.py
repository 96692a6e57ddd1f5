"""PROVIDER_*: the IAM OIDC provider and the live issuer behind it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from ..bounds import clip
from ..collect.aws import OidcProvider, provider_key
from ..findings import Finding, Severity
from .base import Check, CheckContext, provider_arn
from .registry import register

PROVIDER_READS = ("iam:ListOpenIDConnectProviders", "iam:GetOpenIDConnectProvider")


def _provider(ctx: CheckContext) -> OidcProvider | None:
    return ctx.snapshot.provider_for(ctx.connector.issuer)


@register
class ProviderMissing(Check):
    id = "PROVIDER_MISSING"
    title = "OIDC provider missing"
    risk = "Without the provider STS rejects every token of this issuer: the connector is down."
    remediation = (
        "Recreate the IAM OIDC identity provider for the issuer URL with the connector's audiences and thumbprint "
        "(re-run the onboarding template, or `aws iam create-open-id-connect-provider --url URL --client-id-list ... "
        "--thumbprint-list ...`)."
    )
    permissions = PROVIDER_READS
    needs = ("providers",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        if _provider(ctx):
            return
        want = provider_key(ctx.connector.issuer)
        near = [p.url for p in ctx.snapshot.providers if p.key.rstrip("/").lower() == want.rstrip("/").lower()]
        hint = (
            f" A provider for {near[0]} exists, but IAM matches the token's `iss` exactly (trailing slash and case "
            "included), so it does not serve this issuer." if near else ""
        )
        yield self.finding(
            ctx,
            provider_arn(ctx),
            f"No IAM OIDC provider exists for {ctx.connector.issuer}.{hint}",
            remediation=self.remediation.replace("URL", ctx.connector.issuer),
            details={"issuer": ctx.connector.issuer, "similar_providers": near},
        )


@register
class ProviderAudienceMissing(Check):
    id = "PROVIDER_AUDIENCE_MISSING"
    title = "Audience missing from the OIDC provider"
    risk = "STS answers 'Incorrect token audience' for tokens of this audience: the plans using it stop working."
    remediation = "Add the audience: `aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn ARN --client-id AUD`."
    permissions = PROVIDER_READS
    needs = ("providers",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        provider = _provider(ctx)
        if not provider:
            return
        present = set(provider.client_ids)
        for aud in ctx.connector.needed_audiences:
            if aud in present:
                continue
            roles = [r.name for r in ctx.connector.roles if r.audience == aud]
            users = f" Roles that need it: {', '.join(roles)}." if roles else ""
            yield self.finding(
                ctx,
                provider.arn,
                f"Audience {aud} is not in the ClientIDList of {provider.url}.{users}",
                remediation=self.remediation.replace("ARN", provider.arn).replace("AUD", aud),
                details={"audience": aud, "client_ids": sorted(present), "roles": roles},
            )


@register
class ProviderAudienceUnexpected(Check):
    id = "PROVIDER_AUDIENCE_UNEXPECTED"
    title = "Unexpected audience on the OIDC provider"
    risk = (
        "Every audience in the ClientIDList lets tokens issued for that client reach the trust policies of roles "
        "that trust this provider; an unknown one widens who can try."
    )
    remediation = (
        "If nobody needs it, remove it: `aws iam remove-client-id-from-open-id-connect-provider "
        "--open-id-connect-provider-arn ARN --client-id AUD`; if it is legitimate, list it in the connector's "
        "`extra_audiences`."
    )
    permissions = PROVIDER_READS
    needs = ("providers",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        provider = _provider(ctx)
        if not provider:
            return
        # A provider shared by several connectors (Defender and Sentinel on Microsoft's issuer) holds all of theirs.
        accepted = set(ctx.connector.accepted_audiences).union(*(
            c.accepted_audiences for c in ctx.config.resolved_connectors()
            if c.name != ctx.connector.name and ctx.snapshot.provider_for(c.issuer) is provider))
        for aud in provider.client_ids:
            if aud in accepted:
                continue
            yield self.finding(
                ctx,
                provider.arn,
                f"The ClientIDList of {provider.url} holds {aud!r}, which neither the preset "
                f"{ctx.connector.preset.name} nor the config expects.",
                remediation=self.remediation.replace("ARN", provider.arn).replace("AUD", aud),
                details={"audience": aud, "client_ids": list(provider.client_ids)},
            )


def verified_by_aws_ca_library(issuer: str, jwks_uri: str | None) -> bool:
    """Issuers whose TLS certificate AWS always verifies against its own trusted CAs, never using the pinned
    thumbprints (FACTS.md "OIDC providers verified by AWS's CA library"): GitHub Actions, GitLab.com, Google, Auth0
    and JWKS hosted on Amazon S3."""
    host = urlsplit(issuer).hostname or ""
    jwks_host = (urlsplit(jwks_uri).hostname or "") if jwks_uri else ""
    if host in ("token.actions.githubusercontent.com", "gitlab.com", "accounts.google.com"):
        return True
    if host.endswith(".auth0.com"):
        return True
    return bool(re.fullmatch(r"(?:[a-z0-9.-]+\.)?s3(?:[.-](?:dualstack\.)?[a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?", jwks_host))


@register
class ProviderThumbprintMismatch(Check):
    id = "PROVIDER_THUMBPRINT_MISMATCH"
    title = "Pinned thumbprint does not match the issuer's certificate"
    risk = (
        "AWS uses the thumbprint when the issuer's chain is not signed by a CA in its library (private CA, TLS 1.3 "
        "only, or when it cannot fetch the certificate): a stale thumbprint is a live outage for private-CA issuers "
        "and a latent one for public-CA issuers."
    )
    remediation = (
        "Pin the thumbprint the issuer serves now (keep the old one until every host serves the new chain): "
        "`aws iam update-open-id-connect-provider-thumbprint --open-id-connect-provider-arn ARN --thumbprint-list LIST`."
    )
    permissions = PROVIDER_READS
    needs = ("providers",)
    reads = ("issuer_tls",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        provider = _provider(ctx)
        if not provider or not ctx.issuer:
            return
        pinned = {t.lower() for t in provider.thumbprints}
        ca_library = verified_by_aws_ca_library(ctx.connector.issuer, ctx.issuer.jwks_uri)
        for host in ctx.issuer.hosts:
            top = host.top
            if host.error or top is None or top.sha1 in pinned:
                continue
            keep = [t for t in provider.thumbprints if t != top.sha1][:4]
            new_list = " ".join([top.sha1, *keep])
            if ca_library:
                severity = Severity.INFO
                trust = ("AWS verifies this issuer's certificate with its own library of trusted CAs and does not use "
                         "the pinned thumbprints at all; updating them is tidiness, not a fix.")
            elif host.publicly_trusted:
                severity = Severity.MEDIUM
                trust = ("The chain verifies against the public CA bundle, so AWS currently relies on its own CA "
                         "library; the stale pin matters only if that fallback is used.")
            else:
                severity = Severity.HIGH
                trust = "The chain is not publicly trusted, so STS relies on this thumbprint: exchanges fail."
            yield self.finding(
                ctx,
                provider.arn,
                f"{host.name} serves a top certificate with thumbprint {top.sha1} ({top.subject}); the provider pins "
                f"{', '.join(provider.thumbprints) or 'nothing'}. {trust}",
                severity=severity,
                remediation=self.remediation.replace("ARN", provider.arn).replace("LIST", new_list),
                details={
                    "host": host.name,
                    "live_thumbprint": top.sha1,
                    "live_subject": top.subject,
                    "pinned_thumbprints": list(provider.thumbprints),
                    "publicly_trusted": host.publicly_trusted,
                    "verified_by_aws_ca_library": ca_library,
                },
            )


@register
class ProviderCertExpiring(Check):
    id = "PROVIDER_CERT_EXPIRING"
    title = "Issuer certificate expires soon"
    risk = "When the issuer's certificate expires, STS cannot fetch its keys and every exchange fails."
    remediation = (
        "Ask the issuer's operator to renew the certificate; once the new chain is live, pin the new top "
        "certificate's thumbprint on the provider if it changed."
    )
    needs = ()
    reads = ("issuer_tls",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        if not ctx.issuer:
            return
        settings = ctx.config.issuer_inspection
        for host in ctx.issuer.hosts:
            if host.error or not host.chain:
                continue
            certs = [("leaf", host.leaf), ("pinned (top)", host.top)] if len(host.chain) > 1 else [("leaf", host.leaf)]
            for role, cert in certs:
                if cert is None:
                    continue
                days = (cert.not_after - ctx.now).total_seconds() / 86400
                if days > settings.cert_warning_days:
                    continue
                severity = Severity.HIGH if days <= settings.cert_critical_days else Severity.MEDIUM
                when = f"expired {-days:.1f} days ago" if days < 0 else f"expires in {days:.1f} days"
                yield self.finding(
                    ctx,
                    f"{ctx.connector.issuer}#{host.name}/{role.split()[0]}",
                    f"The {role} certificate of {host.name} ({cert.subject}) {when} ({cert.not_after:%Y-%m-%d %H:%M} UTC).",
                    severity=severity,
                    details={"host": host.name, "certificate": role, "subject": cert.subject,
                             "not_after": cert.not_after.isoformat(), "days_left": round(days, 2),
                             "thumbprint": cert.sha1},
                )


@register
class ProviderDiscoveryUnreachable(Check):
    id = "PROVIDER_DISCOVERY_UNREACHABLE"
    title = "Issuer discovery document unreachable"
    risk = "STS reads the issuer's keys through discovery; if it cannot, it rejects every token."
    remediation = (
        "Check that the issuer URL is right and that <issuer>/.well-known/openid-configuration is served over "
        "HTTPS with a valid certificate and JSON body (DNS, firewall, certificate, issuer outage)."
    )
    reads = ("issuer",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        if ctx.issuer and ctx.issuer.discovery_error:
            yield self.finding(
                ctx,
                provider_arn(ctx),
                f"Cannot read {ctx.issuer.discovery_url}: {ctx.issuer.discovery_error}",
                details={"url": ctx.issuer.discovery_url, "error": ctx.issuer.discovery_error},
            )


@register
class ProviderIssuerMismatch(Check):
    id = "PROVIDER_ISSUER_MISMATCH"
    title = "Discovery document names another issuer"
    risk = "Tokens carry the discovery document's issuer as `iss`; if it is not the provider URL, STS finds no provider."
    remediation = (
        "Make the provider URL equal the issuer the discovery document declares (character for character, trailing "
        "slash included), or fix the issuer's configuration."
    )
    reads = ("discovery",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        if not ctx.issuer or ctx.issuer.discovery is None:
            return
        declared = ctx.issuer.discovered_issuer
        if declared == ctx.connector.issuer:
            return
        # The declared issuer comes from the issuer's document: bounded before it reaches state and alerts.
        shown = clip(declared, 512) if isinstance(declared, str) else declared
        yield self.finding(
            ctx,
            provider_arn(ctx),
            f"{ctx.issuer.discovery_url} declares issuer {shown!r}, not {ctx.connector.issuer!r}.",
            details={"expected": ctx.connector.issuer, "declared": shown}
            | ({"declared_length": len(declared)} if isinstance(declared, str) and shown != declared else {}),
        )


@register
class ProviderJwksUnreachable(Check):
    id = "PROVIDER_JWKS_UNREACHABLE"
    title = "Issuer signing keys unreachable or unusable"
    risk = "Without a usable signing key STS answers \"Couldn't retrieve verification key\" and rejects every token."
    remediation = "Check the discovery document's jwks_uri: it must be HTTPS and serve a JSON Web Key Set with RSA or EC signing keys."
    reads = ("discovery",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        if ctx.issuer and ctx.issuer.discovery is not None and ctx.issuer.jwks_error:
            yield self.finding(
                ctx,
                provider_arn(ctx),
                f"JWKS of {ctx.connector.issuer}: {ctx.issuer.jwks_error}",
                details={"jwks_uri": ctx.issuer.jwks_uri, "error": ctx.issuer.jwks_error},
            )
