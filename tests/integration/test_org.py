"""Hub mode on an emulated organisation of 50 member accounts (issue 8, acceptance).

The organisation is seeded once per module (about 20 s); the scans leave out the test exchanges (the fan-out is
under test, not the exchanges) and monitor the agentless-scanning and servers plans, whose roles carry the seeded
misconfigurations (sandbox/org.py). The sandbox returns to a single account afterwards.
"""

from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stdout
from dataclasses import dataclass

import pytest
import yaml

from connector_health import cli
from connector_health.config import parse_config
from connector_health.org import FAILED, SCANNED, scan_organization

pytestmark = pytest.mark.integration
ACCOUNTS = 50
PLANS = ["agentless-scanning", "servers"]  # the roles the seeded misconfigurations touch


@pytest.fixture(scope="module")
def org(sandbox_session):
    sandbox_session.restore()
    started = time.monotonic()
    seeded = sandbox_session.seed_org(ACCOUNTS, plans=PLANS)
    seeded["seed_seconds"] = time.monotonic() - started
    yield seeded
    sandbox_session.accounts = 0
    sandbox_session.restore()


@pytest.fixture
def org_config_data(org, sandbox_session):
    data = yaml.safe_load(sandbox_session.config_path.read_text())
    assert data["connectors"][0]["plans"] == PLANS and data["org"]["enabled"] is True
    data["org"]["exchanges"] = False
    return data


def _expected(org: dict, account: str) -> str | None:
    return org["members"][account]["expected"]


def test_org_scan_reports_each_account_and_only_its_own_findings(org, org_config_data, sandbox_session):
    config = parse_config(org_config_data)
    started = time.monotonic()
    result = scan_organization(config, sandbox_session.boto_session())
    elapsed = time.monotonic() - started
    summary = result.summary()

    no_role = [a for a, m in org["members"].items() if m["case"] == "no-member-role"]
    assert summary["accounts_scanned"] == ACCOUNTS - 1
    assert summary["accounts_failed"] == 1
    assert summary["accounts_skipped"] == 2  # the management account and the closed one
    assert {s["account"] for s in summary["skipped"]} == {org["management_account"], *org["closed"]}
    assert {o.account_id for o in result.outcomes} == set(org["members"])
    for outcome in result.outcomes:
        got = {f.check_id for f in outcome.findings}
        assert all(f.account == outcome.account_id for f in outcome.findings)
        expected = _expected(org, outcome.account_id)
        if expected is None:
            assert got == set(), (outcome.account_id, org["members"][outcome.account_id], [f.message for f in outcome.findings])
        else:
            assert expected in got, (outcome.account_id, expected, got)
        assert outcome.status == (FAILED if outcome.account_id in no_role else SCANNED)
    # The account without a member role is reported alone: one account-wide finding naming the role.
    (denied,) = [o for o in result.outcomes if o.account_id in no_role]
    (finding,) = denied.findings
    assert finding.check_id == "MONITOR_ACCESS_DENIED" and finding.connector == "*"
    assert finding.resource_arn == f"arn:aws:iam::{no_role[0]}:role/{org['member_role']}"
    assert finding.details["action"] == "sts:AssumeRole" and finding.details["code"] == "AccessDenied"
    assert summary["api_calls"]["sts:AssumeRole"] == ACCOUNTS
    print(f"50 accounts scanned in {elapsed:.1f}s")  # measured, not asserted (bench/org_bench.py measures properly)


def test_check_org_cli_json_and_table(org, org_config_data, sandbox_session, tmp_path):
    members = sorted(org["members"], key=lambda a: org["members"][a]["number"])
    org_config_data["org"]["include_accounts"] = members[:3]  # a short run: the CLI's shape, not the scale
    path = tmp_path / "org.yaml"
    path.write_text(yaml.safe_dump(org_config_data))
    out = io.StringIO()
    with redirect_stdout(out):
        status = cli.main(["check", "--org", "--config", str(path), "--format", "json", "--max-workers", "2"])
    doc = json.loads(out.getvalue())
    assert status == 1  # member 2's wildcard principal is critical
    summary = doc["summary"]
    assert (summary["accounts_scanned"], summary["accounts_failed"], summary["accounts_skipped"]) == (3, 0, ACCOUNTS - 3 + 2)
    assert {f["account"] for f in doc["findings"]} == {members[1], members[2]}
    assert all(f["account"] in members[:3] for f in doc["findings"])

    out = io.StringIO()
    with redirect_stdout(out):
        cli.main(["check", "--org", "--config", str(path)])
    text = out.getvalue()
    assert "Accounts" in text and "3 account(s) scanned, 0 failed" in text
    assert members[0] in text and "member-001" in text and "not included" in text


@dataclass
class FakeContext:
    function_name: str = "connector-health-org-worker"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:connector-health-org-worker"
    aws_request_id: str = "req-org"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def _failed_ids(worker, records: list[dict]) -> list[str]:
    """The message ids SQS gets back from one invocation: its batch item failures, or every record of the batch
    when all of them failed (Powertools then raises BatchProcessingError and the whole batch is retried, which is
    the runtime's behaviour whichever chunk the failing records land in)."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    try:
        response = worker.handler({"Records": records}, FakeContext())
    except BatchProcessingError:
        return [r["messageId"] for r in records]
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


@pytest.fixture
def hub_handlers(org, org_config_data, sandbox_session, tmp_path, monkeypatch):
    import sys

    from connector_health import metrics as M

    path = tmp_path / "hub.json"
    path.write_text(json.dumps(org_config_data))
    sqs = sandbox_session.client("sqs")
    queue = sqs.create_queue(QueueName="connector-health-accounts")["QueueUrl"]
    for name, value in {"CONNECTOR_HEALTH_CONFIG": str(path), "ACCOUNT_QUEUE_URL": queue,
                        "POWERTOOLS_SERVICE_NAME": M.SERVICE, "POWERTOOLS_METRICS_NAMESPACE": M.NAMESPACE,
                        "POWERTOOLS_TRACE_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    from handlers import fanout, worker  # after the environment: Powertools reads it when the module is imported

    for module in (fanout, worker):
        module._config.cache_clear()
        module.metrics.clear_metrics()
        for handler in module.logger.handlers:
            handler.stream = sys.stdout
    yield fanout, worker, queue
    for module in (fanout, worker):
        module._config.cache_clear()
        for handler in module.logger.handlers:
            handler.stream = sys.__stdout__
    sandbox_session.sts.assume_role_errors = {}


def _receive_all(sqs, queue: str) -> list[dict]:
    records = []
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not got:
            return records
        records += got


def _sqs_record(msg: dict, queue_arn: str) -> dict:
    return {"messageId": msg["MessageId"], "receiptHandle": msg["ReceiptHandle"], "body": msg["Body"],
            "attributes": msg.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": msg["MD5OfBody"],
            "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "us-east-1"}


def _metric_sums(stdout: str) -> dict[str, float]:
    """{metric name: sum of its values} from the EMF lines Powertools printed."""
    sums: dict[str, float] = {}
    for line in stdout.splitlines():
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        if not isinstance(blob, dict) or "_aws" not in blob:
            continue
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                sums[metric["Name"]] = sums.get(metric["Name"], 0.0) + sum(value if isinstance(value, list) else [value])
    return sums


def test_fanout_then_worker_partial_batch_response(org, hub_handlers, sandbox_session, capsys):
    fanout, worker, queue = hub_handlers
    sqs = sandbox_session.client("sqs")
    started = time.monotonic()
    sent = fanout.handler({"id": "org-run-1", "source": "aws.events"}, FakeContext(function_name="fanout"))
    assert sent == {"run_id": "org-run-1", "accounts_selected": ACCOUNTS, "accounts_skipped": 2,
                    "messages_sent": ACCOUNTS}
    messages = _receive_all(sqs, queue)
    assert sorted(json.loads(m["Body"])["account_id"] for m in messages) == sorted(org["members"])

    by_account = {json.loads(m["Body"])["account_id"]: m for m in messages}
    healthy = sorted(a for a, m in org["members"].items() if m["case"] == "healthy")
    flaky = healthy[0]  # AssumeRole into it fails with an error that is not a refusal: retried, not a finding
    sandbox_session.sts.assume_role_errors[flaky] = "RegionDisabledException"
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    records = [_sqs_record(m, queue_arn) for m in messages]
    records.insert(7, {**records[0], "messageId": "malformed-1", "body": "{not json"})

    failures: list[str] = []
    for start in range(0, len(records), 10):  # the event source mapping's batch size
        failures += _failed_ids(worker, records[start:start + 10])
    elapsed = time.monotonic() - started
    assert sorted(failures) == sorted(["malformed-1", by_account[flaky]["MessageId"]])

    sums = _metric_sums(capsys.readouterr().out)
    assert sums["AccountsSkipped"] == 2
    assert sums["AccountsScanned"] == ACCOUNTS - 2  # all but the one without a member role and the flaky one
    assert sums["AccountsFailed"] == 1  # the refused role; the flaky account's first receive is not final

    alerts = sandbox_session.read_alerts()
    by_alert_account: dict[str, list[dict]] = {}
    for alert in alerts:
        by_alert_account.setdefault(alert["attributes"]["account"], []).append(alert)
    misconfigured = {a: m for a, m in org["members"].items() if m["case"] != "healthy"}
    assert set(by_alert_account) == set(misconfigured)
    for account, member in misconfigured.items():
        check_ids = {c for alert in by_alert_account[account] for c in json.loads(alert["attributes"]["check_ids"])}
        assert member["expected"] in check_ids, (account, member, check_ids)
    (denied,) = by_alert_account[next(a for a, m in misconfigured.items() if m["case"] == "no-member-role")]
    assert denied["attributes"]["connector"] == "*"
    assert json.loads(denied["attributes"]["check_ids"]) == ["MONITOR_ACCESS_DENIED"]

    # The retry of the flaky account's message succeeds once STS answers again; nothing is alerted twice.
    sandbox_session.sts.assume_role_errors = {}
    retry = {**_sqs_record(by_account[flaky], queue_arn)}
    retry["attributes"] = {**retry["attributes"], "ApproximateReceiveCount": "2"}
    assert _failed_ids(worker, [retry]) == []
    assert sandbox_session.read_alerts() == []
    print(f"fan-out and 50 workers took {elapsed:.1f}s")  # measured, not asserted


def test_hub_reads_token_source_secrets_with_its_own_credentials(org, org_config_data, sandbox_session):
    """A token source's client secret lives in the hub account (the monitor's own); the member role can neither
    see nor read it, so the worker must fetch it with the hub session while it scans the member account."""
    from connector_health.org import AccountMessage, run_member
    from connector_health.sandbox.issuer import DEFENDER_TENANT

    secret_arn = sandbox_session.client("secretsmanager").create_secret(
        Name="connector-health/hub-client-secret", SecretString=sandbox_session.token_client_secret)["ARN"]
    assert ":123456789012:" in secret_arn  # the hub's account, not a member's
    org_config_data["org"]["exchanges"] = True
    org_config_data["connectors"][0]["token_source"] = {
        "type": "entra-client-credentials", "tenant_id": DEFENDER_TENANT, "client_id": sandbox_session.token_client_id,
        "scope": "api://AzureSecurityCenter.MultiCloud.DefenderForServers/.default", "secret_arn": secret_arn,
        "authority": sandbox_session.issuer.authority}
    healthy = sorted(a for a, m in org["members"].items() if m["case"] == "healthy")[0]
    run = run_member(parse_config(org_config_data), AccountMessage(run_id="hub-secret", account_id=healthy),
                     hub_session=sandbox_session.boto_session())
    exchanges = run.result.scan.stats["exchange"]["real_exchanges"]
    assert exchanges and all(e["stage"] != "token-source" for e in exchanges), exchanges
    assert "EXCHANGE_TOKEN_SOURCE_FAILED" not in {f.check_id for f in run.findings}
    assert all(f.account == healthy for f in run.findings)
