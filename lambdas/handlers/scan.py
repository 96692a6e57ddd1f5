"""Scheduled scan: collect, check, update state, alert, emit metrics. Thin: the logic is connector_health.pipeline.

Environment (set by the CDK stack): CONNECTOR_HEALTH_CONFIG (config file inside the asset), STATE_TABLE,
ALERT_TOPIC_ARN, POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_LOG_LEVEL.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.common import lambda_config as _config
from connector_health.pipeline import run_pipeline
from connector_health.telemetry import emit_scan_metrics

logger = Logger()
tracer = Tracer()
metrics = Metrics()




@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The EventBridge event id is the run id: a Lambda retry of the same event is the same run (no second alert).
    run_id = str((event or {}).get("id") or context.aws_request_id)
    result = run_pipeline(_config(), run_id=run_id)
    emitted = emit_scan_metrics(result.scan, heartbeat=not result.publish_errors)
    summary = result.summary()
    logger.info("scan finished", extra={"summary": summary, "metrics_emitted": len(emitted)})
    if result.publish_errors:
        # Raise so the invocation counts as an error (alarm) and the on-failure destination gets the event;
        # nothing was marked as alerted, so the next run publishes.
        raise RuntimeError(f"alert publish failed for {len(result.publish_errors)} connector(s)")
    if result.delivery_errors:
        # The same for Security Hub, the chat topic or EventBridge: their sync markers were left behind, so a retry
        # or the next run delivers what they refused.
        logger.error("integration delivery failed", extra={"delivery_errors": result.delivery_errors[:20]})
        raise RuntimeError(f"{len(result.delivery_errors)} integration deliver(ies) failed: "
                           f"{result.delivery_errors[0]}")
    return {"run_id": run_id, "findings": summary["findings"], "alerts_published": summary["alerts_published"]}
