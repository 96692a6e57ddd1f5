"""The accepted baseline of a connector: a normalised picture of what drift is measured against.

Provider (URL, audiences, thumbprints), JWKS key IDs, and for every role of the connector (named by the preset or
config, or trusting its provider): the trust policy, attached policies, inline documents, the default version of
each attached customer-managed policy, and the permissions boundary. Documents are canonical JSON (sorted keys),
so a re-ordered but equal policy is not drift.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from ..collect.aws import AccountSnapshot
from ..collect.issuer import IssuerReport
from ..checks.base import connector_roles
from ..config import Connector


def canonical(document: Any) -> Any:
    """Sorted-key JSON value; lists of strings sorted too (IAM treats them as sets)."""
    if isinstance(document, dict):
        return {k: canonical(document[k]) for k in sorted(document)}
    if isinstance(document, list):
        items = [canonical(v) for v in document]
        if all(isinstance(v, str) for v in items):
            return sorted(items)
        return items
    return document


def capture(connector: Connector, snapshot: AccountSnapshot, issuer: IssuerReport | None) -> dict[str, Any]:
    provider = snapshot.provider_for(connector.issuer)
    arn = provider.arn if provider else f"arn:{snapshot.partition}:iam::{snapshot.account_id}:oidc-provider/{connector.issuer_key}"
    roles: dict[str, Any] = {}
    for name in connector_roles(connector, snapshot, arn):
        role = snapshot.roles[name]
        managed_versions = {
            a.arn: snapshot.managed_policies[a.arn].default_version_id
            for a in role.attached_policies
            if a.arn in snapshot.managed_policies and not snapshot.managed_policies[a.arn].aws_managed
        }
        roles[name] = {
            "trust": canonical(role.trust_policy),
            "attached": sorted(a.arn for a in role.attached_policies),
            "inline": {k: canonical(v) for k, v in sorted(role.inline_policies.items())},
            "managed_versions": dict(sorted(managed_versions.items())),
            "boundary": role.boundary_arn,
        }
    return {
        "provider": {
            "url": provider.url, "client_ids": sorted(provider.client_ids), "thumbprints": sorted(provider.thumbprints),
        } if provider else None,
        "jwks_key_ids": sorted(issuer.key_ids) if issuer and issuer.key_ids else None,
        "roles": roles,
    }


def text_diff(was: Any, now: Any, label: str) -> list[str]:
    a = json.dumps(was, indent=1, sort_keys=True, default=str).splitlines()
    b = json.dumps(now, indent=1, sort_keys=True, default=str).splitlines()
    return [line for line in difflib.unified_diff(a, b, f"{label} (baseline)", f"{label} (now)", lineterm="", n=1)]


def field_diff(was: dict[str, Any] | None, now: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    was, now = was or {}, now or {}
    return {k: {"was": was.get(k), "is": now.get(k)} for k in sorted(set(was) | set(now)) if was.get(k) != now.get(k)}
