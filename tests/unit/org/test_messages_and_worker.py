"""The SQS message shape, the refusal finding, and the worker's partial batch response (no AWS: the per-account
step is replaced)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from connector_health.config import parse_config
from connector_health.org import AccountMessage, BadMessage, MemberRoleRefused, refusal_finding

CONFIG = {"connectors": [{"name": "ci", "preset": "generic", "issuer": "https://x.example", "audiences": ["a"]}],
          "org": {"enabled": True}}


def test_message_round_trip_and_refusals():
    msg = AccountMessage(run_id="evt-1", account_id="222222222222", account_name="prod")
    assert AccountMessage.from_json(msg.to_json()) == msg
    assert json.loads(msg.to_json()) == {"version": 1, "run_id": "evt-1", "account_id": "222222222222",
                                         "account_name": "prod"}
    for body in ("{not json", "[]", json.dumps({"version": 2, "run_id": "r", "account_id": "222222222222"}),
                 json.dumps({"version": 1, "run_id": "r", "account_id": "2222"}),
                 json.dumps({"version": 1, "account_id": "222222222222"})):
        with pytest.raises(BadMessage):
            AccountMessage.from_json(body)


def test_refusal_is_one_account_wide_access_denied_finding():
    config = parse_config(CONFIG)
    role = "arn:aws:iam::222222222222:role/connector-health-member"
    finding = refusal_finding(config, "222222222222", MemberRoleRefused(role, "AccessDenied", "not authorized"))
    assert (finding.check_id, finding.connector, finding.account, finding.resource_arn) == (
        "MONITOR_ACCESS_DENIED", "*", "222222222222", role)
    assert finding.severity.value == "high"
    assert "member stack" in finding.remediation and "connector-health-member" in finding.remediation
    assert finding.details == {"action": "sts:AssumeRole", "code": "AccessDenied", "role_arn": role}


@dataclass
class FakeContext:
    function_name: str = "worker"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:worker"
    aws_request_id: str = "req-1"
    remaining_ms: list[int] = field(default_factory=list)  # one value per call, then the function's full timeout

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms.pop(0) if self.remaining_ms else 300_000


def _record(message_id: str, body: str, receives: int = 1) -> dict:
    return {"messageId": message_id, "receiptHandle": "rh", "body": body, "md5OfBody": "x",
            "attributes": {"ApproximateReceiveCount": str(receives)}, "messageAttributes": {},
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"}


@pytest.fixture
def worker_module(monkeypatch, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(CONFIG))
    monkeypatch.setenv("CONNECTOR_HEALTH_CONFIG", str(path))
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ConnectorHealth")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "connector-health")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    from handlers import worker

    worker._config.cache_clear()
    worker.metrics.clear_metrics()
    yield worker
    worker._config.cache_clear()


def test_worker_returns_exactly_the_failed_message_ids(worker_module, monkeypatch, capsys):
    worker = worker_module

    class Run:
        def __init__(self, account, status):
            self.account_id, self.status = account, status
            self.findings, self.result = [], type("R", (), {"published": [], "scan": None})()

    def fake_run_member(config, message, **kw):
        if message.account_id == "333333333333":
            raise RuntimeError("throttled past retries")
        return Run(message.account_id, "failed" if message.account_id == "444444444444" else "scanned")

    monkeypatch.setattr(worker, "run_member", fake_run_member)
    monkeypatch.setattr(worker, "emit_scan_metrics", lambda *a, **k: [])
    body = lambda acct: AccountMessage(run_id="r", account_id=acct).to_json()  # noqa: E731
    event = {"Records": [_record("m1", body("222222222222")), _record("m2", body("333333333333"), receives=3),
                         _record("m3", "garbage"), _record("m4", body("444444444444"))]}
    response = worker.handler(event, FakeContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    out = capsys.readouterr().out
    emf = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]
    values = {k: blob[k] for blob in emf for k in ("AccountsScanned", "AccountsFailed") if k in blob}
    # scanned: 222; failed: 444 (refused) and 333 on its last receive (the DLQ is next); m3 is retried first
    assert values == {"AccountsScanned": 1.0, "AccountsFailed": 2.0} or values == {"AccountsScanned": [1.0],
                                                                                  "AccountsFailed": [2.0]}


def test_worker_takes_no_account_it_has_no_time_for(worker_module, monkeypatch):
    """60 s (org.worker_min_seconds_per_account) must be left to start an account: the records after that point
    go back to the queue unprocessed, as batch item failures."""
    worker = worker_module
    started = []

    def fake_run_member(config, message, **kw):
        started.append(message.account_id)
        run = type("Run", (), {"account_id": message.account_id, "status": "scanned", "findings": []})()
        run.result = type("R", (), {"published": [], "scan": None})()
        return run

    monkeypatch.setattr(worker, "run_member", fake_run_member)
    monkeypatch.setattr(worker, "emit_scan_metrics", lambda *a, **k: [])
    body = lambda acct: AccountMessage(run_id="r", account_id=acct).to_json()  # noqa: E731
    event = {"Records": [_record(f"m{i}", body(f"{i}" * 12)) for i in range(1, 5)]}
    context = FakeContext(remaining_ms=[200_000, 61_000, 59_999, 10_000])
    response = worker.handler(event, context)
    assert started == ["111111111111", "222222222222"]
    assert response == {"batchItemFailures": [{"itemIdentifier": "m3"}, {"itemIdentifier": "m4"}]}
