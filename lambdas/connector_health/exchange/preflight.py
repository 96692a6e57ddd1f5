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
- `trust`: per role, the trust policy admits the request context STS would build (`web_identity_request`), evaluated
  by the shared evaluator with ``assume="allow"``: keys that depend on where the real call comes from
  (`aws:SourceIp`, `aws:UserAgent`, VPC keys) are unknown here, so a policy that could admit the token passes and
  STS has the last word (EXCHANGE_ACCESS_DENIED when it refuses).

Time is the wall clock, not the scan's injected `now`: STS judges `exp` against the real time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt

from ..collect.aws import OidcProvider, Role, provider_key
from ..policy import UNKNOWN, Effect, evaluate, evaluate_condition, parse_policy
from ..policy.webidentity import web_identity_request

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
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        return PreflightResult(False, "issuer", f"the token cannot be decoded ({exc.__class__.__name__})")
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
    azp, aud = _values(claims.get("azp")), _values(claims.get("aud"))
    compared = azp or aud
    if not compared:
        return fail("audience", "the token has no `aud` claim")
    present = [a for a in compared if a in provider.client_ids]
    if not present:
        via = "azp (which IAM compares instead of aud)" if azp else "aud"
        return fail("audience", f"the token's {via} {', '.join(compared)} is not in the ClientIDList of {provider.url}")
    declared = {a for a in role_audiences.values() if a}
    if declared:
        chosen = [t for t in targets if role_audiences.get(t.name) in present]
        if not chosen:
            return fail("audience", f"the token's audience {', '.join(present)} is not the audience of any of the "
                                    f"connector's roles ({', '.join(sorted(declared))})")
        targets = chosen

    # signature
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        return fail("signature", f"the token is signed with {alg!r}; STS accepts {', '.join(ALGORITHMS)}")
    document, error = jwks()
    if document is None:
        return fail("signature", f"the issuer's JWKS cannot be fetched to verify the signature: {error}")
    keys = [k for k in document.get("keys", []) if isinstance(k, dict)] if isinstance(document, dict) else []
    kid = header.get("kid")
    candidates = [k for k in keys if k.get("kid") == kid] if kid is not None else (keys if len(keys) == 1 else [])
    if not candidates:
        known = ", ".join(sorted(str(k.get("kid")) for k in keys)) or "none"
        return fail("signature", f"no key with kid {kid!r} in the issuer's JWKS (key ids: {known}); the issuer may have "
                                 "rotated its signing key, or the token comes from elsewhere")
    verified = False
    for key in candidates:
        try:
            jwt.decode(token, jwt.PyJWK(key, algorithm=alg).key, algorithms=[alg],
                       options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False,
                                "verify_iss": False})
            verified = True
            break
        except Exception:  # noqa: BLE001 - a key that does not verify is just not the signer
            continue
    if not verified:
        return fail("signature", f"the signature does not verify with the issuer's key {kid!r}")

    # expiry
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return fail("expiry", "the token has no numeric `exp` claim")
    if now > exp + SKEW_SECONDS:
        ago = int(now - exp)
        when = dt.datetime.fromtimestamp(exp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        return fail("expiry", f"the token expired at {when} ({ago} s ago; STS allows {SKEW_SECONDS} s of clock skew)")

    # trust, per role
    for target in targets:
        result.trust.append(_trust(target, provider, claims, session_name, region, now))
    result.passed = bool(result.admitted)
    if not result.passed:
        result.reason = "; ".join(f"{t.target.name}: {t.reason}" for t in result.refused)
    return result


def _request_keys(base: dict[str, Any], region: str, now: float) -> dict[str, Any]:
    moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    known = {
        "aws:CurrentTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now)),
        "aws:SecureTransport": "true",
        "aws:RequestedRegion": region,
    }
    return dict(base) | known | {k: UNKNOWN for k in UNKNOWABLE_KEYS}


def _lower_keys(keys: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in keys.items():
        if value is UNKNOWN:
            out[key.lower()] = UNKNOWN
        elif value is not None:
            values = tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else (str(value),)
            if values:
                out[key.lower()] = values
    return out


def _trust(target: RoleTarget, provider: OidcProvider, claims: dict[str, Any], session_name: str, region: str,
           now: float) -> TrustVerdict:
    if target.role is None:
        return TrustVerdict(target, False, f"the role {target.name} does not exist")
    policy = parse_policy(target.role.trust_policy, source=f"{target.name} trust policy", require_principal=True)
    base = web_identity_request(provider.arn, provider.key, claims, session_name)
    keys = _request_keys(dict(base.keys), region, now)
    request = dataclasses.replace(base, resource=target.arn, keys=keys)
    decision = evaluate([policy], request, assume="allow")
    uncertain = sorted({u.key for u in decision.undecided if u.key})
    if decision.allowed:
        return TrustVerdict(target, True, uncertain_keys=uncertain)
    if decision.effect is Effect.EXPLICIT_DENY:
        which = ", ".join(ref.sid or f"statement {ref.index}" for ref in decision.deciding)
        return TrustVerdict(target, False, f"the trust policy explicitly denies this token ({which})")
    return TrustVerdict(target, False, _why_not_allowed(policy, provider, _lower_keys(keys)))


def _why_not_allowed(policy: Any, provider: OidcProvider, keys: dict[str, Any]) -> str:
    """Name the conditions that keep each Allow statement for this provider closed (for the finding's message)."""
    reasons = []
    for statement in policy.statements:
        if not statement.is_allow:
            continue
        federated = (statement.principals or {}).get("Federated", ())
        if statement.principals is not None and "*" not in statement.principals and provider.arn not in federated:
            continue
        failing = []
        for clause in statement.conditions:
            ok, _ = evaluate_condition(clause, keys)
            if ok is False:
                given = keys.get(clause.key_lc)
                shown = ", ".join(given) if isinstance(given, tuple) else "absent"
                failing.append(f"{clause.operator} {clause.key} wants {', '.join(clause.values)} but the token gives "
                               f"{shown}")
        label = statement.sid or f"statement {statement.index}"
        if failing:
            reasons.append(f"{label}: " + "; ".join(failing))
    if not reasons:
        return f"no Allow statement of the trust policy lets {provider.arn} call sts:AssumeRoleWithWebIdentity"
    return "the trust policy does not admit this token (" + " | ".join(reasons) + ")"
