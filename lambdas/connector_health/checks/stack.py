"""STACK_*: the connector's onboarding CloudFormation stack (configured as `stack_name`)."""

from __future__ import annotations

from collections.abc import Iterator

from ..collect.stacks import STACK_PERMISSIONS, StackStatus
from ..findings import Finding
from .base import Check, CheckContext
from .registry import register


def _status(ctx: CheckContext) -> StackStatus | None:
    return (ctx.extras.get("stacks") or {}).get(ctx.connector.name)


def _arn(ctx: CheckContext, status: StackStatus) -> str:
    return status.stack_id or f"arn:{ctx.snapshot.partition}:cloudformation:{ctx.config.region}:{ctx.snapshot.account_id}:stack/{status.name}"


@register
class StackMissing(Check):
    id = "STACK_MISSING"
    title = "Onboarding stack missing"
    risk = "Without its stack the connector's resources are unmanaged: updates and clean removal from the product fail."
    remediation = "Re-deploy the onboarding template (from the product's connector page) with the stack name in the config."
    permissions = ("cloudformation:DescribeStacks",)
    reads = ("stack",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        status = _status(ctx)
        if status and status.exists is False:
            yield self.finding(ctx, _arn(ctx, status), f"The onboarding stack {status.name!r} does not exist (or was deleted).",
                               details={"stack": status.name})


@register
class StackDrifted(Check):
    id = "STACK_DRIFTED"
    title = "Onboarding stack drifted"
    risk = "Resources of the onboarding stack were changed or deleted outside CloudFormation."
    remediation = ("Review the drifted resources; restore them by updating the stack with its template (or re-run the "
                   "product's onboarding), then run drift detection again.")
    permissions = STACK_PERMISSIONS
    reads = ("stack", "stack_drift")

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        status = _status(ctx)
        if not status or status.drift_status != "DRIFTED":
            return
        names = ", ".join(f"{d['logical_id']} ({d['type']}) {d['status']}" for d in status.drifted[:10])
        more = f" and {len(status.drifted) - 10} more" if len(status.drifted) > 10 else ""
        yield self.finding(ctx, _arn(ctx, status),
                           f"Drift detection on {status.name!r} reports {len(status.drifted)} drifted resource(s): {names}{more}.",
                           details={"stack": status.name, "drifted": status.drifted,
                                    "diff": [f"{d['logical_id']}: {d['status']}" for d in status.drifted]})
