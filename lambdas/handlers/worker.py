"""Hub mode, SQS-triggered: run the pipeline of each account in the batch through its member role.
Thin: the per-account step is connector_health.org.worker.

Partial batch responses (Powertools batch utility): a message whose account could not be processed (a bad
message, throttling, an alert that could not be published) is returned in `batchItemFailures`, so only it is
retried; after the queue's maxReceiveCount it moves to the dead-letter queue. A missing or refusing member role
is not a failure of the message: it is a MONITOR_ACCESS_DENIED finding for that account, alerted like any other.
An account is started only while `org.worker_min_seconds_per_account` of the timeout is left; the records after
it go back to the queue as batch item failures instead of being cut off by the timeout (a timed-out invocation
would return the whole batch, finished accounts included).

Environment (set by the CDK stack): CONNECTOR_HEALTH_CONFIG, STATE_TABLE, ALERT_TOPIC_ARN,
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_LOG_LEVEL.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from connector_health import metrics as M
from connector_health.collect.aws import BOTO_CONFIG
from connector_health.collect.issuer import IssuerInspector
from connector_health.config import Config
from handlers.common import lambda_config as _config
from connector_health.org import FAILED, AccountMessage, run_member
from connector_health.telemetry import emit_account_metrics, emit_scan_metrics

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


class OutOfTime(RuntimeError):
    """Too little of the invocation is left to scan another account; the record is retried by SQS."""


class _Batch:
    """What one invocation shares across its records: the hub session, one STS client, one issuer inspector
    (one TLS handshake per issuer host per batch) and the account counts of the run summary metric."""

    def __init__(self, config: Config, context: LambdaContext) -> None:
        self.config = config
        self.context = context
        self.session = boto3.session.Session()
        self.sts = self.session.client("sts", region_name=config.region, config=BOTO_CONFIG)
        self.inspector = IssuerInspector(config.issuer_inspection)
        self.scanned = 0
        self.failed = 0

    def handle(self, record: SQSRecord) -> dict[str, Any]:
        left_ms = self.context.get_remaining_time_in_millis()
        if left_ms < self.config.org.worker_min_seconds_per_account * 1000:
            logger.warning("not enough time left for another account; returned to the queue",
                           extra={"message_id": record.message_id, "remaining_ms": left_ms})
            raise OutOfTime(f"{left_ms} ms left, less than org.worker_min_seconds_per_account")
        try:
            message = AccountMessage.from_json(record.body)
            run = run_member(self.config, message, hub_session=self.session, inspector=self.inspector, sts=self.sts)
        except Exception:
            # Counted as failed only on its last receive: earlier failures are retried, not lost.
            receives = int(record.attributes.approximate_receive_count or 1)
            if receives >= self.config.org.max_receive_count:
                self.failed += 1
            logger.exception("account failed", extra={"message_id": record.message_id, "receives": receives})
            raise
        if run.status == FAILED:
            self.failed += 1
        else:
            self.scanned += 1
            emit_scan_metrics(run.result.scan, heartbeat=False)
        emit_account_metrics(run.account_id, run.findings)
        logger.info("account done", extra={"account": run.account_id, "status": run.status,
                                           "findings": len(run.findings), "alerts": len(run.result.published)})
        return {"account": run.account_id, "status": run.status}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = _Batch(_config(), context)
    try:
        # Raises BatchProcessingError when every record failed: the whole batch is retried.
        return process_partial_response(event=event, record_handler=batch.handle, processor=processor,
                                        context=context)
    finally:
        metrics.add_metric(name=M.ACCOUNTS_SCANNED.name, unit=MetricUnit[M.ACCOUNTS_SCANNED.unit],
                           value=batch.scanned)
        metrics.add_metric(name=M.ACCOUNTS_FAILED.name, unit=MetricUnit[M.ACCOUNTS_FAILED.unit], value=batch.failed)
