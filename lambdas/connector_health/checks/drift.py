"""Drift against the accepted baseline: PROVIDER_DRIFT, PROVIDER_JWKS_ROTATED, TRUST_DRIFT, PERMS_DRIFT.

The pipeline puts the stored baseline of the connector in `ctx.extras["baseline"]`; without one (first run, or a
plain `check` with no state table) these checks are silent. Each finding carries a readable diff (was -> is).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..findings import Finding
from ..state.baseline import capture, field_diff, text_diff
from .base import Check, CheckContext, provider_arn
from .registry import register

ACCEPT = "If the change is intended, adopt it: `connector-health baseline accept --config FILE --connector NAME`."


def _pair(ctx: CheckContext) -> tuple[dict[str, Any], dict[str, Any]] | None:
    baseline = ctx.extras.get("baseline")
    if not baseline:
        return None
    current = ctx.extras.get("baseline_now")
    if current is None:
        current = ctx.extras["baseline_now"] = capture(ctx.connector, ctx.snapshot, ctx.issuer)
    return baseline, current


@register
class ProviderDrift(Check):
    id = "PROVIDER_DRIFT"
    title = "OIDC provider differs from the baseline"
    risk = "An edited provider (URL, audiences or thumbprints) changes who can exchange tokens, or breaks the connector."
    remediation = "Restore the provider's audiences and thumbprints from the baseline. " + ACCEPT
    permissions = ("iam:ListOpenIDConnectProviders", "iam:GetOpenIDConnectProvider")
    needs = ("providers",)
    reads = ("baseline",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        pair = _pair(ctx)
        if not pair or pair[0].get("provider") == pair[1].get("provider"):
            return
        diff = field_diff(pair[0].get("provider"), pair[1].get("provider"))
        if pair[1].get("provider") is None:
            diff = {"provider": {"was": pair[0].get("provider"), "is": None}}
        parts = ", ".join(diff)
        yield self.finding(ctx, provider_arn(ctx), f"The provider for {ctx.connector.issuer} changed since the baseline ({parts}).",
                           details={"diff": diff, "changed": sorted(diff)})


@register
class ProviderJwksRotated(Check):
    id = "PROVIDER_JWKS_ROTATED"
    title = "Issuer signing keys rotated"
    risk = "Usually routine; an unexpected rotation can also mean the issuer was re-keyed after an incident."
    remediation = "No action if the issuer announced the rotation. " + ACCEPT
    reads = ("baseline", "jwks")

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        pair = _pair(ctx)
        if not pair:
            return
        was, now = pair[0].get("jwks_key_ids"), pair[1].get("jwks_key_ids")
        if was is None or now is None or was == now:
            return
        added, removed = sorted(set(now) - set(was)), sorted(set(was) - set(now))
        yield self.finding(
            ctx, provider_arn(ctx),
            f"The issuer's key IDs changed: added {', '.join(added) or 'none'}, removed {', '.join(removed) or 'none'}.",
            details={"diff": {"jwks_key_ids": {"was": was, "is": now}}, "key_ids": now},
        )


class _RoleDrift(Check):
    permissions = ("iam:GetAccountAuthorizationDetails",)
    needs = ("roles",)
    reads = ("baseline",)
    fields: tuple[str, ...] = ()

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        pair = _pair(ctx)
        if not pair:
            return
        was_roles, now_roles = pair[0].get("roles", {}), pair[1].get("roles", {})
        for name in sorted(set(was_roles) | set(now_roles)):
            was, now = was_roles.get(name), now_roles.get(name)
            if now is None:
                continue  # a vanished role is TRUST_ROLE_MISSING's (or no longer the connector's)
            arn = ctx.snapshot.roles[name].arn if name in ctx.snapshot.roles else name
            yield from self.compare(ctx, name, arn, was, now)

    def compare(self, ctx, name, arn, was, now) -> Iterator[Finding]:  # pragma: no cover - interface
        raise NotImplementedError


@register
class TrustDrift(_RoleDrift):
    id = "TRUST_DRIFT"
    title = "Trust policy differs from the baseline"
    risk = "A changed trust policy changes who can assume the role."
    remediation = "Review the diff; restore the baseline's trust policy with `aws iam update-assume-role-policy`. " + ACCEPT

    def compare(self, ctx, name, arn, was, now) -> Iterator[Finding]:
        if was is None:
            yield self.finding(ctx, arn, f"Role {name} now trusts the connector's provider; it is not in the baseline.",
                               details={"role": name, "diff": text_diff(None, now["trust"], name)})
        elif was["trust"] != now["trust"]:
            yield self.finding(ctx, arn, f"The trust policy of {name} changed since the baseline.",
                               details={"role": name, "diff": text_diff(was["trust"], now["trust"], f"{name} trust policy")})


@register
class PermsDrift(_RoleDrift):
    id = "PERMS_DRIFT"
    title = "Role permissions differ from the baseline"
    risk = "Changed permissions can break the connector's plan or hand it more than it needs."
    remediation = "Review the diff; re-attach or detach policies to match the baseline. " + ACCEPT

    def compare(self, ctx, name, arn, was, now) -> Iterator[Finding]:
        if was is None:
            return
        diff: dict[str, Any] = {}
        for key in ("attached", "managed_versions", "boundary"):
            if was.get(key) != now.get(key):
                diff[key] = {"was": was.get(key), "is": now.get(key)}
        lines: list[str] = []
        if was.get("inline") != now.get("inline"):
            lines = text_diff(was.get("inline"), now.get("inline"), f"{name} inline policies")
            diff["inline"] = {"was": sorted(was.get("inline") or {}), "is": sorted(now.get("inline") or {})}
        if not diff:
            return
        yield self.finding(
            ctx, arn, f"The permissions of {name} changed since the baseline ({', '.join(diff)}).",
            details={"role": name, "changed": sorted(diff), "diff": ([f"{k}: {v['was']} -> {v['is']}" for k, v in diff.items()] + lines)},
        )
