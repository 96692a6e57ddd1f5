"""MONITOR_*: problems of the monitor itself. They are account-scoped and come from the run, not a connector."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from ..collect.aws import AccountSnapshot
from ..config import Config, Connector
from ..findings import Finding
from .base import Check, CheckContext
from .registry import get_check, register

ACCOUNT_WIDE = "*"  # the connector field of findings that concern every connector of the account


# The part of a scan (engine.PARTS) that each failed read leaves missing.
_PART_OF_ACTION = {
    "iam:GetAccountAuthorizationDetails": "roles",
    "iam:ListOpenIDConnectProviders": "providers",
    "iam:GetOpenIDConnectProvider": "providers",
    "sts:AssumeRoleWithWebIdentity": "exchanges",
    "cloudformation:DescribeStacks": "stack",
    "cloudformation:DetectStackDrift": "stack_drift",
    "cloudformation:DescribeStackDriftDetectionStatus": "stack_drift",
    "cloudformation:DescribeStackResourceDrifts": "stack_drift",
    "cloudtrail:LookupEvents": "cloudtrail",
}


def _resource(ctx: CheckContext, err) -> str:
    """The resource a read error is about, or the account when the read was account-wide."""
    return err.resource if err.resource != "*" else f"arn:{ctx.snapshot.partition}:iam::{ctx.snapshot.account_id}:root"


def _held(ctx: CheckContext, err) -> tuple[str, list[str]]:
    """(a sentence naming the checks this failed read kept from completing, their IDs): their findings stay open."""
    coverage = ctx.extras.get("coverage")
    part = _PART_OF_ACTION.get(err.action)
    checks = coverage.checks_not_run(part) if coverage is not None and part else []
    if not checks:
        return "", []
    return (f" Checks that need this read did not complete, so their earlier findings stay open (not resolved): "
            f"{', '.join(checks)}."), checks


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
            held, checks = _held(ctx, err)
            yield self.finding(
                ctx,
                _resource(ctx, err),
                f"{err.action} was refused ({err.code}): {err.message}{held}",
                remediation=self.remediation.replace("ACTION", err.action),
                details={"action": err.action, "code": err.code, "checks_not_run": checks},
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
            held, checks = _held(ctx, err)
            yield self.finding(
                ctx,
                _resource(ctx, err),
                f"{err.action} failed ({err.code}): {err.message}{held}",
                details={"action": err.action, "code": err.code, "checks_not_run": checks},
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


def account_context(config: Config, account_id: str, partition: str = "aws") -> CheckContext:
    """A context for account-wide findings made outside a scan (hub refusals, state writes)."""
    conn = Connector(name=ACCOUNT_WIDE, preset=None, issuer="", needed_audiences=(), accepted_audiences=frozenset(),
                     roles=(), customer_tenant_id=None, caller={}, severities={}, stack_name=None)
    return CheckContext(config=config, connector=conn, snapshot=AccountSnapshot(account_id=account_id, partition=partition),
                        issuer=None, now=dt.datetime.now(dt.timezone.utc))


def state_problem_finding(config: Config, account_id: str, partition: str, problem) -> Finding:
    """MONITOR_CHECK_ERROR for a state write that did not fit DynamoDB (a `state.store.StateProblem`): the run
    went on, and this finding keeps it from going unnoticed."""
    return get_check("MONITOR_CHECK_ERROR").finding(
        account_context(config, account_id, partition),
        f"state:{problem.connector}/{problem.item.split('#')[0]}",
        f"The state item {problem.item} of connector {problem.connector} did not fit DynamoDB's 400 KB item limit "
        f"({problem.size:,} bytes): {problem.outcome}. The run itself completed.",
        remediation=("Nothing is lost for alerting: findings are still alerted and resolved. If it persists, the "
                     "evidence of this connector is unusually large (e.g. a role with thousands of inline policy "
                     "lines); report it with the monitor's log attached."),
        details={"action": problem.action, "code": "ItemTooLarge", "item": problem.item.split("#")[0],
                 "connector": problem.connector},
    )
