"""Pre-flight: explain locally what STS would reject about a real token, before presenting it.

Stages, in the order STS validates (FACTS.md); the first one that fails is reported (EXCHANGE_PREFLIGHT_FAILED):

- `issuer`: the token's `iss` is the connector's issuer and an IAM OIDC provider exists for it (IAM matches `iss`
  exactly, host case aside);
- `audience`: the audience IAM compares — `azp` when the token has one (IAM maps it to `:aud`), otherwise `aud` — is
  in the provider's ClientIDList, and is the audience of at least one of the connector's roles when they declare
  audiences (those roles are the ones exchanged for);
- `signature`: the key with the token's `kid` in the issuer's JWKS (fetched by the monitor's issuer inspection rules)
  verifies the signature, with an algorithm STS accepts (RS256/384/512, ES256/384/512);
- `expiry`: `exp` is present and not more than IAM's 5 minutes of skew in the past;
- `trust`: per role, the trust policy admits the request context STS would build (`web_identity_request`), asked of
  the shared evaluator through `live.refusal.explain_trust` (which also names the refusing statement and condition):
  keys that depend on where the real call comes from (`aws:SourceIp`, `aws:UserAgent`, VPC keys) are unknown here,
  so a policy that could admit the token passes and STS has the last word (EXCHANGE_ACCESS_DENIED when it refuses).

Time is the wall clock, not the scan's injected `now`: STS judges `exp` against the real time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt

from ..collect.aws import OidcProvider, Role, provider_key
from ..live.refusal import explain_trust, web_identity_context
from ..policy import UNKNOWN, parse_policy

SKEW_SECONDS = 300
ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
STAGES = ("issuer", "audience", "signature", "expiry", "trust")
# Condition keys whose value depends on the network path of the real call, not on the token.
UNKNOWABLE_KEYS = ("aws:SourceIp", "aws:UserAgent", "aws:SourceVpc", "aws:SourceVpce", "aws:VpcSourceIp",
                   "aws:Referer")


@dataclass
class RoleTarget:
    name: str
    arn: str
    role: Role | None  # None: the role does not exist in the snapshot


@dataclass
class TrustVerdict:
    target: RoleTarget
    passed: bool
    reason: str = ""
    uncertain_keys: list[str] = field(default_factory=list)


@dataclass
class PreflightResult:
    passed: bool  # True when at least one role may be exchanged for
    failed_stage: str | None = None  # token-level stage that failed (issuer ... expiry); None otherwise
    reason: str = ""
    claims: dict[str, Any] = field(default_factory=dict)  # a safe summary: iss, aud, azp, sub, exp, kid
    provider: OidcProvider | None = None
    trust: list[TrustVerdict] = field(default_factory=list)

    @property
    def admitted(self) -> list[TrustVerdict]:
        return [t for t in self.trust if t.passed]

    @property
    def refused(self) -> list[TrustVerdict]:
        return [t for t in self.trust if not t.passed]


def _values(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def claim_summary(claims: dict[str, Any], header: dict[str, Any]) -> dict[str, Any]:
    """What a finding may show about a token: who issued it, for whom, until when — never the token itself."""
    out: dict[str, Any] = {}
    for name in ("iss", "aud", "azp", "sub", "exp", "iat"):
        if name in claims:
            out[name] = claims[name]
    if "exp" in claims and isinstance(claims["exp"], (int, float)):
        out["exp_utc"] = dt.datetime.fromtimestamp(claims["exp"], dt.timezone.utc).isoformat()
    for name in ("kid", "alg"):
        if name in header:
            out[name] = header[name]
    return out


def decode_token(token: str) -> tuple[dict[str, Any], dict[str, Any]] | str:
    """(header, claims) of a JWT, unverified; or why it cannot be read (never the token itself)."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        return f"the token cannot be decoded ({exc.__class__.__name__})"
    if not isinstance(claims, dict) or not isinstance(header, dict):
        return "the token's header or payload is not a JSON object"
    return header, claims


def audience_failure(claims: dict[str, Any], provider: OidcProvider) -> str | None:
    """Why STS would refuse the token's audience for `provider` (IAM compares `azp` when there is one), or None."""
    azp, aud = _values(claims.get("azp")), _values(claims.get("aud"))
    compared = azp or aud
    if not compared:
        return "the token has no `aud` claim"
    if not [a for a in compared if a in provider.client_ids]:
        via = "azp (which IAM compares instead of aud)" if azp else "aud"
        return f"the token's {via} {', '.join(compared)} is not in the ClientIDList of {provider.url}"
    return None


def signature_failure(token: str, header: dict[str, Any], document: Any) -> str | None:
    """Why the JWKS `document` does not verify the token (algorithm, key id, signature), or None."""
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        return f"the token is signed with {alg!r}; STS accepts {', '.join(ALGORITHMS)}"
    keys = [k for k in document.get("keys", []) if isinstance(k, dict)] if isinstance(document, dict) else []
    kid = header.get("kid")
    candidates = [k for k in keys if k.get("kid") == kid] if kid is not None else (keys if len(keys) == 1 else [])
    if not candidates:
        known = ", ".join(sorted(str(k.get("kid")) for k in keys)) or "none"
        return (f"no key with kid {kid!r} in the issuer's JWKS (key ids: {known}); the issuer may have rotated its "
                "signing key, or the token comes from elsewhere")
    for key in candidates:
        try:
            jwt.decode(token, jwt.PyJWK(key, algorithm=alg).key, algorithms=[alg],
                       options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False,
                                "verify_iss": False})
            return None
        except Exception:  # noqa: BLE001 - a key that does not verify is just not the signer
            continue
    return f"the signature does not verify with the issuer's key {kid!r}"


def expiry_failure(claims: dict[str, Any], now: float) -> str | None:
    """Why STS would call the token expired (5 minutes of skew past `exp`), or None."""
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return "the token has no numeric `exp` claim"
    if now > exp + SKEW_SECONDS:
        ago = int(now - exp)
        when = dt.datetime.fromtimestamp(exp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        return f"the token expired at {when} ({ago} s ago; STS allows {SKEW_SECONDS} s of clock skew)"
    return None


def run_preflight(
    token: str,
    *,
    issuer: str,
    providers: Sequence[OidcProvider],
    targets: Sequence[RoleTarget],
    role_audiences: dict[str, str | None],
    session_name: str,
    jwks: Callable[[], tuple[dict[str, Any] | None, str | None]],
    region: str,
    now: float,
) -> PreflightResult:
    """Validate `token` for the roles `targets` (names -> audience in `role_audiences`). Never raises on a token."""
    decoded = decode_token(token)
    if isinstance(decoded, str):
        return PreflightResult(False, "issuer", decoded)
    header, claims = decoded
    result = PreflightResult(False, claims=claim_summary(claims, header))

    def fail(stage: str, reason: str) -> PreflightResult:
        result.failed_stage, result.reason = stage, reason
        return result

    # issuer
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        return fail("issuer", "the token has no `iss` claim")
    if provider_key(iss) != provider_key(issuer):
        return fail("issuer", f"the token's issuer {iss} is not the connector's issuer {issuer}")
    provider = next((p for p in providers if p.key == provider_key(iss)), None)
    if provider is None:
        return fail("issuer", f"no IAM OIDC provider exists for the token's issuer {iss}")
    result.provider = provider

    # audience
    refused = audience_failure(claims, provider)
    if refused:
        return fail("audience", refused)
    present = [a for a in (_values(claims.get("azp")) or _values(claims.get("aud"))) if a in provider.client_ids]
    declared = {a for a in role_audiences.values() if a}
    if declared:
        chosen = [t for t in targets if role_audiences.get(t.name) in present]
        if not chosen:
            return fail("audience", f"the token's audience {', '.join(present)} is not the audience of any of the "
                                    f"connector's roles ({', '.join(sorted(declared))})")
        targets = chosen

    # signature
    if header.get("alg") not in ALGORITHMS:
        return fail("signature", signature_failure(token, header, None) or "")
    document, error = jwks()
    if document is None:
        return fail("signature", f"the issuer's JWKS cannot be fetched to verify the signature: {error}")
    refused = signature_failure(token, header, document)
    if refused:
        return fail("signature", refused)

    # expiry
    refused = expiry_failure(claims, now)
    if refused:
        return fail("expiry", refused)

    # trust, per role
    for target in targets:
        result.trust.append(_trust(target, provider, claims, session_name, region, now))
    result.passed = bool(result.admitted)
    if not result.passed:
        result.reason = "; ".join(f"{t.target.name}: {t.reason}" for t in result.refused)
    return result


def token_context_keys(region: str, now: float) -> dict[str, Any]:
    """Request keys besides the token's claims: what the monitor knows of the call (time, region, TLS), and the
    keys of the network path it cannot know (UNKNOWN)."""
    moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    known = {
        "aws:CurrentTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now)),
        "aws:SecureTransport": "true",
        "aws:RequestedRegion": region,
    }
    return known | {k: UNKNOWN for k in UNKNOWABLE_KEYS}


def _trust(target: RoleTarget, provider: OidcProvider, claims: dict[str, Any], session_name: str, region: str,
           now: float) -> TrustVerdict:
    if target.role is None:
        return TrustVerdict(target, False, f"the role {target.name} does not exist")
    policy = parse_policy(target.role.trust_policy, source=f"{target.name} trust policy", require_principal=True)
    request = web_identity_context(policy, provider_arn=provider.arn, issuer_key=provider.key, claims=claims,
                                   session_name=session_name, role_arn=target.arn,
                                   known=token_context_keys(region, now))
    explanation = explain_trust(policy, request)
    if explanation.verdict == "refused":
        return TrustVerdict(target, False, explanation.reason(provider.arn))
    # "undecided": the policy could admit the token (keys of the network path are unknown here); STS decides.
    return TrustVerdict(target, True, uncertain_keys=explanation.undecided_keys)
