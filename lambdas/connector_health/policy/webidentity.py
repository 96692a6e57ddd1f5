"""The request context STS builds for `AssumeRoleWithWebIdentity`, from token claims.

Shared by the trust checks (legitimate and foreign callers), the pre-flight of real tokens and the sandbox's
STS stand-in, so all three evaluate trust policies against the same keys.

- `<issuer key>:aud`, `:sub` always; when the token has `azp`, IAM puts `azp` in `:aud` and the original `aud` in
  `:oaud` (documented for Google; FACTS.md).
- `sts:RoleSessionName` from the session name the caller asks for.
- Provider-specific identity keys: GitHub's `:repository`, `:repository_id`, `:repository_owner`, `:job_workflow_ref`,
  `:environment`, ... (FACTS.md), Entra's `:oid`, `:tid`, `:appid`, `:azp`.
"""

from __future__ import annotations

from typing import Any

from .evaluator import RequestContext

ACTION = "sts:AssumeRoleWithWebIdentity"

# Claims that become `<issuer key>:<claim>` condition keys besides aud/sub/oaud.
PROVIDER_CLAIMS = (
    "amr", "oid", "tid", "appid", "email",
    "repository", "repository_id", "repository_owner", "repository_owner_id", "job_workflow_ref", "environment",
    "ref", "ref_type", "workflow", "actor", "actor_id", "event_name",
    "project_path", "namespace_path", "namespace_id", "project_id", "pipeline_source", "ref_protected",
)


def _as_values(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def web_identity_keys(issuer_key: str, claims: dict[str, Any], session_name: str | None = None) -> dict[str, Any]:
    """Condition keys for a token with `claims` presented for `issuer_key` (the provider URL without https://)."""
    keys: dict[str, Any] = {}
    aud = _as_values(claims.get("aud"))
    azp = _as_values(claims.get("azp"))
    if azp:
        keys[f"{issuer_key}:aud"] = azp
        if aud:
            keys[f"{issuer_key}:oaud"] = aud
    elif aud:
        keys[f"{issuer_key}:aud"] = aud
    if claims.get("sub") is not None:
        keys[f"{issuer_key}:sub"] = _as_values(claims["sub"])
    for claim in PROVIDER_CLAIMS:
        if claims.get(claim) is not None:
            keys[f"{issuer_key}:{claim}"] = _as_values(claims[claim])
    if session_name is not None:
        keys["sts:RoleSessionName"] = session_name
    return keys


def web_identity_request(provider_arn: str, issuer_key: str, claims: dict[str, Any],
                         session_name: str | None = None) -> RequestContext:
    return RequestContext(
        action=ACTION,
        principal=("Federated", provider_arn),
        keys=web_identity_keys(issuer_key, claims, session_name),
    )
