"""MONITOR_*: problems of the monitor itself. They are account-scoped and come from the run, not a connector."""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from .base import Check, CheckContext
from .registry import register

ACCOUNT_WIDE = "*"  # the connector field of findings that concern every connector of the account


def _resource(ctx: CheckContext, err) -> str:
    """The resource a read error is about, or the account when the read was account-wide."""
    return err.resource if err.resource != "*" else f"arn:{ctx.snapshot.partition}:iam::{ctx.snapshot.account_id}:root"


@register
class MonitorAccessDenied(Check):
    id = "MONITOR_ACCESS_DENIED"
    title = "The monitor was refused a read it needs"
    risk = "Checks that depend on this read did not run: the connector is unmonitored, not healthy."
    remediation = (
        "Grant the monitor's role ACTION (the CDK stack and the member-role stack grant every action the checks "
        "declare; look for an SCP, a permissions boundary or an explicit Deny that blocks it)."
    )
    scope = "account"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for err in ctx.snapshot.read_errors:
            if not err.access_denied:
                continue
            yield self.finding(
                ctx,
                _resource(ctx, err),
                f"{err.action} was refused ({err.code}): {err.message}",
                remediation=self.remediation.replace("ACTION", err.action),
                details={"action": err.action, "code": err.code},
            )


@register
class MonitorCheckError(Check):
    id = "MONITOR_CHECK_ERROR"
    title = "A check or read could not complete"
    risk = "What this check looks at is unknown for this run; the other checks still ran."
    remediation = (
        "Look at the message; throttling and timeouts usually pass on the next run. If it persists, report it "
        "with the monitor's log (correlation id) attached."
    )
    scope = "account"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for err in ctx.snapshot.read_errors:
            if err.access_denied:
                continue
            yield self.finding(
                ctx,
                _resource(ctx, err),
                f"{err.action} failed ({err.code}): {err.message}",
                details={"action": err.action, "code": err.code},
            )


@register
class MonitorConfigError(Check):
    id = "MONITOR_CONFIG_ERROR"
    title = "A connector's configuration cannot be applied"
    risk = "The connector is not monitored as intended until its configuration is fixed."
    remediation = "Fix the connector in the configuration file (see connector-health.example.yaml) and redeploy."

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        conn = ctx.connector
        if "{" in conn.issuer or not conn.issuer:
            yield self.finding(
                ctx,
                f"connector:{conn.name}",
                f"The issuer of connector {conn.name} is not fully resolved ({conn.issuer!r}); set `issuer` or the "
                f"values its preset template needs.",
            )
        for role in conn.roles:
            if role.name.startswith("arn:") and f"arn:{ctx.snapshot.partition}:" not in role.name:
                yield self.finding(
                    ctx,
                    f"connector:{conn.name}",
                    f"Role {role.name} is in another partition than the scanned account ({ctx.snapshot.partition}).",
                )
