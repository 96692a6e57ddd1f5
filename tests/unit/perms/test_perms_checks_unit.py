"""PERMS_* checks on hand-built snapshots: rules the sandbox's Defender seed does not vary (config-defined roles,
globs in required actions, what counts as expected)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from connector_health.checks import CheckContext, get_check
from connector_health.collect.aws import AccountSnapshot, AttachedPolicy, ManagedPolicy, Role
from connector_health.config import parse_config
from connector_health.findings import Severity
from connector_health.permissions import AccessLevel, catalog

ACCOUNT = "111122223333"
NOW = dt.datetime(2026, 11, 26, tzinfo=dt.timezone.utc)
PERMS_IDS = ("PERMS_REQUIRED_MISSING", "PERMS_ADMIN_ACCESS", "PERMS_PRIVILEGE_ESCALATION", "PERMS_WRITE_UNEXPECTED",
             "PERMS_EXPECTED_DENY_MISSING", "PERMS_UNEXPECTED_POLICY")


def _doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def _ctx(role_cfg, *, inline=None, managed=(), preset="github-actions", extra=None, attach=None):
    """One connector with one config-defined role `deploy`; `managed` = [(arn, document)] all attached."""
    connector = {"name": "c", "preset": preset, "roles": [{"name": "deploy", **role_cfg}]}
    if preset == "defender-for-cloud":
        connector["customer_tenant_id"] = "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
    connector.update(extra or {})
    [conn] = parse_config({"connectors": [connector]}).resolved_connectors()
    snap = AccountSnapshot(account_id=ACCOUNT, roles_complete=True, providers_complete=True)
    for arn, document in managed:
        snap.managed_policies[arn] = ManagedPolicy(arn, arn.rsplit("/", 1)[-1], "v1", document, ":aws:policy" in arn)
    attached = [AttachedPolicy(arn.rsplit("/", 1)[-1], arn) for arn, _ in managed if attach is None or arn in attach]
    snap.roles["deploy"] = Role(name="deploy", arn=f"arn:aws:iam::{ACCOUNT}:role/deploy", path="/", trust_policy={},
                                inline_policies=inline or {}, attached_policies=attached)
    return CheckContext(config=None, connector=conn, snapshot=snap, issuer=None, now=NOW)


def _run(check_id, ctx):
    return list(get_check(check_id).run(ctx))


def _all(ctx):
    return {cid: _run(cid, ctx) for cid in PERMS_IDS if _run(cid, ctx)}


def test_checks_declare_what_they_read():
    for cid in PERMS_IDS:
        check = get_check(cid)
        assert check.needs == ("roles",) and check.permissions == ("iam:GetAccountAuthorizationDetails",)
        assert check.title and check.risk and check.remediation


def test_role_without_expectations_and_missing_roles_are_quiet():
    ctx = _ctx({}, inline={"p": _doc(_allow("s3:GetObject"))})
    assert _all(ctx) == {}
    ctx.snapshot.roles.clear()  # TRUST_ROLE_MISSING's business
    ctx2 = _ctx({"required_actions": ["s3:GetObject"], "read_only": True, "managed_policies": ["X"]})
    ctx2.snapshot.roles.clear()
    assert _all(ctx2) == {}


def test_required_missing_from_config_names_actions_and_typos():
    ctx = _ctx({"required_actions": ["s3:PutObject", "s3:GetObject", "s3:PutObjekt"]},
               inline={"deploy": _doc(_allow("s3:GetObject"))})
    [finding] = _run("PERMS_REQUIRED_MISSING", ctx)
    assert finding.severity is Severity.HIGH and finding.resource_arn.endswith(":role/deploy")
    assert "s3:PutObject, s3:PutObjekt (not an action AWS documents" in finding.message
    assert "not granted by any policy of the role" in finding.message
    assert "Service control policies are not evaluated" in finding.message
    assert [m["action"] for m in finding.details["missing"]] == ["s3:PutObject", "s3:PutObjekt"]
    assert "aws iam put-role-policy --role-name deploy" in finding.remediation
    granted = json.loads(finding.remediation.split("--policy-document '")[1].split("'")[0])
    assert granted["Statement"][0]["Action"] == ["s3:PutObject", "s3:PutObjekt"]


def test_required_actions_accept_globs_and_resources():
    ctx = _ctx({"required_actions": ["ec2:Describe*", "s3:PutObject"],
                "required_resources": {"s3:PutObject": "arn:{partition}:s3:::artifacts-{account}/*"}},
               inline={"p": _doc(_allow("ec2:DescribeInstances"),
                                 _allow("s3:PutObject", f"arn:aws:s3:::artifacts-{ACCOUNT}/*"))})
    assert _run("PERMS_REQUIRED_MISSING", ctx) == []
    narrow = _ctx({"required_actions": ["s3:PutObject"],
                   "required_resources": {"s3:PutObject": "arn:aws:s3:::artifacts/*"}},
                  inline={"p": _doc(_allow("s3:PutObject", "arn:aws:s3:::artifacts/builds/*"))})
    [finding] = _run("PERMS_REQUIRED_MISSING", narrow)
    assert "s3:PutObject on arn:aws:s3:::artifacts/*" in finding.message


def test_conditional_required_action_is_not_missing():
    tag = {"StringEquals": {"ec2:ResourceTag/CreatedBy": "Microsoft Defender for Cloud"}}
    ctx = _ctx({"required_actions": ["ec2:DeleteSnapshot", "ec2:CreateSnapshot"]},
               inline={"p": _doc(_allow("ec2:DeleteSnapshot", Condition=tag))})
    [finding] = _run("PERMS_REQUIRED_MISSING", ctx)
    assert [m["action"] for m in finding.details["missing"]] == ["ec2:CreateSnapshot"]
    assert finding.details["allowed_only_under_conditions"] == {"ec2:DeleteSnapshot": ["ec2:ResourceTag/CreatedBy"]}


def test_escalation_respects_scope_and_required_actions():
    scoped = _ctx({}, inline={"p": _doc(_allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/app-*"))})
    assert _run("PERMS_PRIVILEGE_ESCALATION", scoped) == []
    every = _ctx({}, inline={"p": _doc(_allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/*"),
                                       _allow("iam:CreatePolicyVersion", f"arn:aws:iam::{ACCOUNT}:policy/x"))})
    [finding] = _run("PERMS_PRIVILEGE_ESCALATION", every)
    assert [a["action"] for a in finding.details["actions"]] == ["iam:PassRole", "iam:CreatePolicyVersion"]
    assert "iam:PassRole on every role" in finding.message and "inline policy p" in finding.message
    expected = _ctx({"required_actions": ["iam:PassRole", "iam:Create*"]},
                    inline=every.snapshot.roles["deploy"].inline_policies)
    assert _run("PERMS_PRIVILEGE_ESCALATION", expected) == []


def test_escalation_under_condition_is_reported_as_such():
    cond = {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    ctx = _ctx({}, inline={"p": _doc(_allow("iam:PassRole", Condition=cond))})
    [finding] = _run("PERMS_PRIVILEGE_ESCALATION", ctx)
    assert "only under conditions on iam:PassedToService" in finding.message
    assert finding.details["actions"][0]["conditions"] == ["iam:PassedToService"]


def test_write_unexpected_skips_required_and_counts_levels():
    ctx = _ctx({"read_only": True, "required_actions": ["s3:PutObject"]}, inline={"p": _doc(_allow("s3:*"))})
    [finding] = _run("PERMS_WRITE_UNEXPECTED", ctx)
    assert "s3:PutObject" not in finding.details["actions"]
    assert "s3:DeleteBucket" in finding.details["actions"] and "s3:PutBucketPolicy" in finding.details["actions"]
    assert finding.details["count"] == len(finding.details["actions"]) > 50
    assert set(finding.details["by_access_level"]) == {"Write", "Permissions management", "Tagging"}
    # permissions management first: the most dangerous kind leads the sample
    assert catalog().access_level(finding.details["actions"][0]) is AccessLevel.PERMISSIONS_MANAGEMENT
    assert _run("PERMS_WRITE_UNEXPECTED", _ctx({"read_only": False}, inline={"p": _doc(_allow("s3:*"))})) == []


def test_read_only_access_quirks_are_aws_business_not_the_connectors():
    """ReadOnlyAccess grants a few actions AWS classes as Write (athena:GetSessionEndpoint, ...): accepted when the
    preset expects that AWS-managed policy, reported when the same document comes from a customer policy."""
    moto_data = pytest.importorskip("moto.iam.aws_managed_policies")
    read_only = json.loads(moto_data.aws_managed_policies_data)["ReadOnlyAccess"]["Document"]
    aws_arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    ok = _ctx({"read_only": True, "managed_policies": ["ReadOnlyAccess"]}, managed=[(aws_arn, read_only)])
    assert _run("PERMS_WRITE_UNEXPECTED", ok) == []
    copy_arn = f"arn:aws:iam::{ACCOUNT}:policy/MyReadOnly"
    copied = _ctx({"read_only": True, "managed_policies": ["MyReadOnly"]}, managed=[(copy_arn, read_only)])
    [finding] = _run("PERMS_WRITE_UNEXPECTED", copied)
    assert "athena:GetSessionEndpoint" in finding.details["actions"] and finding.details["count"] < 20


def test_admin_access_severity_drops_when_a_boundary_caps_it():
    admin = ("arn:aws:iam::aws:policy/AdministratorAccess", _doc(_allow("*")))
    cap = (f"arn:aws:iam::{ACCOUNT}:policy/Cap", _doc(_allow("s3:Get*")))
    ctx = _ctx({}, managed=[admin, cap], attach=[admin[0]])
    [critical] = _run("PERMS_ADMIN_ACCESS", ctx)
    assert critical.severity is Severity.CRITICAL and critical.details["allows_everything"]
    ctx.snapshot.roles["deploy"].boundary_arn = cap[0]
    ctx.snapshot.caches.pop("role_permissions")
    [capped] = _run("PERMS_ADMIN_ACCESS", ctx)
    assert capped.severity is Severity.HIGH and not capped.details["allows_everything"]
    assert "permissions boundary Cap" in capped.message


def test_inline_star_is_admin_and_subsumes_write_and_escalation():
    ctx = _ctx({"read_only": True}, inline={"god": _doc(_allow("*"))})
    [finding] = _run("PERMS_ADMIN_ACCESS", ctx)
    assert "allows every action on every resource (granted by inline policy god)" in finding.message
    assert "aws iam delete-role-policy --role-name deploy --policy-name god" in finding.remediation
    assert _run("PERMS_WRITE_UNEXPECTED", ctx) == [] and _run("PERMS_PRIVILEGE_ESCALATION", ctx) == []


def test_expected_deny_needs_an_unconditional_deny_covering_the_pattern():
    allow = _allow("*")
    partial = _ctx({"expected_deny": ["billing:*"]},
                   inline={"p": _doc(allow, {"Effect": "Deny", "Action": "billing:ViewBilling", "Resource": "*"})})
    [finding] = _run("PERMS_EXPECTED_DENY_MISSING", partial)
    assert finding.details["missing"] == ["billing:*"]
    full = _ctx({"expected_deny": ["billing:*"]},
                inline={"p": _doc(allow, {"Effect": "Deny", "Action": "billing:*", "Resource": "*"})})
    assert _run("PERMS_EXPECTED_DENY_MISSING", full) == []
    cond = {"Bool": {"aws:SecureTransport": "false"}}
    conditional = _ctx({"expected_deny": ["billing:*"]},
                       inline={"p": _doc(allow, {"Effect": "Deny", "Action": "billing:*", "Resource": "*",
                                                 "Condition": cond})})
    [finding] = _run("PERMS_EXPECTED_DENY_MISSING", conditional)
    assert "only under conditions on aws:SecureTransport" in finding.message
    assert "--policy-name connector-health-expected-deny" in finding.remediation


def test_unexpected_policy_by_name_or_arn_and_optional():
    extra = (f"arn:aws:iam::{ACCOUNT}:policy/Extra", _doc(_allow("s3:GetObject")))
    main = (f"arn:aws:iam::{ACCOUNT}:policy/Main", _doc(_allow("s3:GetObject")))
    ctx = _ctx({"managed_policies": ["Main"], "inline_policies": ["keep"]}, managed=[main, extra],
               inline={"keep": _doc(_allow("s3:GetObject")), "added": _doc(_allow("s3:GetObject"))})
    findings = _run("PERMS_UNEXPECTED_POLICY", ctx)
    assert sorted(f.details["policy"] for f in findings) == ["Extra", "added"]
    assert any("detach-role-policy --role-name deploy --policy-arn " + extra[0] in f.remediation for f in findings)
    ok = _ctx({"managed_policies": [main[0]], "inline_policies": ["keep"], "optional_policies": ["Extra", "added"]},
              managed=[main, extra], inline=ctx.snapshot.roles["deploy"].inline_policies)
    assert _run("PERMS_UNEXPECTED_POLICY", ok) == []


def test_config_role_extends_the_preset_role():
    """A config `roles:` entry naming a preset role adds required actions to it (one finding, not two)."""
    ctx = _ctx({}, preset="defender-for-cloud", extra={"plans": ["data-security"], "roles": [
        {"name": "SensitiveDataDiscovery", "required_actions": ["s3:GetObjectVersion"]}]})
    ctx.snapshot.roles["SensitiveDataDiscovery"] = Role(
        name="SensitiveDataDiscovery", arn=f"arn:aws:iam::{ACCOUNT}:role/SensitiveDataDiscovery", path="/",
        trust_policy={}, inline_policies={"p": _doc(_allow(["s3:GetObject", "s3:ListBucket"]))})
    [finding] = _run("PERMS_REQUIRED_MISSING", ctx)
    assert [m["action"] for m in finding.details["missing"]] == ["kms:Decrypt", "s3:GetObjectVersion"]
