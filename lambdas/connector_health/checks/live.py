"""EXCHANGE_LIVE_*: the connectors' real AssumeRoleWithWebIdentity calls, as CloudTrail recorded them.

The scan's live-exchange phase (`connector_health.live.runner`) read the window and left its `LiveResults` in
`ctx.extras["live"]`; these checks only read it. They need the "cloudtrail" part: when a region's window could not
be read (LookupEvents refused or throttled past the retries) they do not run, so MONITOR_* says why and nothing is
called silent or resolved on evidence that was never seen.

A finding's identity (its fingerprint) is the role, the error code and the cause: counts, times and callers are
under `details.observed`, which changes every run without making the finding new.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..findings import Finding, Severity
from ..live.activity import FailureGroup
from ..live.events import display
from ..live.runner import LiveResults
from .base import Check, CheckContext, provider_arn
from .registry import register

LOOKUP_PERMISSIONS = ("cloudtrail:LookupEvents",)


def _live(ctx: CheckContext) -> LiveResults | None:
    results = ctx.extras.get("live")
    return results if isinstance(results, LiveResults) else None


def _duration(hours: float) -> str:
    if hours >= 1:
        return f"{hours:g} hours"
    return f"{hours * 60:g} minutes" if hours * 60 >= 1 else f"{hours * 3600:g} seconds"


def _stable(group: FailureGroup) -> dict[str, Any]:
    diagnosis = group.diagnosis
    details: dict[str, Any] = {"role_arn": display(group.role_arn), "error_code": display(group.error_code),
                               "stage": diagnosis.stage, "cause": display(diagnosis.cause)}
    if diagnosis.trust is not None and diagnosis.trust.first is not None:
        details["condition"] = diagnosis.trust.first.as_dict()
    return details


@register
class ExchangeLiveFailures(Check):
    id = "EXCHANGE_LIVE_FAILURES"
    title = "Real exchanges of the connector fail"
    risk = ("The connector's own service is refused: whatever it does in the account (posture scans, agentless "
            "scanning, deployments) has stopped for the roles concerned, although the configuration may look fine.")
    remediation = "Apply the fix the finding names; `connector-health explain` shows every stage for one call."
    permissions = LOOKUP_PERMISSIONS
    needs = ("cloudtrail",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        live = _live(ctx)
        activity = live.activity.get(ctx.connector.name) if live else None
        if activity is None or not activity.groups:
            return
        top = activity.top(ctx.config.live_exchanges.top_causes)
        shown = {id(g) for g in top}
        rest = [g for g in activity.groups.values() if id(g) not in shown]
        for index, group in enumerate(top):
            role_ok = activity.success_by_role.get(group.role_arn, 0)
            none_ok = role_ok == 0 if group.role_arn else activity.successes == 0
            observed = group.observed() | {"role_successes": role_ok, "connector_successes": activity.successes}
            extra = ""
            if index == 0 and (rest or activity.overflow_events):
                more = sum(g.count for g in rest) + activity.overflow_events
                observed["other_causes"] = {"groups": len(rest), "events": more}
                extra = f" Further failures: {more} call(s) in {len(rest)} other group(s) (largest groups shown)."
            when = f"between {observed['first']} and {observed['last']}" if observed["first"] else "in the window"
            role = display(group.role_arn.rsplit("/", 1)[-1]) if group.role_arn else "(unknown role)"
            outcome = ("none succeeded for this role" if none_ok else f"{role_ok} succeeded for this role")
            yield self.finding(
                ctx, display(group.diagnosis.resource_arn or group.role_arn, 1000) or provider_arn(ctx),
                f"{group.count} real AssumeRoleWithWebIdentity call(s) for {role} failed {when} with "
                f"{display(group.error_code)} ({outcome}): {group.diagnosis.summary.rstrip('.')}.{extra}",
                severity=Severity.CRITICAL if none_ok else Severity.HIGH,
                remediation=group.diagnosis.fix or self.remediation,
                details=_stable(group) | {"observed": observed},
            )


@register
class ExchangeLiveSilent(Check):
    id = "EXCHANGE_LIVE_SILENT"
    title = "The connector's service has stopped calling"
    risk = ("No real exchange succeeded for longer than the service's documented cadence: it has stopped working "
            "in this account even if everything here looks configured.")
    remediation = (
        "Check the service side (for Defender for Cloud: the AWS connector under Environment settings, its plans and "
        "its health). Failed calls, if any, are explained by EXCHANGE_LIVE_FAILURES. If the service calls another "
        "region's STS endpoint, add that region to live_exchanges.regions; if its cadence is slower, raise the "
        "connector's expected_activity_hours."
    )
    permissions = LOOKUP_PERMISSIONS
    needs = ("cloudtrail",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        live = _live(ctx)
        verdict = live.silence(ctx.connector.name) if live else None
        if not verdict or not verdict["silent"]:
            return
        hours = verdict["expected_activity_hours"]
        last = (f"the last one seen was at {verdict['last_success']}" if verdict["last_success"]
                else f"none seen since the monitor started watching ({verdict['watched_since']})")
        failed = verdict["failures_in_window"]
        yield self.finding(
            ctx, provider_arn(ctx),
            f"No successful AssumeRoleWithWebIdentity call of connector {ctx.connector.name} in the {_duration(hours)} "
            f"before {verdict['window_end']}: {last}; {failed} failed call(s) in this run's window.",
            details={"expected_activity_hours": hours, "observed": verdict},
        )
