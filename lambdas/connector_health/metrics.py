"""Metric definitions: the one place that names what the handlers emit and what the CDK dashboard and alarms read.

Pure data (no Powertools import), so the CDK app can import it without the Lambda runtime's dependencies.
Powertools Metrics adds the `service` dimension to every metric; `SERVICE` is its value (POWERTOOLS_SERVICE_NAME).
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "ConnectorHealth"
SERVICE = "connector-health"


@dataclass(frozen=True)
class MetricDef:
    name: str
    unit: str  # a CloudWatch unit name, as Powertools' MetricUnit values spell it
    dimensions: tuple[str, ...]  # besides `service`
    statistic: str
    description: str


HEALTHY = MetricDef("ConnectorHealthy", "Count", ("Connector",), "Minimum",
                    "1 when the connector has no open finding at or above medium, else 0")
OPEN_FINDINGS = MetricDef("OpenFindings", "Count", ("Connector", "Severity"), "Maximum",
                          "open findings of the connector by severity")
SCAN_DURATION = MetricDef("ScanDuration", "Seconds", (), "Maximum", "wall time of one scan run")
SCAN_ERRORS = MetricDef("ScanErrors", "Count", (), "Sum",
                        "MONITOR_CHECK_ERROR and MONITOR_ACCESS_DENIED findings of a run (the monitor is partly blind)")
HEARTBEAT = MetricDef("Heartbeat", "Count", (), "Sum", "1 per successful scan run")
PROBE_STAGE = MetricDef("ProbeStage", "Count", ("Connector",), "Minimum",
                        "validation stage the forged probe reached: 4 (signature) is the healthy answer; lower means "
                        "STS stopped earlier (0 region/credentials issued to a forged token, 1 provider, 2 audience, "
                        "3 keys/thumbprint)")
PROBE_LATENCY = MetricDef("ProbeLatency", "Milliseconds", ("Connector",), "Maximum", "STS round trip of the probe")
CERT_DAYS_LEFT = MetricDef("CertificateDaysLeft", "Count", ("Connector",), "Minimum",
                           "days until the first of the issuer's leaf or pinned certificates expires")
LIVE_SUCCESSES = MetricDef("LiveExchangeSuccesses", "Count", ("Connector",), "Sum",
                           "the connector's real AssumeRoleWithWebIdentity calls that got credentials (CloudTrail, "
                           "per run's window; the monitor's own test exchanges excluded)")
LIVE_FAILURES = MetricDef("LiveExchangeFailures", "Count", ("Connector",), "Sum",
                          "the connector's real AssumeRoleWithWebIdentity calls that STS refused (CloudTrail)")
ACCOUNTS_SCANNED = MetricDef("AccountsScanned", "Count", (), "Sum", "organisation runs: accounts scanned")
ACCOUNTS_FAILED = MetricDef("AccountsFailed", "Count", (), "Sum", "organisation runs: accounts that could not be scanned")
ACCOUNTS_SKIPPED = MetricDef("AccountsSkipped", "Count", (), "Sum", "organisation runs: accounts excluded by the config")
# Per member account (hub mode), so the dashboard shows which accounts are unhealthy. Two custom metrics per account
# (CloudWatch bills each dimension combination as a metric); the per-connector ones above stay account-blind.
ACCOUNT_HEALTHY = MetricDef("AccountHealthy", "Count", ("Account",), "Minimum",
                            "organisation runs: 1 when the account has no finding at or above medium, else 0 "
                            "(an account that could not be scanned is 0)")
ACCOUNT_FINDINGS = MetricDef("AccountFindings", "Count", ("Account",), "Maximum",
                             "organisation runs: the account's findings at or above medium")

ALL = (HEALTHY, OPEN_FINDINGS, SCAN_DURATION, SCAN_ERRORS, HEARTBEAT, PROBE_STAGE, PROBE_LATENCY, CERT_DAYS_LEFT,
       LIVE_SUCCESSES, LIVE_FAILURES, ACCOUNTS_SCANNED, ACCOUNTS_FAILED, ACCOUNTS_SKIPPED, ACCOUNT_HEALTHY,
       ACCOUNT_FINDINGS)
# What only the organisation hub emits (the worker and the fan-out); a one-account stack has nothing to show for them.
ORGANISATION = (ACCOUNTS_SCANNED, ACCOUNTS_FAILED, ACCOUNTS_SKIPPED, ACCOUNT_HEALTHY, ACCOUNT_FINDINGS)
BY_NAME = {m.name: m for m in ALL}
