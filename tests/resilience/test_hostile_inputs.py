"""Inputs written to hurt, or merely large, on the sandbox: none may stall a run or silence an account's alerts.

Before issue 13 each of these stopped the alerts of the whole account: a backtracking StringLike held the scan,
a 290 KB alert failed with "Message too long" and was retried larger every run, and items past DynamoDB's 400 KB
(moto enforces it, as DynamoDB does) failed every run with a ValidationException.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from connector_health.engine import scan_account
from connector_health.pipeline import run_pipeline
from connector_health.state import store as state_store
from connector_health.state.store import StateStore

pytestmark = pytest.mark.integration
ACCOUNT = "123456789012"
SNS_LIMIT = 262_144
DYNAMODB_ITEM_LIMIT = 400 * 1024


@pytest.fixture
def publishes(sandbox, config):
    """An SNS client for the pipeline that records every Publish request as sent (subject, body, attributes)."""
    sent: list[dict] = []
    session = sandbox.boto_session()
    sns = session.client("sns", region_name=config.region)
    sns.meta.events.register("provide-client-params.sns.Publish", lambda params, **_: sent.append(dict(params)))
    return sns, sent


def _sns_size(params: dict) -> int:
    attributes = sum(len(name.encode()) + len(a["DataType"].encode()) + len(a["StringValue"].encode())
                     for name, a in params.get("MessageAttributes", {}).items())
    return len(params["Message"].encode()) + attributes


def _assert_fits_sns(sent: list[dict]) -> None:
    for params in sent:
        assert _sns_size(params) <= SNS_LIMIT
        subject = params["Subject"]
        assert len(subject) <= 100 and subject.isascii() and subject[0] in "[" and "\n" not in subject
        assert len(params["MessageAttributes"]) <= 10


def _stored_items(config) -> list[dict]:
    table = StateStore(config.state.table_name).table
    items, kwargs = [], {}
    while True:
        page = table.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _dynamodb_size(value) -> int:
    """DynamoDB's count for an item (the test's own, independent of the code under test): attribute names and
    values, strings as UTF-8, binary as is, numbers one byte per two digits plus one."""
    if isinstance(value, dict):
        return sum(len(str(k).encode()) + _dynamodb_size(v) for k, v in value.items())
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, list):
        return 3 + sum(_dynamodb_size(v) + 1 for v in value)
    if hasattr(value, "value") and isinstance(value.value, bytes):  # boto3's Binary
        return len(value.value)
    return len(str(value)) // 2 + 2


def _assert_every_item_fits(config) -> None:
    for item in _stored_items(config):
        assert _dynamodb_size(item) <= DYNAMODB_ITEM_LIMIT, (item["pk"], item["sk"], _dynamodb_size(item))


# --- backtracking patterns ----------------------------------------------------------------------------------

HOSTILE = "*?" * 24 + "!"  # C(n, 24) ways to try with a backtracking matcher; one pass with the automaton


def test_a_backtracking_trust_condition_does_not_hold_the_scan(sandbox, config, hang_guard):
    iam = sandbox.client("iam")
    doc = iam.get_role(RoleName="CspmMonitorAws")["Role"]["AssumeRolePolicyDocument"]
    doc["Statement"][0]["Condition"]["StringLike"]["sts:RoleSessionName"] = HOSTILE
    iam.update_assume_role_policy(RoleName="CspmMonitorAws", PolicyDocument=json.dumps(doc))
    finished, findings = hang_guard(lambda: [(f.check_id, f.resource_arn)
                                             for f in scan_account(config, exchanges=False).findings])
    assert finished
    flagged = {check for check, resource in findings if resource.endswith("/CspmMonitorAws")}
    assert "TRUST_EXPECTED_IDENTITY_DENIED" in flagged  # the real caller's session name does not end in "!"


def test_backtracking_action_and_resource_patterns_do_not_hold_the_permission_checks(sandbox, config, hang_guard):
    sandbox.client("iam").put_role_policy(RoleName="CspmMonitorAws", PolicyName="hostile", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:" + HOSTILE, "Resource": "*"},
            {"Effect": "Deny", "Action": "*", "Resource": "arn:aws:s3:::" + HOSTILE}]}))
    finished, checks = hang_guard(lambda: {f.check_id for f in scan_account(config, exchanges=False).findings})
    assert finished and "PERMS_UNEXPECTED_POLICY" in checks


def test_lint_trust_answers_a_backtracking_policy(tmp_path, hang_guard):
    from connector_health import cli

    policy = tmp_path / "trust.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                      "StringLike": {"token.actions.githubusercontent.com:sub": "repo:" + HOSTILE}}}]}))
    out = tmp_path / "out.json"

    def lint():
        with open(out, "w") as stdout, contextlib.redirect_stdout(stdout):
            return cli.main(["lint-trust", str(policy), "--format", "json"])

    finished, code = hang_guard(lint)
    assert finished and code in (0, 1)
    assert "findings" in json.loads(out.read_text())


# --- alerts larger than SNS accepts -------------------------------------------------------------------------

def _loose_roles(sandbox, count: int, inline_bytes: int) -> list[str]:
    """`count` roles that trust the connector's provider with no condition at all, each with an inline policy of
    about `inline_bytes`."""
    iam = sandbox.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": sandbox.seeded["provider_arn"]},
        "Action": "sts:AssumeRoleWithWebIdentity"}]})
    names = []
    for i in range(count):
        name = f"loose-{i:03d}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
        buckets = [f"arn:aws:s3:::team-{i:03d}-data-{j:03d}/*" for j in range(inline_bytes // 36)]
        iam.put_role_policy(RoleName=name, PolicyName="data", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": buckets}]}))
        names.append(name)
    return names


def _settled_exactly_once(config, results) -> None:
    """Every alerted change is in exactly one published message, and the state says each was told once."""
    for result in results:
        carried = [c.record.fingerprint for p in result.published for c in p.message.changes]
        assert len(carried) == len(set(carried))
        assert sorted(carried) == sorted(c.record.fingerprint for c in result.changes.get("defender", []))
    records = StateStore(config.state.table_name).load_findings(ACCOUNT, "defender")
    assert all(r.claim is None for r in records.values())
    assert all(r.notified_status == r.status for r in records.values() if r.severity in ("critical", "high", "medium"))


def test_hundreds_of_loosely_trusted_roles_alert_in_messages_that_fit(sandbox, config, publishes):
    sns, sent = publishes
    _loose_roles(sandbox, 150, 2600)
    first = run_pipeline(config, run_id="loose-1", sns=sns)
    assert not first.publish_errors
    assert len(first.changes["defender"]) >= 300  # hundreds of changes for one connector
    assert len(first.published) > 1  # they did not fit one message
    _assert_fits_sns(sent)
    # The baseline of those 150 roles with their inline policies is far past one DynamoDB item.
    assert len(json.dumps(StateStore(config.state.table_name).get_baseline(ACCOUNT, "defender"))) > DYNAMODB_ITEM_LIMIT
    _assert_every_item_fits(config)
    # Every change went out once: the next run alerts only what changed since, a backdoor added meanwhile.
    iam = sandbox.client("iam")
    doc = iam.get_role(RoleName="CspmMonitorAws")["Role"]["AssumeRolePolicyDocument"]
    doc["Statement"].append({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                             "Action": "sts:AssumeRole"})
    iam.update_assume_role_policy(RoleName="CspmMonitorAws", PolicyDocument=json.dumps(doc))
    second = run_pipeline(config, run_id="loose-2", sns=sns)
    told = {(c.record.check_id, c.record.resource_arn.rsplit("/", 1)[-1]) for c in second.changes["defender"]}
    assert ("TRUST_UNEXPECTED_PRINCIPAL", "CspmMonitorAws") in told
    assert {role for _, role in told} == {"CspmMonitorAws"}
    assert second.published and not second.publish_errors
    _settled_exactly_once(config, [first, second])
    _assert_fits_sns(sent)
    alerts = sandbox.read_alerts()
    assert len(alerts) == len(first.published) + len(second.published)


def test_a_single_huge_diff_is_cut_to_fit_and_says_so(sandbox, config, publishes):
    """A statement whose condition value alone is 300 KB (past IAM's 8 KB trust-policy quota, which moto does not
    enforce: the largest diff the monitor could be handed) is added to a trust policy: one TRUST_DRIFT whose diff
    alone is larger than an SNS message."""
    sns, sent = publishes
    run_pipeline(config, run_id="diff-prime", sns=sns)
    iam = sandbox.client("iam")
    doc = iam.get_role(RoleName="CspmMonitorAws")["Role"]["AssumeRolePolicyDocument"]
    doc["Statement"].append({"Effect": "Deny", "Principal": {"Federated": sandbox.seeded["provider_arn"]},
                             "Action": "sts:AssumeRoleWithWebIdentity",
                             "Condition": {"StringEquals": {"sts:RoleSessionName": "n" * 300_000}}})
    iam.update_assume_role_policy(RoleName="CspmMonitorAws", PolicyDocument=json.dumps(doc))
    result = run_pipeline(config, run_id="diff", sns=sns)
    [drift] = [f for f in result.scan.findings if f.check_id == "TRUST_DRIFT"]
    assert len(json.dumps(drift.details["diff"])) > SNS_LIMIT
    assert not result.publish_errors and len(result.published) == 1
    _assert_fits_sns(sent)
    [alert] = sandbox.read_alerts()
    assert "TRUST_DRIFT" in alert["body"] and "characters in all" in alert["body"]
    _assert_every_item_fits(config)


# --- state items larger than DynamoDB accepts -----------------------------------------------------------------

def test_power_user_on_a_read_only_role_is_stored_with_bounded_evidence(sandbox, config, publishes):
    sns, sent = publishes
    sandbox.client("iam").attach_role_policy(RoleName="CspmMonitorAws",
                                             PolicyArn="arn:aws:iam::aws:policy/PowerUserAccess")
    result = run_pipeline(config, run_id="power-user", sns=sns)
    [write] = [f for f in result.scan.findings if f.check_id == "PERMS_WRITE_UNEXPECTED"]
    listed = [v for v in write.details.values() if isinstance(v, list) and len(v) > 5000]
    assert listed  # the full list of write actions, in the scan's own finding
    assert len(json.dumps(write.to_dict())) > DYNAMODB_ITEM_LIMIT
    assert not result.publish_errors
    _assert_every_item_fits(config)
    records = StateStore(config.state.table_name).load_findings(ACCOUNT, "defender")
    [stored] = [r for r in records.values() if r.check_id == "PERMS_WRITE_UNEXPECTED"]
    assert stored.finding["details"]["count"] == write.details["count"]  # the count survives, the list is summarised
    assert any(isinstance(v, list) and str(v[-1]).startswith("… and ") for v in stored.finding["details"].values())
    _assert_fits_sns(sent)


def test_a_600_kb_issuer_declared_by_discovery_is_bounded_before_state(sandbox, config, publishes):
    sns, sent = publishes
    sandbox.issuer.wrong_issuer = "https://issuer.example/" + "x" * 600_000
    result = run_pipeline(config, run_id="long-issuer", sns=sns)
    assert "PROVIDER_ISSUER_MISMATCH" in {f.check_id for f in result.scan.findings}
    assert not result.publish_errors
    _assert_every_item_fits(config)
    _assert_fits_sns(sent)


def test_a_baseline_too_large_to_store_is_a_finding_not_a_failed_run(sandbox, config, monkeypatch):
    monkeypatch.setattr(state_store, "BASELINE_ITEM_BYTES", 256)  # every baseline needs several parts ...
    monkeypatch.setattr(state_store, "MAX_BASELINE_PARTS", 1)  # ... and only one is allowed
    result = run_pipeline(config, run_id="no-room")  # completes
    assert result.baselines_recorded == []
    [change] = [c for c in result.changes["*"] if c.record.check_id == "MONITOR_CHECK_ERROR"]
    assert change.kind == "new" and change.record.finding["details"]["item"] == "BASELINE"
    assert "did not fit" in change.record.finding["message"]


def test_a_baseline_split_across_items_reads_back(sandbox, config, monkeypatch):
    """A baseline that does not compress below one item's share (random key ids) is stored in parts."""
    monkeypatch.setattr(state_store, "BASELINE_ITEM_BYTES", 4096)
    store = StateStore(config.state.table_name)
    import datetime as dt
    import secrets

    baseline = {"roles": {f"r{i}": secrets.token_hex(64) for i in range(400)}, "provider": None}
    assert store.put_baseline(ACCOUNT, "split", baseline, dt.datetime.now(dt.timezone.utc))
    assert store.get_baseline(ACCOUNT, "split") == baseline
    parts = [i for i in _stored_items(config) if i["sk"].startswith("BASELINE#") and "split" in i["pk"]]
    assert len(parts) > 5
    # Accepting a new baseline replaces the parts of the old one.
    smaller = {"roles": {}, "provider": None}
    assert store.put_baseline(ACCOUNT, "split", smaller, dt.datetime.now(dt.timezone.utc))
    assert store.get_baseline(ACCOUNT, "split") == smaller
    assert not [i for i in _stored_items(config) if i["sk"].startswith("BASELINE#") and "split" in i["pk"]]
    assert not store.problems
