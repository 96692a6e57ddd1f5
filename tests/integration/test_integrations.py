"""The integrations on the sandbox: Security Hub mirrors the finding lifecycle, the chat topic gets cards, the
event bus gets one event per change; read back with GetFindings, the chat topic's inbox queue and an EventBridge
rule that targets a queue.

The lifecycle seen in Security Hub: a finding is imported when it opens, updated in place (same Id) by every run
that sees it, left exactly as it was by a run whose check could not read what it needs, and archived as PASSED
when it is fixed.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from connector_health.collect import aws as collect_aws
from connector_health.collect.aws import ReadError
from connector_health.config import parse_config
from connector_health.integrations.securityhub import finding_id, product_arn
from connector_health.org.messages import AccountMessage
from connector_health.org.worker import run_member
from connector_health.pipeline import run_pipeline
from connector_health.state.store import StateStore

pytestmark = pytest.mark.integration
ACCOUNT = "123456789012"
ROLE = "CspmMonitorAws"
BACKDOOR = {"Sid": "Backdoor", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
            "Action": "sts:AssumeRole"}
CHAT_SCHEMA = json.loads((Path(__file__).parents[1] / "unit" / "integrations" /
                          "chatbot_custom_notification.schema.json").read_text(encoding="utf-8"))


def integrated(sandbox, **eventbridge) -> dict:
    data = sandbox.config_dict()
    data["alerts"] = {"chat_topic_arn": sandbox.seeded["chat_topic_arn"]}
    data["integrations"] = {"security_hub": {"enabled": True},
                            "eventbridge": {"enabled": True, "source": "connector-health", **eventbridge}}
    return data


@pytest.fixture
def config(sandbox):
    return parse_config(integrated(sandbox))


def _trust_policy(sandbox, *, backdoor: bool) -> None:
    iam = sandbox.client("iam")
    doc = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    doc["Statement"] = [s for s in doc["Statement"] if s.get("Sid") != "Backdoor"] + ([BACKDOOR] if backdoor else [])
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(doc))


def _refuse_role_reads(monkeypatch):
    def refused(self, snap):
        snap.read_errors.append(ReadError("iam:GetAccountAuthorizationDetails", "AccessDenied",
                                          "User is not authorized to perform: iam:GetAccountAuthorizationDetails"))

    monkeypatch.setattr(collect_aws.SnapshotCollector, "_collect_authorization_details", refused)


def _backdoor_finding(sandbox) -> dict:
    [finding] = [f for f in sandbox.security_hub_findings(GeneratorId="connector-health/TRUST_UNEXPECTED_PRINCIPAL")
                 if f["Resources"][0]["Id"].endswith(f":role/{ROLE}")]
    return finding


def test_security_hub_mirrors_the_lifecycle(sandbox, config, monkeypatch):
    run_pipeline(config, run_id="baseline")
    healthy = {f["Id"] for f in sandbox.security_hub_findings(RecordState="ACTIVE")}

    _trust_policy(sandbox, backdoor=True)
    opened = run_pipeline(config, run_id="opened")
    assert opened.delivery_errors == []
    first = _backdoor_finding(sandbox)
    records = StateStore(config.state.table_name).load_findings(ACCOUNT, "defender")
    [record] = [r for r in records.values() if r.check_id == "TRUST_UNEXPECTED_PRINCIPAL"]
    assert first["Id"] == finding_id("us-east-1", ACCOUNT, record.fingerprint)
    assert first["ProductArn"] == product_arn("aws", "us-east-1", ACCOUNT)
    assert (first["RecordState"], first["Compliance"]["Status"], first["Workflow"]["Status"]) == ("ACTIVE", "FAILED", "NEW")
    assert first["Severity"]["Label"] == "HIGH" and first["AwsAccountId"] == ACCOUNT
    assert first["Resources"][0] == {"Type": "AwsIamRole", "Id": f"arn:aws:iam::{ACCOUNT}:role/{ROLE}",
                                     "Partition": "aws", "Region": "us-east-1",
                                     "Details": {"AwsIamRole": {"RoleName": ROLE}}}
    assert first["CreatedAt"] == first["FirstObservedAt"] == record.first_seen
    assert first["Remediation"]["Recommendation"]["Url"].startswith("https://docs.aws.amazon.com/IAM/")
    assert record.synced("securityhub") == "open"

    # The next run sees it again: the same finding, updated in place.
    again = run_pipeline(config, run_id="again")
    second = _backdoor_finding(sandbox)
    assert second["Id"] == first["Id"] and second["CreatedAt"] == first["CreatedAt"]
    assert second["UpdatedAt"] > first["UpdatedAt"] and second["RecordState"] == "ACTIVE"
    assert {f["Id"] for f in sandbox.security_hub_findings(RecordState="ACTIVE")} - healthy == \
        {f["Id"] for f in sandbox.security_hub_findings(RecordState="ACTIVE")} - healthy  # no duplicate ids
    assert len(sandbox.security_hub_findings(Id=first["Id"])) == 1
    assert again.deliveries[0].counts["active"] >= 1

    # A run that cannot read the roles: its TRUST_* checks did not complete, so Security Hub is not touched.
    with monkeypatch.context() as patch:
        _refuse_role_reads(patch)
        blind = run_pipeline(config, run_id="blind")
    assert not [c for c in blind.changes.get("defender", []) if c.kind == "resolved"]
    assert _backdoor_finding(sandbox) == second
    monitor = sandbox.security_hub_findings(GeneratorId="connector-health/MONITOR_ACCESS_DENIED")
    assert [f["RecordState"] for f in monitor] == ["ACTIVE"]  # the blindness itself is a finding there too

    # Fixed: PASSED and archived; the monitor finding of the blind run resolves as well.
    _trust_policy(sandbox, backdoor=False)
    fixed = run_pipeline(config, run_id="fixed")
    assert fixed.delivery_errors == []
    archived = _backdoor_finding(sandbox)
    assert archived["Id"] == first["Id"]
    assert (archived["RecordState"], archived["Compliance"]["Status"]) == ("ARCHIVED", "PASSED")
    assert archived["UpdatedAt"] > second["UpdatedAt"]
    assert first["Id"] not in {f["Id"] for f in sandbox.security_hub_findings(RecordState="ACTIVE")}
    assert [f["RecordState"] for f in sandbox.security_hub_findings(
        GeneratorId="connector-health/MONITOR_ACCESS_DENIED")] == ["ARCHIVED"]
    records = StateStore(config.state.table_name).load_findings(ACCOUNT, "defender")
    assert records[record.fingerprint].synced("securityhub") == "resolved"


def test_chat_cards_and_events_follow_the_alerts(sandbox, config):
    run_pipeline(config, run_id="baseline")
    sandbox.read_alerts(), sandbox.read_chat(), sandbox.read_events()
    _trust_policy(sandbox, backdoor=True)
    run_pipeline(config, run_id="opened")
    [alert] = sandbox.read_alerts()
    assert not alert["body"].lstrip().startswith("{")  # the e-mail keeps its plain text
    [card] = sandbox.read_chat()
    attributes = card.pop("_attributes")
    jsonschema.validate(card, CHAT_SCHEMA)
    assert card["content"]["title"].startswith(":large_orange_circle: HIGH connector-health: defender in 123456789012")
    assert "TRUST_UNEXPECTED_PRINCIPAL" in card["content"]["description"]
    assert any(step.startswith("TRUST_UNEXPECTED_PRINCIPAL: ") for step in card["content"]["nextSteps"])
    assert attributes["connector"] == "defender" and attributes["severity"] == "high"
    events = sandbox.read_events()
    assert {e["detail-type"] for e in events} == {"connector-health finding change"}
    assert all(e["source"] == "connector-health" and e["detail"]["account"] == ACCOUNT for e in events)
    kinds = {(e["detail"]["kind"], e["detail"]["check_id"]) for e in events}
    assert ("new", "TRUST_UNEXPECTED_PRINCIPAL") in kinds
    [backdoor] = [e for e in events if e["detail"]["check_id"] == "TRUST_UNEXPECTED_PRINCIPAL"]
    assert backdoor["resources"] == [f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"]
    assert backdoor["detail"]["severity"] == "high" and backdoor["detail"]["status"] == "open"

    run_pipeline(config, run_id="quiet")  # nothing changed: no card, no event
    assert sandbox.read_chat() == [] and sandbox.read_events() == []

    _trust_policy(sandbox, backdoor=False)
    run_pipeline(config, run_id="fixed")
    [card] = sandbox.read_chat()
    card.pop("_attributes")
    jsonschema.validate(card, CHAT_SCHEMA)
    assert card["content"]["title"].startswith(":white_check_mark: RESOLVED")
    events = sandbox.read_events()
    assert ("resolved", "TRUST_UNEXPECTED_PRINCIPAL") in {(e["detail"]["kind"], e["detail"]["check_id"]) for e in events}


def test_hub_worker_imports_into_the_member_account(sandbox, three_members):
    data = integrated(sandbox) | {"org": sandbox.config_dict()["org"] | {"exchanges": False}}
    config = parse_config(data)
    numbers = {m["number"]: a for a, m in three_members["members"].items()}
    wildcard = numbers[2]
    run = run_member(config, AccountMessage(run_id="org-1", account_id=wildcard), hub_session=sandbox.boto_session())
    assert run.status == "scanned" and run.result.delivery_errors == []
    imported = sandbox.security_hub_findings(wildcard, GeneratorId="connector-health/TRUST_WILDCARD_PRINCIPAL")
    assert imported and all(f["AwsAccountId"] == wildcard and f["ProductArn"] == product_arn("aws", "us-east-1", wildcard)
                            for f in imported)
    assert sandbox.security_hub_findings(GeneratorId="connector-health/TRUST_WILDCARD_PRINCIPAL") == []  # not the hub's
    events = sandbox.read_events()  # events and cards go to the hub's bus and topic, naming the member account
    assert events and {e["detail"]["account"] for e in events} == {wildcard}
    assert [c["metadata"]["additionalContext"]["account"] for c in sandbox.read_chat()] == [wildcard]


def test_check_format_ocsf_validates(sandbox, capsys, ocsf_validator):
    from connector_health.cli import main

    _trust_policy(sandbox, backdoor=True)
    status = main(["check", "--config", str(sandbox.config_path), "--format", "ocsf", "--fail-on", "critical"])
    events = json.loads(capsys.readouterr().out)
    assert status == 0 and events
    for event in events:
        ocsf_validator.validate(event)
    [backdoor] = [e for e in events if e["finding_info"]["types"][0] == "TRUST_UNEXPECTED_PRINCIPAL"]
    assert backdoor["cloud"]["account"]["uid"] == ACCOUNT and backdoor["severity_id"] == 4
    assert backdoor["resources"][0]["uid"] == f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
    # The same finding, the same identity as in the state table and Security Hub.
    json_status = main(["check", "--config", str(sandbox.config_path), "--format", "json", "--fail-on", "critical"])
    plain = json.loads(capsys.readouterr().out)["findings"]
    assert json_status == status and len(plain) == len(events)
