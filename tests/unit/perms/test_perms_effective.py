"""Effective permissions of a role from hand-built snapshots: managed + inline + boundary, with the one evaluator."""

from __future__ import annotations

import pytest

from connector_health.collect.aws import AccountSnapshot, AttachedPolicy, ManagedPolicy, Role
from connector_health.permissions import effective_permissions, policy_library
from connector_health.policy import Effect

ACCOUNT = "111122223333"


def _doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def _deny(action, resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def _snapshot(*, managed=None, roles=None):
    """managed: {name: document} (customer managed unless the name starts with aws/); roles: {name: dict}."""
    snap = AccountSnapshot(account_id=ACCOUNT, roles_complete=True)
    for name, document in (managed or {}).items():
        aws = name.startswith("aws/")
        arn = f"arn:aws:iam::aws:policy/{name[4:]}" if aws else f"arn:aws:iam::{ACCOUNT}:policy/{name}"
        snap.managed_policies[arn] = ManagedPolicy(arn, arn.rsplit("/", 1)[-1], "v1", document, aws)
    for name, spec in (roles or {}).items():
        attached = [AttachedPolicy(arn.rsplit("/", 1)[-1], arn) for arn in spec.get("attached", ())]
        snap.roles[name] = Role(name=name, arn=f"arn:aws:iam::{ACCOUNT}:role/{name}", path="/", trust_policy={},
                                inline_policies=spec.get("inline", {}), attached_policies=attached,
                                boundary_arn=spec.get("boundary"))
    return snap


def _arn(name):
    return f"arn:aws:iam::aws:policy/{name[4:]}" if name.startswith("aws/") else f"arn:aws:iam::{ACCOUNT}:policy/{name}"


def _one(perms, action, resource="*", **kwargs):
    return perms.decide([action], resource, **kwargs)[action]


def test_action_wildcards_and_case():
    snap = _snapshot(roles={"r": {"inline": {"p": _doc(_allow(["ec2:Describe*", "S3:get?bject"]))}}})
    perms = effective_permissions(snap, "r")
    assert _one(perms, "ec2:DescribeInstances").allowed
    assert _one(perms, "EC2:describeSnapshots").allowed
    assert _one(perms, "s3:GetObject").allowed
    assert not _one(perms, "ec2:RunInstances").allowed
    assert not _one(perms, "s3:GetObjectAcl").allowed  # `?` is one character
    assert perms.blocked_because(_one(perms, "ec2:RunInstances")) == "not granted by any policy of the role"


def test_not_action_allows_everything_else():
    snap = _snapshot(roles={"r": {"inline": {"p": _doc({"Effect": "Allow", "NotAction": ["iam:*", "sts:*"],
                                                        "Resource": "*"})}}})
    perms = effective_permissions(snap, "r")
    assert _one(perms, "s3:PutObject").allowed
    assert not _one(perms, "iam:PassRole").allowed
    assert not _one(perms, "sts:AssumeRole").allowed


def test_explicit_deny_beats_allow_and_is_named():
    snap = _snapshot(
        managed={"Broad": _doc(_allow("s3:*"))},
        roles={"r": {"attached": [_arn("Broad")],
                     "inline": {"guard": _doc({"Sid": "NoDelete", **_deny("s3:DeleteBucket")})}}},
    )
    perms = effective_permissions(snap, "r")
    denied = _one(perms, "s3:DeleteBucket")
    assert denied.effect is Effect.EXPLICIT_DENY
    assert perms.blocked_because(denied) == "explicitly denied by inline policy guard (statement 'NoDelete')"
    allowed = _one(perms, "s3:GetObject")
    assert allowed.allowed and perms.granted_by(allowed) == ["Broad (customer managed)"]


def test_boundary_intersection_names_the_boundary():
    snap = _snapshot(
        managed={"aws/PowerUser": _doc(_allow("*")), "Cap": _doc(_allow(["ec2:*", "s3:Get*"]))},
        roles={"r": {"attached": [_arn("aws/PowerUser")], "boundary": _arn("Cap")}},
    )
    perms = effective_permissions(snap, "r")
    assert _one(perms, "ec2:RunInstances").allowed
    assert _one(perms, "s3:GetObject").allowed
    outside = _one(perms, "s3:PutObject")
    assert not outside.allowed and outside.blocked_by == ("boundary",)
    assert perms.blocked_because(outside) == "outside the permissions boundary Cap (customer managed)"
    # the boundary grants nothing by itself
    snap2 = _snapshot(managed={"Cap": _doc(_allow("*"))}, roles={"r": {"boundary": _arn("Cap")}})
    nothing = _one(effective_permissions(snap2, "r"), "ec2:RunInstances")
    assert not nothing.allowed and "identity" in nothing.blocked_by


def test_deny_in_boundary_blocks():
    snap = _snapshot(
        managed={"aws/Admin": _doc(_allow("*")), "Cap": _doc(_allow("*"), {"Sid": "NoIam", **_deny("iam:*")})},
        roles={"r": {"attached": [_arn("aws/Admin")], "boundary": _arn("Cap")}},
    )
    perms = effective_permissions(snap, "r")
    decision = _one(perms, "iam:PassRole")
    assert decision.effect is Effect.EXPLICIT_DENY
    assert perms.blocked_because(decision).endswith("in the permissions boundary")


def test_unknowable_allow_condition_is_allowed_and_reported():
    tag = {"StringEquals": {"ec2:ResourceTag/CreatedBy": "Microsoft Defender for Cloud"}}
    snap = _snapshot(roles={"r": {"inline": {"p": _doc(_allow("ec2:DeleteSnapshot", Condition=tag))}}})
    perms = effective_permissions(snap, "r")
    could = _one(perms, "ec2:DeleteSnapshot")
    assert could.allowed and could.uncertain
    assert perms.condition_keys(could) == ["ec2:ResourceTag/CreatedBy"]
    surely = _one(perms, "ec2:DeleteSnapshot", assume="deny")
    assert not surely.allowed and surely.uncertain


def test_unknowable_deny_condition_does_not_count_as_a_deny():
    ip = {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}
    snap = _snapshot(roles={"r": {"inline": {"p": _doc(_allow("s3:*"), _deny("s3:*", Condition=ip))}}})
    perms = effective_permissions(snap, "r")
    decision = _one(perms, "s3:GetObject")
    assert decision.allowed and decision.uncertain
    assert perms.condition_keys(decision) == ["aws:SourceIp"]
    assert _one(perms, "s3:GetObject", assume="deny").effect is Effect.EXPLICIT_DENY


def test_principal_keys_are_known():
    other = {"StringNotEquals": {"aws:PrincipalAccount": "999999999999"}}
    mine = {"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}}
    snap = _snapshot(roles={
        "a": {"inline": {"p": _doc(_allow("s3:*"), _deny("s3:*", Condition=other))}},
        "b": {"inline": {"p": _doc(_allow("s3:*"), _deny("s3:*", Condition=mine))}},
    })
    denied = _one(effective_permissions(snap, "a"), "s3:GetObject")
    assert denied.effect is Effect.EXPLICIT_DENY and not denied.uncertain
    allowed = _one(effective_permissions(snap, "b"), "s3:GetObject")
    assert allowed.allowed and not allowed.uncertain


@pytest.mark.parametrize(("granted", "asked", "wildcards", "expected"), [
    ("arn:aws:s3:::azuredefender-*", "arn:aws:s3:::azuredefender-*", "all", True),
    ("arn:aws:s3:::azuredefender-logs", "arn:aws:s3:::azuredefender-*", "all", False),
    ("arn:aws:s3:::azuredefender-logs", "*", "any", True),
    ("arn:aws:s3:::*", "*", "all", False),
    ("*", "arn:aws:iam::111122223333:role/*", "all", True),
    ("arn:aws:iam::111122223333:role/app-*", "arn:aws:iam::111122223333:role/*", "all", False),
])
def test_resource_patterns(granted, asked, wildcards, expected):
    snap = _snapshot(roles={"r": {"inline": {"p": _doc(_allow("s3:CreateBucket", granted))}}})
    assert _one(effective_permissions(snap, "r"), "s3:CreateBucket", asked, wildcards=wildcards).allowed is expected


def test_managed_policy_parsed_once_and_shared():
    snap = _snapshot(
        managed={"aws/ReadOnly": _doc(_allow(["ec2:Describe*", "s3:Get*"]))},
        roles={name: {"attached": [_arn("aws/ReadOnly")], "inline": {"p": _doc(_allow("kms:Decrypt"))}}
               for name in ("a", "b", "c")},
    )
    perms = [effective_permissions(snap, n) for n in ("a", "b", "c")]
    for p in perms:
        assert _one(p, "ec2:DescribeInstances").allowed and _one(p, "kms:Decrypt").allowed
    assert policy_library(snap).parse_count == 1
    assert perms[0].identity[0] is perms[1].identity[0] is perms[2].identity[0]
    assert effective_permissions(snap, "a") is perms[0]  # cached per snapshot
    assert effective_permissions(snap, "nope") is None


def test_new_default_version_is_parsed_again():
    snap = _snapshot(managed={"P": _doc(_allow("s3:GetObject"))}, roles={"r": {"attached": [_arn("P")]}})
    library = policy_library(snap)
    first = library.document(_arn("P"))
    policy = snap.managed_policies[_arn("P")]
    policy.default_version_id, policy.document = "v2", _doc(_allow("s3:PutObject"))
    second = library.document(_arn("P"))
    assert first is not second and library.parse_count == 2


def test_admin_grant():
    star = _doc(_allow("*"))
    snap = _snapshot(
        managed={"aws/AdministratorAccess": star, "Billing": _doc(_deny(["billing:*", "cur:*"])),
                 "Quarantine": _doc(_deny("*")), "aws/ReadOnlyAccess": _doc(_allow(["ec2:Describe*"]))},
        roles={
            "admin": {"attached": [_arn("aws/AdministratorAccess")]},
            "carved": {"attached": [_arn("aws/AdministratorAccess"), _arn("Billing")]},
            "quarantined": {"attached": [_arn("aws/AdministratorAccess"), _arn("Quarantine")]},
            "bounded": {"attached": [_arn("aws/AdministratorAccess")], "boundary": _arn("aws/ReadOnlyAccess")},
            "iam-only": {"inline": {"p": _doc(_allow("iam:*"))}},
            "ip-only": {"inline": {"p": _doc(_allow("*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))}},
        },
    )
    grant = effective_permissions(snap, "admin").admin_grant()
    assert grant is not None and effective_permissions(snap, "admin").granted_by(grant) == [
        "AdministratorAccess (AWS managed)"]
    assert effective_permissions(snap, "carved").admin_grant() is not None  # a carve-out leaves an administrator
    assert effective_permissions(snap, "quarantined").admin_grant() is None
    assert effective_permissions(snap, "bounded").admin_grant() is None
    assert effective_permissions(snap, "iam-only").admin_grant() is None
    conditional = effective_permissions(snap, "ip-only").admin_grant()
    assert conditional is not None and conditional.uncertain


def test_unreadable_documents_are_listed():
    snap = _snapshot(roles={"r": {"attached": [_arn("Gone")], "boundary": _arn("AlsoGone"),
                                  "inline": {"bad": "not json"}}})
    perms = effective_permissions(snap, "r")
    assert {ref.name for ref in perms.unreadable} == {"Gone", "AlsoGone", "bad"}
    assert perms.identity == () and perms.boundary == ()
