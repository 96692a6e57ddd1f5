"""The worker's step for one SQS message: the member account's full pipeline (scan, state, alerts), with the
state table and topic reached through the hub's own credentials.

Outcomes: the account was scanned; or its member role refused (a MONITOR_ACCESS_DENIED finding goes through the
state and alert step for that account alone, and the message is done: retrying cannot help and the DLQ would
hide it); anything else raises, so the message is returned as a batch item failure and SQS retries it (after
`max_receive_count` receives it moves to the dead-letter queue).
"""

from __future__ import annotations

from dataclasses import dataclass

import boto3

from ..collect.issuer import IssuerInspector
from ..config import Config
from ..pipeline import PipelineResult, run_pipeline, settle_account_findings
from .messages import AccountMessage
from .runner import FAILED, SCANNED, refusal_finding
from .session import MemberRoleRefused, member_session, partition_of


class AlertPublishFailed(RuntimeError):
    """The account's alert could not be published; the message is retried (the run marker prevents duplicates)."""


class IntegrationDeliveryFailed(RuntimeError):
    """Security Hub, the chat topic or EventBridge refused some of the account's findings; the message is retried
    (imports are idempotent, and the sync markers send only what is still missing)."""


@dataclass
class MemberRun:
    account_id: str
    status: str  # SCANNED or FAILED
    result: PipelineResult

    @property
    def findings(self):
        return self.result.scan.findings


def run_member(config: Config, message: AccountMessage, *, hub_session: boto3.session.Session | None = None,
               inspector: IssuerInspector | None = None, sts=None) -> MemberRun:
    hub_session = hub_session or boto3.session.Session()
    try:
        member = member_session(hub_session, message.account_id, config.org.member_role_name, config.region, sts=sts,
                                session_name=f"connector-health-{message.run_id}")
    except MemberRoleRefused as refused:
        finding = refusal_finding(config, message.account_id, refused, partition_of(hub_session, config.region))
        result = settle_account_findings(config, run_id=message.run_id, account=message.account_id,
                                         findings=[finding], session=hub_session)
        status = FAILED
    else:
        result = run_pipeline(config, run_id=message.run_id, session=hub_session, scan_session=member,
                              account_id=message.account_id, exchanges=config.org.exchanges, inspector=inspector)
        status = SCANNED
    if result.publish_errors:
        raise AlertPublishFailed(f"account {message.account_id}: {'; '.join(result.publish_errors)}")
    if result.delivery_errors:
        raise IntegrationDeliveryFailed(f"account {message.account_id}: {'; '.join(result.delivery_errors[:5])}")
    return MemberRun(message.account_id, status, result)
