"""Integrations under faults: what Security Hub, the chat topic or EventBridge refuse is sent again, reported
(the run fails, so it alarms), and delivered by the next run; nothing is lost and nothing is re-created under a
new id. The refusals are real: Security Hub turned off in the account (moto narrowed as AWS documents it), and
PutEvents / SNS answers injected through botocore's `before-send`, as the other fault tests do."""

from __future__ import annotations

import json

import pytest
from botocore.awsrequest import AWSResponse

from connector_health.config import parse_config
from connector_health.integrations import delivery
from connector_health.org.messages import AccountMessage
from connector_health.org.worker import IntegrationDeliveryFailed, run_member
from connector_health.pipeline import run_pipeline
from connector_health.state.store import StateStore

pytestmark = pytest.mark.integration
ACCOUNT = "123456789012"
ROLE = "CspmMonitorAws"
BACKDOOR = {"Sid": "Backdoor", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
            "Action": "sts:AssumeRole"}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_):
        yield self.body


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch):
    monkeypatch.setattr(delivery, "FIRST_PAUSE_SECONDS", 0.0)


@pytest.fixture
def config(sandbox):
    data = sandbox.config_dict()
    data["alerts"] = {"chat_topic_arn": sandbox.seeded["chat_topic_arn"]}
    data["integrations"] = {"security_hub": {"enabled": True}, "eventbridge": {"enabled": True}}
    return parse_config(data)


def _backdoor(sandbox, present: bool) -> None:
    iam = sandbox.client("iam")
    doc = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    doc["Statement"] = [s for s in doc["Statement"] if s.get("Sid") != "Backdoor"] + ([BACKDOOR] if present else [])
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(doc))


def _backdoor_findings(sandbox) -> list[dict]:
    return sandbox.security_hub_findings(GeneratorId="connector-health/TRUST_UNEXPECTED_PRINCIPAL")


def _record(config, check_id="TRUST_UNEXPECTED_PRINCIPAL"):
    [rec] = [r for r in StateStore(config.state.table_name).load_findings(ACCOUNT, "defender").values()
             if r.check_id == check_id]
    return rec


def test_security_hub_off_then_on_loses_nothing(sandbox, config):
    run_pipeline(config, run_id="baseline")
    _backdoor(sandbox, True)
    run_pipeline(config, run_id="seen")
    [first] = _backdoor_findings(sandbox)

    # Security Hub is turned off in the account: the resolution is refused (InvalidAccess) and reported.
    sandbox.client("securityhub").disable_security_hub()
    _backdoor(sandbox, False)
    refused = run_pipeline(config, run_id="refused")
    assert any("InvalidAccess" in line and "TRUST_UNEXPECTED_PRINCIPAL" in line for line in refused.delivery_errors)
    assert [c.kind for c in refused.changes["defender"] if c.record.check_id == "TRUST_UNEXPECTED_PRINCIPAL"] == ["resolved"]
    assert _record(config).synced("securityhub") == "open"  # what Security Hub holds, as far as we know

    # On again (its earlier findings are gone with it, as on AWS): the next run sends the resolution it missed,
    # under the same id, and records it.
    sandbox.client("securityhub").enable_security_hub(EnableDefaultStandards=False)
    healed = run_pipeline(config, run_id="healed")
    assert healed.delivery_errors == []
    [again] = _backdoor_findings(sandbox)
    assert again["Id"] == first["Id"] and (again["RecordState"], again["Compliance"]["Status"]) == ("ARCHIVED", "PASSED")
    assert _record(config).synced("securityhub") == "resolved"
    run_pipeline(config, run_id="after")  # nothing left to send for it
    assert _backdoor_findings(sandbox) == [again]


def _answer_once(session, service: str, operation: str, status: int, body: dict, times: int = 1):
    """The first `times` calls of an operation get `body` instead of reaching the sandbox."""
    left = {"n": times}

    def handler(request, **_):
        if left["n"] <= 0:
            return None
        left["n"] -= 1
        return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.1"},
                           _Raw(json.dumps(body).encode()))

    session.events.register(f"before-send.{service}.{operation}", handler)


def test_events_refused_in_part_are_sent_again(sandbox, config):
    run_pipeline(config, run_id="baseline")
    sandbox.read_events()
    _backdoor(sandbox, True)
    session = sandbox.boto_session()
    # EventBridge takes the call but refuses its first entry (throttled), twice: sent again alone, delivered.
    _answer_once(session, "events", "PutEvents", 200, {"FailedEntryCount": 1, "Entries": [
        {"ErrorCode": "ThrottlingException", "ErrorMessage": "injected"}]}, times=2)
    result = run_pipeline(config, run_id="partial", session=session)
    assert result.delivery_errors == []
    kinds = [(e["detail"]["kind"], e["detail"]["check_id"]) for e in sandbox.read_events()]
    assert ("new", "TRUST_UNEXPECTED_PRINCIPAL") in kinds and len(kinds) == len(set(kinds))


def test_events_refused_for_good_are_delivered_by_the_next_run(sandbox, config):
    run_pipeline(config, run_id="baseline")
    sandbox.read_events()
    _backdoor(sandbox, True)
    session = sandbox.boto_session()
    refusal = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}]}
    _answer_once(session, "events", "PutEvents", 200, refusal, times=delivery.ATTEMPTS)
    failed = run_pipeline(config, run_id="failed", session=session)
    assert failed.delivery_errors and "InternalFailure" in failed.delivery_errors[0]
    first = [e["detail"]["check_id"] for e in sandbox.read_events()]
    nxt = run_pipeline(config, run_id="next")
    assert nxt.delivery_errors == []
    second = [e["detail"]["check_id"] for e in sandbox.read_events()]
    # Every change reached the bus exactly once over the two runs.
    assert sorted(first + second) == sorted(set(first + second)) and "TRUST_UNEXPECTED_PRINCIPAL" in first + second


def test_a_chat_card_that_could_not_be_published_goes_out_with_the_next_run(sandbox, config):
    run_pipeline(config, run_id="baseline")
    sandbox.read_chat(), sandbox.read_alerts()
    _backdoor(sandbox, True)
    session = sandbox.boto_session()
    chat_topic = sandbox.seeded["chat_topic_arn"].rsplit(":", 1)[1]  # the alert topic's name differs

    def refuse_chat(request, **_):
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        if f"{chat_topic}&" in body or body.endswith(chat_topic):
            body = (b"<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>injected"
                    b"</Message></Error><RequestId>0</RequestId></ErrorResponse>")
            return AWSResponse(request.url, 403, {"Content-Type": "text/xml"}, _Raw(body))
        return None

    session.events.register("before-send.sns.Publish", refuse_chat)
    failed = run_pipeline(config, run_id="chat-down", session=session)
    assert len(sandbox.read_alerts()) == 1  # the e-mail went out
    assert sandbox.read_chat() == [] and any("AuthorizationError" in e for e in failed.delivery_errors)
    run_pipeline(config, run_id="chat-up")
    [card] = sandbox.read_chat()
    assert "TRUST_UNEXPECTED_PRINCIPAL" in card["content"]["description"] and sandbox.read_alerts() == []
    run_pipeline(config, run_id="quiet")
    assert sandbox.read_chat() == []


def test_hub_worker_fails_the_message_when_security_hub_refuses(sandbox, three_members):
    data = sandbox.config_dict()
    data["org"] = data["org"] | {"exchanges": False}
    data["integrations"] = {"security_hub": {"enabled": True}}
    config = parse_config(data)
    member = next(a for a, m in three_members["members"].items() if m["number"] == 2)
    sandbox.account_client(member, "securityhub").disable_security_hub()
    with pytest.raises(IntegrationDeliveryFailed, match="InvalidAccess"):
        run_member(config, AccountMessage(run_id="org-x", account_id=member), hub_session=sandbox.boto_session())
    sandbox.account_client(member, "securityhub").enable_security_hub(EnableDefaultStandards=False)
    retry = run_member(config, AccountMessage(run_id="org-x", account_id=member), hub_session=sandbox.boto_session())
    assert retry.result.delivery_errors == []
    assert sandbox.security_hub_findings(member, GeneratorId="connector-health/TRUST_WILDCARD_PRINCIPAL")
