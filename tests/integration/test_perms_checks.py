"""PERMS_* against the sandbox: each check fires on a real IAM change and clears when the change is undone."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

AWS = "arn:aws:iam::aws:policy/"
PERMS = ("PERMS_REQUIRED_MISSING", "PERMS_ADMIN_ACCESS", "PERMS_PRIVILEGE_ESCALATION", "PERMS_WRITE_UNEXPECTED",
         "PERMS_EXPECTED_DENY_MISSING", "PERMS_UNEXPECTED_POLICY")


def _perms(by_id):
    """{check_id: [role names]} of the PERMS_* findings."""
    return {cid: sorted(f.details["role"] for f in by_id[cid]) for cid in PERMS if cid in by_id}


def _doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_healthy_seed_has_no_perms_findings(scan):
    _, by_id = scan()
    assert _perms(by_id) == {}


def test_admin_access_attached_then_detached(sandbox, scan):
    iam = sandbox.client("iam")
    iam.attach_role_policy(RoleName="CspmMonitorAws", PolicyArn=AWS + "AdministratorAccess")
    _, by_id = scan()
    # ADMIN_ACCESS and UNEXPECTED_POLICY; WRITE_UNEXPECTED and ESCALATION are subsumed by ADMIN_ACCESS.
    assert _perms(by_id) == {"PERMS_ADMIN_ACCESS": ["CspmMonitorAws"], "PERMS_UNEXPECTED_POLICY": ["CspmMonitorAws"]}
    [admin] = by_id["PERMS_ADMIN_ACCESS"]
    assert admin.severity.value == "critical"
    assert admin.resource_arn == "arn:aws:iam::123456789012:role/CspmMonitorAws"
    assert "allows every action on every resource (granted by AdministratorAccess (AWS managed))" in admin.message
    assert "Service control policies are not evaluated" in admin.message
    assert ("aws iam detach-role-policy --role-name CspmMonitorAws --policy-arn "
            "arn:aws:iam::aws:policy/AdministratorAccess") in admin.remediation
    [extra] = by_id["PERMS_UNEXPECTED_POLICY"]
    assert extra.details["policy_arn"] == AWS + "AdministratorAccess"

    iam.detach_role_policy(RoleName="CspmMonitorAws", PolicyArn=AWS + "AdministratorAccess")
    _, by_id = scan()
    assert _perms(by_id) == {}


def test_iam_full_access_is_admin_and_escalation(sandbox, scan):
    iam = sandbox.client("iam")
    iam.attach_role_policy(RoleName="DefenderForCloud-DataSecurityPostureDB", PolicyArn=AWS + "IAMFullAccess")
    _, by_id = scan()
    role = ["DefenderForCloud-DataSecurityPostureDB"]
    assert _perms(by_id) == {"PERMS_ADMIN_ACCESS": role, "PERMS_PRIVILEGE_ESCALATION": role,
                             "PERMS_UNEXPECTED_POLICY": role}
    [admin] = by_id["PERMS_ADMIN_ACCESS"]
    assert "has IAMFullAccess attached" in admin.message and not admin.details["allows_everything"]
    [escalation] = by_id["PERMS_PRIVILEGE_ESCALATION"]
    actions = {a["action"] for a in escalation.details["actions"]}
    assert {"iam:PassRole", "iam:AttachRolePolicy", "iam:CreatePolicyVersion", "iam:PutRolePolicy"} <= actions

    iam.detach_role_policy(RoleName="DefenderForCloud-DataSecurityPostureDB", PolicyArn=AWS + "IAMFullAccess")
    _, by_id = scan()
    assert _perms(by_id) == {}


def test_required_missing_when_read_only_access_is_detached(sandbox, scan):
    iam = sandbox.client("iam")
    iam.detach_role_policy(RoleName="CspmMonitorAws", PolicyArn=AWS + "ReadOnlyAccess")
    _, by_id = scan()
    assert _perms(by_id) == {"PERMS_REQUIRED_MISSING": ["CspmMonitorAws"]}
    [finding] = by_id["PERMS_REQUIRED_MISSING"]
    assert finding.severity.value == "high"
    assert {m["action"] for m in finding.details["missing"]} == {
        "ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "iam:ListUsers", "s3:ListAllMyBuckets",
        "s3:GetBucketPolicy", "cloudtrail:DescribeTrails", "config:DescribeConfigurationRecorders", "kms:ListKeys"}
    assert "ec2:DescribeInstances" in finding.message and "not granted by any policy of the role" in finding.message
    assert "Service control policies are not evaluated" in finding.message
    assert ("aws iam attach-role-policy --role-name CspmMonitorAws --policy-arn "
            "arn:aws:iam::aws:policy/ReadOnlyAccess") in finding.remediation

    iam.attach_role_policy(RoleName="CspmMonitorAws", PolicyArn=AWS + "ReadOnlyAccess")
    _, by_id = scan()
    assert _perms(by_id) == {}


def test_required_missing_names_the_boundary(sandbox, scan):
    iam = sandbox.client("iam")
    iam.put_role_permissions_boundary(RoleName="SensitiveDataDiscovery",
                                      PermissionsBoundary=AWS + "AmazonS3ReadOnlyAccess")
    _, by_id = scan()
    assert _perms(by_id) == {"PERMS_REQUIRED_MISSING": ["SensitiveDataDiscovery"]}
    [finding] = by_id["PERMS_REQUIRED_MISSING"]
    assert [m["action"] for m in finding.details["missing"]] == ["kms:Decrypt"]
    assert finding.details["missing"][0]["blocked_by"] == ["boundary"]
    assert "kms:Decrypt: outside the permissions boundary AmazonS3ReadOnlyAccess (AWS managed)" in finding.message
    assert "aws iam delete-role-permissions-boundary --role-name SensitiveDataDiscovery" in finding.remediation

    iam.delete_role_permissions_boundary(RoleName="SensitiveDataDiscovery")
    _, by_id = scan()
    assert _perms(by_id) == {}


def test_required_missing_names_the_deny(sandbox, scan):
    iam = sandbox.client("iam")
    deny = {"Sid": "NoDecrypt", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}
    iam.put_role_policy(RoleName="SensitiveDataDiscovery", PolicyName="guard", PolicyDocument=_doc(deny))
    _, by_id = scan()
    assert _perms(by_id) == {"PERMS_REQUIRED_MISSING": ["SensitiveDataDiscovery"],
                             "PERMS_UNEXPECTED_POLICY": ["SensitiveDataDiscovery"]}
    [finding] = by_id["PERMS_REQUIRED_MISSING"]
    assert "kms:Decrypt: explicitly denied by inline policy guard (statement 'NoDecrypt')" in finding.message

    iam.delete_role_policy(RoleName="SensitiveDataDiscovery", PolicyName="guard")
    _, by_id = scan()
    assert _perms(by_id) == {}


def test_expected_deny_missing_when_the_billing_deny_is_detached(sandbox, scan):
    iam = sandbox.client("iam")
    deny_arn = sandbox.seeded["deny_policy_arn"]
    iam.detach_role_policy(RoleName="CspmMonitorAws", PolicyArn=deny_arn)
    _, by_id = scan()
    assert _perms(by_id) == {"PERMS_EXPECTED_DENY_MISSING": ["CspmMonitorAws"]}
    [finding] = by_id["PERMS_EXPECTED_DENY_MISSING"]
    assert finding.severity.value == "medium"
    assert set(finding.details["missing"]) == {"consolidatedbilling:*", "freetier:*", "invoicing:*", "payments:*",
                                               "billing:*", "tax:*", "cur:*"}
    assert "billing:*" in finding.message
    assert f"aws iam attach-role-policy --role-name CspmMonitorAws --policy-arn {deny_arn}" in finding.remediation

    iam.attach_role_policy(RoleName="CspmMonitorAws", PolicyArn=deny_arn)
    _, by_id = scan()
    assert _perms(by_id) == {}


def test_expected_deny_under_a_condition_does_not_count(sandbox, scan):
    iam = sandbox.client("iam")
    deny_arn = sandbox.seeded["deny_policy_arn"]
    conditional = {"Effect": "Deny", "Action": ["billing:*"], "Resource": "*",
                   "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}
    iam.create_policy_version(PolicyArn=deny_arn, SetAsDefault=True, PolicyDocument=_doc(
        conditional, {"Effect": "Deny", "Resource": "*", "Action": [
            "consolidatedbilling:*", "freetier:*", "invoicing:*", "payments:*", "tax:*", "cur:*"]}))
    _, by_id = scan()
    assert _perms(by_id) == {"PERMS_EXPECTED_DENY_MISSING": ["CspmMonitorAws"]}
    [finding] = by_id["PERMS_EXPECTED_DENY_MISSING"]
    assert finding.details["missing"] == ["billing:*"] and finding.details["conditional"] == ["billing:*"]
    assert "only under conditions on aws:SourceIp" in finding.message

    iam.set_default_policy_version(PolicyArn=deny_arn, VersionId="v1")
    _, by_id = scan()
    assert _perms(by_id) == {}


def test_privilege_escalation_from_inline_pass_role(sandbox, scan):
    iam = sandbox.client("iam")
    role = "DefenderForCloud-DefenderForServers"
    scoped = {"Effect": "Allow", "Action": "iam:PassRole",
              "Resource": "arn:aws:iam::123456789012:role/DefenderForCloud-*"}
    iam.put_role_policy(RoleName=role, PolicyName="pass", PolicyDocument=_doc(scoped))
    _, by_id = scan()
    assert _perms(by_id) == {"PERMS_UNEXPECTED_POLICY": [role]}  # passing named roles is not escalation

    iam.put_role_policy(RoleName=role, PolicyName="pass",
                        PolicyDocument=_doc({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}))
    _, by_id = scan()
    assert _perms(by_id) == {"PERMS_PRIVILEGE_ESCALATION": [role], "PERMS_UNEXPECTED_POLICY": [role]}
    [finding] = by_id["PERMS_PRIVILEGE_ESCALATION"]
    assert [a["action"] for a in finding.details["actions"]] == ["iam:PassRole"]
    assert "iam:PassRole on every role (granted by inline policy pass)" in finding.message
    assert f"aws iam delete-role-policy --role-name {role} --policy-name pass" in finding.remediation

    iam.delete_role_policy(RoleName=role, PolicyName="pass")
    _, by_id = scan()
    assert _perms(by_id) == {}


def test_required_ssm_send_command_is_not_escalation(sandbox, scan):
    """ArcAutoProvisioning's ssm:SendCommand is in the escalation list but required by its plan."""
    _, by_id = scan()
    assert "PERMS_PRIVILEGE_ESCALATION" not in by_id
    iam = sandbox.client("iam")
    iam.put_role_policy(RoleName="DefenderForCloud-AgentlessScanner", PolicyName="ssm",
                        PolicyDocument=_doc({"Effect": "Allow", "Action": "ssm:SendCommand", "Resource": "*"}))
    _, by_id = scan()
    [finding] = by_id["PERMS_PRIVILEGE_ESCALATION"]
    assert finding.details["role"] == "DefenderForCloud-AgentlessScanner"
    assert [a["action"] for a in finding.details["actions"]] == ["ssm:SendCommand"]


def test_write_unexpected_on_read_only_role(sandbox, scan):
    iam = sandbox.client("iam")
    iam.put_role_policy(RoleName="CspmMonitorAws", PolicyName="CspmMonitorAwsPolicy",  # an optional policy name
                        PolicyDocument=_doc({"Effect": "Allow", "Action": ["s3:PutObject", "ec2:CreateTags"],
                                             "Resource": "*"}))
    _, by_id = scan()
    assert _perms(by_id) == {"PERMS_WRITE_UNEXPECTED": ["CspmMonitorAws"]}
    [finding] = by_id["PERMS_WRITE_UNEXPECTED"]
    assert finding.details["actions"] == ["s3:PutObject", "ec2:CreateTags"]  # Write before Tagging
    assert finding.details["by_access_level"] == {"Write": 1, "Tagging": 1}
    assert "inline policy CspmMonitorAwsPolicy (2)" in finding.message

    iam.delete_role_policy(RoleName="CspmMonitorAws", PolicyName="CspmMonitorAwsPolicy")
    _, by_id = scan()
    assert _perms(by_id) == {}


def test_unexpected_managed_policy(sandbox, scan):
    iam = sandbox.client("iam")
    arn = AWS + "AmazonEC2ContainerRegistryReadOnly"
    iam.attach_role_policy(RoleName="SensitiveDataDiscovery", PolicyArn=arn)
    _, by_id = scan()
    assert _perms(by_id) == {"PERMS_UNEXPECTED_POLICY": ["SensitiveDataDiscovery"]}
    [finding] = by_id["PERMS_UNEXPECTED_POLICY"]
    assert finding.details["policy_arn"] == arn
    assert "AmazonS3ReadOnlyAccess, AzureSecurityCenter_SensitiveDataDiscovery" in finding.message
    assert f"aws iam detach-role-policy --role-name SensitiveDataDiscovery --policy-arn {arn}" in finding.remediation

    iam.detach_role_policy(RoleName="SensitiveDataDiscovery", PolicyArn=arn)
    _, by_id = scan()
    assert _perms(by_id) == {}


def test_missing_role_is_left_to_trust_checks(sandbox, scan):
    iam = sandbox.client("iam")
    role = "DefenderForCloud-DataSecurityPostureDB"
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=role, PolicyArn=attached["PolicyArn"])
    iam.delete_role(RoleName=role)
    _, by_id = scan()
    assert _perms(by_id) == {}
