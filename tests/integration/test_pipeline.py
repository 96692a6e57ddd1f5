"""Baseline, drift, finding lifecycle and SNS alerts on the sandbox (issue: the scheduled scan handler)."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config as BotoConfig

from connector_health.pipeline import accept_baseline, run_pipeline
from connector_health.state.store import StateStore

pytestmark = pytest.mark.integration
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def _run(config, run_id, **kw):
    return run_pipeline(config, run_id=run_id, **kw)


@pytest.fixture
def primed(sandbox, config):
    """A first run has recorded the baseline; the inbox is empty."""
    first = _run(config, "prime")
    assert first.baselines_recorded == ["defender"] and first.published == []
    assert sandbox.read_alerts() == []
    return sandbox


def _attach_admin(sandbox):
    sandbox.client("iam").attach_role_policy(RoleName="CspmMonitorAws", PolicyArn=ADMIN)


def _detach_admin(sandbox):
    sandbox.client("iam").detach_role_policy(RoleName="CspmMonitorAws", PolicyArn=ADMIN)


def test_first_run_records_the_baseline_and_alerts_nothing(sandbox, config):
    result = _run(config, "first")
    assert result.baselines_recorded == ["defender"]
    assert result.published == [] and sandbox.read_alerts() == []
    store = StateStore(config.state.table_name)
    baseline = store.get_baseline("123456789012", "defender")
    assert baseline["provider"]["thumbprints"] == [sandbox.pki.thumbprint]
    assert "CspmMonitorAws" in baseline["roles"]


def test_same_drift_twice_alerts_once_and_repair_resolves_once(primed, config):
    _attach_admin(primed)
    _run(config, "r1")
    _run(config, "r2")
    alerts = primed.read_alerts()
    assert len(alerts) == 1
    [alert] = alerts
    assert alert["subject"].startswith("[CRITICAL] connector-health: defender")
    assert alert["attributes"]["severity"] == "critical"
    assert alert["attributes"]["connector"] == "defender" and alert["attributes"]["account"] == "123456789012"
    assert "PERMS_DRIFT" in json.loads(alert["attributes"]["check_ids"])
    assert "Diff (was -> is)" in alert["body"] and "AdministratorAccess" in alert["body"] and "Fix:" in alert["body"]
    _detach_admin(primed)
    _run(config, "r3")
    _run(config, "r4")
    resolved = primed.read_alerts()
    assert len(resolved) == 1 and resolved[0]["subject"].startswith("[RESOLVED]")
    assert "RESOLVED CRITICAL PERMS_ADMIN_ACCESS" in resolved[0]["body"]


def _failing_sns(config):
    session = boto3.session.Session()

    def fail(request, **_):
        class _Raw:
            def stream(self, **_):
                yield b'<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code><Message>injected</Message></Error></ErrorResponse>'

        return AWSResponse(request.url, 500, {}, _Raw())

    session.events.register("before-send.sns.Publish", fail)
    return session.client("sns", region_name=config.region, config=BotoConfig(retries={"mode": "standard", "max_attempts": 1}))


def test_failed_publish_advances_nothing_and_the_next_run_alerts_once(primed, config):
    _attach_admin(primed)
    failed = _run(config, "f1", sns=_failing_sns(config))
    assert failed.published == [] and failed.publish_errors
    records = StateStore(config.state.table_name).load_findings("123456789012", "defender")
    assert records and all(r.notified_status is None and r.claim is None for r in records.values())
    _run(config, "f2")
    _run(config, "f3")
    alerts = primed.read_alerts()
    assert len(alerts) == 1 and "PERMS_ADMIN_ACCESS" in alerts[0]["body"]


def test_lambda_retry_of_the_same_run_never_publishes_twice(primed, config, monkeypatch):
    _attach_admin(primed)
    calls = {"n": 0}
    original = StateStore.settle

    def crash_after_publish(self, *args, **kwargs):
        calls["n"] += 1
        raise RuntimeError("the function timed out after publishing")

    monkeypatch.setattr(StateStore, "settle", crash_after_publish)
    with pytest.raises(RuntimeError):
        _run(config, "event-123")
    monkeypatch.setattr(StateStore, "settle", original)
    retry = _run(config, "event-123")  # Lambda's retry: same EventBridge event id
    assert retry.published == [] and retry.retried_runs == ["defender"]
    assert len(primed.read_alerts()) == 1
    _run(config, "next-hour")
    assert primed.read_alerts() == []  # and the bookkeeping was finished by the retry


def test_two_concurrent_runs_alert_once(primed, config, monkeypatch):
    _attach_admin(primed)
    original = StateStore.claim
    state = {"interleaved": False}

    def claim_after_the_other_run(self, account, connector, rec, run_id):
        # Run A has planned its changes; before it claims them, run B does everything.
        if run_id == "A" and not state["interleaved"]:
            state["interleaved"] = True
            _run(config, "B")
        return original(self, account, connector, rec, run_id)

    monkeypatch.setattr(StateStore, "claim", claim_after_the_other_run)
    result_a = _run(config, "A")
    assert state["interleaved"]
    assert result_a.published == []  # B told people first; A's conditional claims failed
    assert len(primed.read_alerts()) == 1


def test_baseline_accept_clears_drift(primed, config):
    _attach_admin(primed)
    first = _run(config, "d1")
    assert "new:PERMS_DRIFT" in first.summary()["changes"]["defender"]
    assert accept_baseline(config) == ["defender"]
    after = _run(config, "d2")
    assert "resolved:PERMS_DRIFT" in after.summary()["changes"]["defender"]
    assert "PERMS_DRIFT" not in {f.check_id for f in after.scan.findings}
    assert "PERMS_ADMIN_ACCESS" in {f.check_id for f in after.scan.findings}  # accepting drift does not bless admin


def test_trust_and_provider_drift_with_diffs(primed, config):
    iam = primed.client("iam")
    role = iam.get_role(RoleName="CspmMonitorAws")["Role"]
    doc = role["AssumeRolePolicyDocument"]
    doc["Statement"][0]["Condition"]["StringLike"]["sts:RoleSessionName"] = "MicrosoftDefenderForClouds_*"
    iam.update_assume_role_policy(RoleName="CspmMonitorAws", PolicyDocument=json.dumps(doc))
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=primed.seeded["provider_arn"],
                                                   ThumbprintList=[primed.pki.thumbprint, "ab" * 20])
    result = _run(config, "t1")
    by_id = {f.check_id: f for f in result.scan.findings}
    assert any("MicrosoftDefenderForClouds_*" in line for line in by_id["TRUST_DRIFT"].details["diff"])
    assert by_id["PROVIDER_DRIFT"].details["diff"]["thumbprints"]["is"] == sorted([primed.pki.thumbprint, "ab" * 20])
    body = primed.read_alerts()[0]["body"]
    assert "TRUST_DRIFT" in body and "PROVIDER_DRIFT" in body


def test_jwks_rotation_is_info_and_below_the_alert_minimum(primed, config):
    primed.issuer.rotate_signing_key()
    result = _run(config, "k1")
    [finding] = [f for f in result.scan.findings if f.check_id == "PROVIDER_JWKS_ROTATED"]
    assert finding.severity.value == "info"
    assert result.published == [] and primed.read_alerts() == []


def test_reminder_after_the_interval(primed, config):
    _attach_admin(primed)
    now = dt.datetime.now(dt.timezone.utc)
    _run(config, "m1", now=now)
    _run(config, "m2", now=now + dt.timedelta(hours=1))
    _run(config, "m3", now=now + dt.timedelta(hours=config.alerts.reminder_hours + 1))
    alerts = primed.read_alerts()
    assert len(alerts) == 2
    assert "STILL OPEN" in alerts[1]["body"] and "still open" in alerts[1]["subject"]


def _observe_writes(session) -> list[dict]:
    """The UpdateItem calls that record an observation (they set last_seen), as the client sends them."""
    writes: list[dict] = []

    def note(params, **_):
        if "last_seen" in params.get("UpdateExpression", ""):
            writes.append(params)

    session.events.register("provide-client-params.dynamodb.UpdateItem", note)
    return writes


def test_an_unchanged_open_finding_is_not_written_again_until_last_seen_is_a_day_old(primed, config):
    _attach_admin(primed)
    session = boto3.session.Session()
    writes = _observe_writes(session)
    now = dt.datetime.now(dt.timezone.utc)
    first = _run(config, "w1", session=session, now=now)
    open_findings = {f.check_id for f in first.scan.findings if f.connector != "*"}
    assert "PERMS_ADMIN_ACCESS" in open_findings and len(writes) >= len(open_findings)
    writes.clear()
    _run(config, "w2", session=session, now=now + dt.timedelta(hours=1))
    assert writes == []  # same findings, same evidence: nothing to record but a later last_seen
    _detach_admin(primed)
    _run(config, "w3", session=session, now=now + dt.timedelta(hours=2))
    resolved = [w for w in writes if w["ExpressionAttributeValues"][":s"] == "resolved"]
    assert {w["ExpressionAttributeValues"][":c"] for w in resolved} >= {"PERMS_ADMIN_ACCESS"}
    _attach_admin(primed)
    writes.clear()
    _run(config, "w4", session=session, now=now + dt.timedelta(hours=3))  # open again: written
    assert {w["ExpressionAttributeValues"][":c"] for w in writes} >= {"PERMS_ADMIN_ACCESS"}
    writes.clear()
    _run(config, "w5", session=session, now=now + dt.timedelta(hours=27))  # a day later: last_seen refreshed
    assert {w["ExpressionAttributeValues"][":c"] for w in writes} >= {"PERMS_ADMIN_ACCESS"}
    store = StateStore(config.state.table_name)
    records = store.load_findings("123456789012", "defender")
    [admin] = [r for r in records.values() if r.check_id == "PERMS_ADMIN_ACCESS"]
    assert admin.status == "open" and admin.last_seen == (now + dt.timedelta(hours=27)).strftime("%Y-%m-%dT%H:%M:%SZ")
    alerts = primed.read_alerts()  # new, resolved, new again, the day's reminder: the skipped writes cost none
    assert len(alerts) == 4 and "[RESOLVED]" in alerts[1]["subject"] and "still open" in alerts[3]["subject"]


def test_stack_missing_on_the_sandbox(sandbox, config):
    data = sandbox.config_dict()
    data["connectors"][0]["stack_name"] = "DefenderForCloudOnboarding"
    from connector_health.config import parse_config
    from connector_health.engine import scan_account

    result = scan_account(parse_config(data), exchanges=False)
    [finding] = [f for f in result.findings if f.check_id == "STACK_MISSING"]
    assert "DefenderForCloudOnboarding" in finding.message


def test_onboarding_stack_whose_drift_cannot_be_detected_is_reported_not_in_sync(sandbox):
    """moto deploys the stack (DescribeStacks works) but implements no drift detection: the run must say that the
    drift is unknown (MONITOR_CHECK_ERROR naming cloudformation:DetectStackDrift), never report nothing."""
    from connector_health.config import parse_config
    from connector_health.engine import scan_account

    template = {"Resources": {"Reader": {"Type": "AWS::IAM::Role", "Properties": {
        "RoleName": "onboarding-reader", "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}}}}
    sandbox.client("cloudformation").create_stack(StackName="DefenderForCloudOnboarding",
                                                  TemplateBody=json.dumps(template))
    data = sandbox.config_dict()
    data["connectors"][0]["stack_name"] = "DefenderForCloudOnboarding"
    result = scan_account(parse_config(data), exchanges=False)
    by_id = {f.check_id: f for f in result.findings}
    assert "STACK_MISSING" not in by_id and "STACK_DRIFTED" not in by_id
    error = by_id["MONITOR_CHECK_ERROR"]
    assert error.details["action"] == "cloudformation:DetectStackDrift"
    assert "DefenderForCloudOnboarding" in error.resource_arn
