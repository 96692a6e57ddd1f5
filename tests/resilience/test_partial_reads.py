"""A read that failed never announces findings as resolved, and a finding keeps its identity across runs.

Each test first lets a run see a real problem (a backdoor in a trust policy, a failing real exchange), then breaks
what the checks read (IAM refuses or throttles past botocore's retries, a check raises, the member role refuses),
in `run`, the Lambda handler and hub mode; the finding must stay open (no [RESOLVED] mail) and a MONITOR_*
finding must say why. Before issue 13 these runs mailed "[RESOLVED]" for every hidden finding.
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest
from botocore.config import Config

from connector_health.collect import aws as collect_aws
from connector_health.collect.aws import ReadError
from connector_health.config import parse_config
from connector_health.org.messages import AccountMessage
from connector_health.org.worker import run_member
from connector_health.pipeline import run_pipeline
from connector_health.sandbox.issuer import DEFENDER_TENANT
from connector_health.state.store import StateStore

pytestmark = pytest.mark.integration
ACCOUNT = "123456789012"
ROLE = "CspmMonitorAws"
BACKDOOR = {"Sid": "Backdoor", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
            "Action": "sts:AssumeRole"}


def _add_backdoor(sandbox):
    iam = sandbox.client("iam")
    doc = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    doc["Statement"].append(BACKDOOR)
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(doc))


def _changes(result, connector="defender"):
    return sorted((c.kind, c.record.check_id) for c in result.changes.get(connector, []))


def _resolved(alerts):
    return [a for a in alerts if "RESOLVED" in a["body"]]


@pytest.fixture
def backdoor_alerted(sandbox, config):
    """The baseline is recorded, then a backdoor is added and alerted once."""
    run_pipeline(config, run_id="prime")
    _add_backdoor(sandbox)
    first = run_pipeline(config, run_id="seen")
    assert ("new", "TRUST_UNEXPECTED_PRINCIPAL") in _changes(first)
    assert sandbox.read_alerts()
    return sandbox


def _open_trust_findings(config):
    records = StateStore(config.state.table_name).load_findings(ACCOUNT, "defender")
    return {r.check_id for r in records.values() if r.status == "open" and r.check_id.startswith(("TRUST_", "PERMS_"))}


@pytest.mark.parametrize("code,status", [("AccessDenied", 403), ("Throttling", 400)])
def test_run_with_roles_unreadable_resolves_nothing_it_could_not_see(backdoor_alerted, config, injector, errors,
                                                                     monkeypatch, code, status):
    monkeypatch.setattr(collect_aws, "BOTO_CONFIG", Config(retries={"mode": "standard", "max_attempts": 2}))
    before = _open_trust_findings(config)
    assert "TRUST_UNEXPECTED_PRINCIPAL" in before
    broken = injector().fail("iam", "GetAccountAuthorizationDetails", status, errors.query(code, "injected"))
    result = run_pipeline(config, run_id="blind", session=broken.session)
    assert not [c for c in result.changes.get("defender", []) if c.kind == "resolved"]
    monitor = "MONITOR_ACCESS_DENIED" if code == "AccessDenied" else "MONITOR_CHECK_ERROR"
    assert ("new", monitor) in _changes(result, "*")
    [finding] = [f for f in result.scan.findings if f.check_id == monitor]
    assert "TRUST_UNEXPECTED_PRINCIPAL" in finding.details["checks_not_run"] and "stay open" in finding.message
    alerts = backdoor_alerted.read_alerts()
    assert alerts and not _resolved(alerts)
    assert _open_trust_findings(config) == before
    # The read works again: the monitor finding resolves, the backdoor is still the same open finding (no alert).
    healed = run_pipeline(config, run_id="healed")
    assert _changes(healed, "*") == [("resolved", monitor)]
    assert _changes(healed) == []


def test_a_check_that_raised_leaves_its_findings_open(backdoor_alerted, config, monkeypatch):
    from connector_health.checks import get_check

    check = get_check("TRUST_UNEXPECTED_PRINCIPAL")

    def broken(ctx):
        raise RuntimeError("a bug in the check")

    monkeypatch.setattr(check, "run", broken)
    result = run_pipeline(config, run_id="bug")
    assert ("new", "MONITOR_CHECK_ERROR") in _changes(result)
    assert ("resolved", "TRUST_UNEXPECTED_PRINCIPAL") not in _changes(result)
    monkeypatch.undo()
    healed = run_pipeline(config, run_id="fixed")
    assert _changes(healed) == [("resolved", "MONITOR_CHECK_ERROR")]  # the backdoor: still the same finding


def _refuse_role_reads(monkeypatch):
    """Every entry point below builds its own boto3 sessions: refuse the IAM read at the collector instead."""

    def refused(self, snap):
        snap.read_errors.append(ReadError("iam:GetAccountAuthorizationDetails", "AccessDenied",
                                          "User is not authorized to perform: iam:GetAccountAuthorizationDetails"))

    monkeypatch.setattr(collect_aws.SnapshotCollector, "_collect_authorization_details", refused)


LAMBDA_CONTEXT = SimpleNamespace(function_name="scan", memory_limit_in_mb=256, aws_request_id="req-1",
                                 invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:scan")


def test_lambda_handler_with_roles_refused_resolves_nothing(backdoor_alerted, config, monkeypatch):
    monkeypatch.setenv("CONNECTOR_HEALTH_CONFIG", str(backdoor_alerted.config_path))
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    from handlers import scan

    scan._config.cache_clear()
    _refuse_role_reads(monkeypatch)
    out = scan.handler({"id": "evt-blind", "source": "aws.events"}, LAMBDA_CONTEXT)
    assert out["run_id"] == "evt-blind"
    alerts = backdoor_alerted.read_alerts()
    assert any("MONITOR_ACCESS_DENIED" in a["body"] for a in alerts) and not _resolved(alerts)
    assert "TRUST_UNEXPECTED_PRINCIPAL" in _open_trust_findings(config)
    scan._config.cache_clear()


@pytest.fixture
def hub_config(sandbox):
    """Hub mode over the sandbox's own account, through a member role that admits the account's principals."""
    data = sandbox.config_dict() | {"org": {"enabled": True, "exchanges": False}}
    sandbox.client("iam").create_role(RoleName="connector-health-member", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                                "Action": "sts:AssumeRole"}]}))
    return parse_config(data)


def _member(config, sandbox, run_id):
    return run_member(config, AccountMessage(run_id=run_id, account_id=ACCOUNT), hub_session=sandbox.boto_session())


def test_hub_worker_with_member_reads_refused_resolves_nothing(sandbox, hub_config, monkeypatch):
    _member(hub_config, sandbox, "hub-prime")
    _add_backdoor(sandbox)
    seen = _member(hub_config, sandbox, "hub-seen")
    assert ("new", "TRUST_UNEXPECTED_PRINCIPAL") in _changes(seen.result)
    sandbox.read_alerts()
    _refuse_role_reads(monkeypatch)
    blind = _member(hub_config, sandbox, "hub-blind")
    assert ("new", "MONITOR_ACCESS_DENIED") in _changes(blind.result, "*")
    assert not [c for c in blind.result.changes.get("defender", []) if c.kind == "resolved"]
    assert not _resolved(sandbox.read_alerts())


def test_hub_worker_refused_member_role_resolves_no_earlier_account_finding(sandbox, hub_config, monkeypatch):
    with monkeypatch.context() as patch:
        _refuse_role_reads(patch)  # an account-wide finding (connector "*") is open
        first = _member(hub_config, sandbox, "hub-denied-read")
    assert ("new", "MONITOR_ACCESS_DENIED") in _changes(first.result, "*")
    sandbox.read_alerts()
    sandbox.sts.assume_role_errors[ACCOUNT] = "AccessDenied"  # now the member role itself refuses
    refused = _member(hub_config, sandbox, "hub-refused")
    assert refused.status == "failed"
    assert _changes(refused.result, "*") == [("new", "MONITOR_ACCESS_DENIED")]  # the refusal; nothing resolved
    assert not _resolved(sandbox.read_alerts())


# --- findings keep their identity -------------------------------------------------------------------------

SECRET_ENV = "CH_TEST_CLIENT_SECRET"
CSPM_AUD = "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479"


def test_an_unchanged_failing_real_exchange_alerts_once_in_three_runs(sandbox, monkeypatch):
    """The real token's claims (iat, exp) change every run; the finding must not."""
    monkeypatch.setenv(SECRET_ENV, sandbox.token_client_secret)
    iam = sandbox.client("iam")
    doc = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    doc["Statement"][0]["Condition"]["IpAddress"] = {"aws:SourceIp": "10.0.0.0/8"}  # STS refuses the monitor
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(doc))
    data = sandbox.config_dict()
    data["connectors"][0]["token_source"] = {
        "type": "entra-client-credentials", "tenant_id": DEFENDER_TENANT, "client_id": sandbox.token_client_id,
        "scope": f"{CSPM_AUD}/.default", "secret_env": SECRET_ENV, "authority": sandbox.issuer.authority}
    config = parse_config(data)
    issued_at, alerted = set(), []
    for run in range(3):
        if run:
            time.sleep(1.1)  # a new second: the next token's iat and exp differ
        result = run_pipeline(config, run_id=f"exchange-{run}")
        [denied] = [f for f in result.scan.findings if f.check_id == "EXCHANGE_ACCESS_DENIED"]
        issued_at.add(denied.details["token_claims"]["iat"])
        alerted += [c for c in result.changes.get("defender", []) if c.record.check_id == "EXCHANGE_ACCESS_DENIED"]
    assert len(issued_at) == 3  # three different tokens ...
    assert [c.kind for c in alerted] == ["new"]  # ... one finding, alerted once, never resolved
