"""The scheduled handler under a fake Lambda context: it runs the pipeline and emits the defined EMF metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from connector_health import metrics as M

pytestmark = pytest.mark.integration


@dataclass
class FakeContext:
    function_name: str = "connector-health-scan"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:connector-health-scan"
    aws_request_id: str = "req-1"


def _emf(stdout: str) -> list[dict]:
    blobs = []
    for line in stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc:
            blobs.append(doc)
    return blobs


def emitted_metrics(stdout: str) -> dict[str, list[dict]]:
    """{metric name: [{dimension: value}, ...]} from EMF blobs."""
    out: dict[str, list[dict]] = {}
    for blob in _emf(stdout):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == M.NAMESPACE
            dims = directive["Dimensions"][0]
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                value = value[0] if isinstance(value, list) else value  # Powertools writes values as lists
                out.setdefault(metric["Name"], []).append({d: blob[d] for d in dims} | {"_value": value})
    return out


@pytest.fixture
def handler_env(sandbox, monkeypatch, capsys):
    monkeypatch.setenv("CONNECTOR_HEALTH_CONFIG", str(sandbox.config_path))
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", M.SERVICE)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", M.NAMESPACE)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    from handlers import scan

    scan._config.cache_clear()
    scan.metrics.clear_metrics()
    import sys

    for handler in scan.logger.handlers:  # the logger kept the stdout of the module's first import
        handler.stream = sys.stdout
    yield scan
    for handler in scan.logger.handlers:
        handler.stream = sys.__stdout__


def test_handler_runs_and_emits_every_defined_metric(handler_env, sandbox, capsys):
    out = handler_env.handler({"id": "evt-1", "source": "aws.events"}, FakeContext())
    assert out["run_id"] == "evt-1"
    emitted = emitted_metrics(capsys.readouterr().out)
    # Every single-account definition is emitted; tests/infra/test_dashboard_metrics.py proves the dashboard and
    # alarms read only definitions of metrics.py, so together: every dashboard metric is one the handler emits.
    single_account = [d for d in M.ALL if d not in M.ORGANISATION]
    for defn in single_account:
        assert defn.name in emitted, defn.name
        for dims in emitted[defn.name]:
            assert set(dims) - {"_value"} == {"service", *defn.dimensions}
            assert dims["service"] == M.SERVICE
    assert [d["_value"] for d in emitted["Heartbeat"]] == [1.0]
    assert {d["Connector"] for d in emitted["ConnectorHealthy"]} == {"defender"}
    assert {d["Severity"] for d in emitted["OpenFindings"]} == {"critical", "high", "medium", "low", "info"}
    assert emitted["ConnectorHealthy"][0]["_value"] == 1.0
    assert 300 < emitted["CertificateDaysLeft"][0]["_value"] <= 366
    assert emitted["ProbeStage"][0]["Connector"] == "defender"  # the forged probe ran against the sandbox's STS
    assert emitted["ProbeLatency"][0]["_value"] > 0
    # Every emitted metric is one the dashboard may read (metrics.py is the single definition).
    assert set(emitted) <= set(M.BY_NAME)


def test_handler_logs_are_json_with_the_correlation_id(handler_env, capsys, caplog):
    handler_env.handler({"id": "evt-2"}, FakeContext())
    assert handler_env.logger.get_correlation_id() == "evt-2"
    formatter = handler_env.logger.registered_formatter
    logs = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "connector-health"]
    finished = [l for l in logs if l.get("message") == "scan finished"]
    assert finished and finished[0]["correlation_id"] == "evt-2"
