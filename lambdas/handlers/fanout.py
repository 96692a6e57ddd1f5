"""Hub mode, scheduled: list the organisation's selected accounts and send one SQS message per account.
Thin: the selection is connector_health.org.accounts.

Environment (set by the CDK stack): CONNECTOR_HEALTH_CONFIG, ACCOUNT_QUEUE_URL, POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_LOG_LEVEL.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from connector_health import metrics as M
from connector_health.collect.aws import BOTO_CONFIG
from handlers.common import lambda_config as _config
from connector_health.org import AccountMessage, select_accounts

logger = Logger()
tracer = Tracer()
metrics = Metrics()

SQS_BATCH = 10  # SendMessageBatch's limit


def send_messages(sqs, queue_url: str, messages: list[AccountMessage]) -> list[str]:
    """Send in batches of ten; returns the accounts whose message SQS did not accept."""
    failed: list[str] = []
    for start in range(0, len(messages), SQS_BATCH):
        chunk = messages[start:start + SQS_BATCH]
        entries = [{"Id": str(i), "MessageBody": m.to_json()} for i, m in enumerate(chunk)]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        failed += [chunk[int(f["Id"])].account_id for f in response.get("Failed", [])]
    return failed


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The EventBridge event id is the run id of every account's pipeline (a retried fan-out alerts nothing twice).
    run_id = str((event or {}).get("id") or context.aws_request_id)
    config = _config()
    session = boto3.session.Session()
    # The hub's own account is scanned by its own schedule; whether it is the management account decides whether
    # the management account is fanned out (config org.skip_management_account).
    hub_account = session.client("sts", region_name=config.region, config=BOTO_CONFIG).get_caller_identity()["Account"]
    selection = select_accounts(config.org, session, hub_account=hub_account)
    messages = [AccountMessage(run_id=run_id, account_id=a.account_id, account_name=a.name) for a in selection.selected]
    sqs = session.client("sqs", region_name=config.region, config=BOTO_CONFIG)
    failed = send_messages(sqs, os.environ["ACCOUNT_QUEUE_URL"], messages)
    metrics.add_metric(name=M.ACCOUNTS_SKIPPED.name, unit=MetricUnit[M.ACCOUNTS_SKIPPED.unit],
                       value=len(selection.skipped))
    summary = {"run_id": run_id, "accounts_selected": len(messages), "accounts_skipped": len(selection.skipped),
               "messages_sent": len(messages) - len(failed)}
    logger.info("fan-out finished", extra={**summary, "skipped": [s.__dict__ for s in selection.skipped]})
    if failed:
        # Raise so the invocation is retried (and alarms); accounts already queued are re-sent, and the pipeline's
        # run markers keep their alerts single.
        raise RuntimeError(f"SQS refused the messages of {len(failed)} account(s): {', '.join(failed[:10])}")
    return summary
