"""The integrations' permissions and resources exist only when enabled, each scoped to one resource.

`ConnectorHealth` (and the hub built from the same configuration) enables every integration; `ConnectorHealthMinimal`
enables none. The shared synthesis of conftest.py serves both (no synth of its own)."""

from __future__ import annotations

import json

from stacks.constructs.integrations import CHAT_SID, EVENTS_SID, SECURITY_HUB_SID

from .conftest import EVENT_BUS, HUB, MAIN, MEMBER, MINIMAL

INTEGRATION_ACTIONS = {"securityhub:BatchImportFindings", "events:PutEvents"}


def as_list(value):
    return value if isinstance(value, list) else [value]


def statements(synth, name: str, role_fragment: str) -> list[dict]:
    """Every policy statement of the roles whose logical id contains `role_fragment`."""
    roles = {k for k in synth.resources("AWS::IAM::Role", name) if role_fragment in k}
    assert roles, role_fragment
    out = []
    for role_id, role in synth.resources("AWS::IAM::Role", name).items():
        if role_id in roles:
            out += [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    for policy in synth.resources("AWS::IAM::Policy", name).values():
        if any(ref.get("Ref") in roles for ref in policy["Properties"]["Roles"]):
            out += policy["Properties"]["PolicyDocument"]["Statement"]
    return out


def by_sid(found: list[dict], sid: str) -> list[dict]:
    return [s for s in found if s.get("Sid") == sid]


def text(value) -> str:
    return json.dumps(value, sort_keys=True)


def test_scan_role_imports_only_into_its_accounts_default_product(synth):
    [statement] = by_sid(statements(synth, MAIN, "ScannerExecutionRole"), SECURITY_HUB_SID)
    assert as_list(statement["Action"]) == ["securityhub:BatchImportFindings"]
    [resource] = as_list(statement["Resource"])
    rendered = text(resource)
    assert ":securityhub:eu-west-1:" in rendered and ":product/" in rendered and "/default" in rendered
    assert rendered.count('"Ref": "AWS::AccountId"') == 2 and "*" not in rendered


def test_chat_topic_created_encrypted_and_published_to_only(synth):
    topics = synth.resources("AWS::SNS::Topic", MAIN)
    [chat_id] = [k for k in topics if "ChatTopic" in k]
    assert topics[chat_id]["Properties"]["KmsMasterKeyId"]
    [alert_key_ref] = [t["Properties"]["KmsMasterKeyId"] for k, t in topics.items() if k != chat_id]
    assert topics[chat_id]["Properties"]["KmsMasterKeyId"] == alert_key_ref  # the alert topic's key
    policies = [p for p in synth.resources("AWS::SNS::TopicPolicy", MAIN).values()
                if {"Ref": chat_id} in p["Properties"]["Topics"]]
    assert policies and "aws:SecureTransport" in text(policies)
    [publish] = by_sid(statements(synth, MAIN, "ScannerExecutionRole"), CHAT_SID)
    assert as_list(publish["Resource"]) == [{"Ref": chat_id}]
    outputs = synth.templates[MAIN]["Outputs"]
    assert outputs["ChatTopicArn"]["Value"] == {"Ref": chat_id}
    functions = synth.resources("AWS::Lambda::Function", MAIN)
    [scan] = [f for k, f in functions.items() if "Scanner" in k]
    assert scan["Properties"]["Environment"]["Variables"]["CHAT_TOPIC_ARN"] == {"Ref": chat_id}


def test_events_only_on_the_configured_bus_and_source(synth):
    [statement] = by_sid(statements(synth, MAIN, "ScannerExecutionRole"), EVENTS_SID)
    assert as_list(statement["Action"]) == ["events:PutEvents"]
    rendered = text(statement["Resource"])
    assert f"event-bus/{EVENT_BUS}" in rendered and ":events:eu-west-1:" in rendered
    assert statement["Condition"] == {"StringEquals": {"events:source": "connector-health"}}


def test_nothing_of_it_when_no_integration_is_enabled(synth):
    granted = {a for s in statements(synth, MINIMAL, "ScannerExecutionRole") for a in as_list(s["Action"])}
    assert not granted & INTEGRATION_ACTIONS
    assert not by_sid(statements(synth, MINIMAL, "ScannerExecutionRole"), CHAT_SID)
    assert not [k for k in synth.resources("AWS::SNS::Topic", MINIMAL) if "ChatTopic" in k]
    assert "ChatTopicArn" not in synth.templates[MINIMAL].get("Outputs", {})
    assert "only writes outside this stack" not in text(synth.templates[MINIMAL])


def test_hub_worker_publishes_cards_and_events_but_imports_through_the_member_role(synth):
    worker = statements(synth, HUB, "WorkerRole")
    assert by_sid(worker, CHAT_SID) and by_sid(worker, EVENTS_SID)
    assert not by_sid(worker, SECURITY_HUB_SID)
    [member_import] = by_sid(statements(synth, MEMBER, "MemberRole"), SECURITY_HUB_SID)
    rendered = text(member_import["Resource"])
    assert ":securityhub:eu-west-1:" in rendered and "/default" in rendered and "*" not in rendered


def test_the_acknowledgements_say_it_is_the_only_write(synth):
    """cdk-nag's audit trail (Metadata.cdk_nag) names the integration writes next to the wildcard reads."""
    assert "The only writes outside this stack are those of the enabled integrations" in text(synth.templates[MAIN])
    assert "securityhub:BatchImportFindings" in text([r.get("Metadata") for r in synth.templates[MAIN]["Resources"].values()])
    assert "The role's only write is securityhub:BatchImportFindings" in text(synth.templates[MEMBER])
