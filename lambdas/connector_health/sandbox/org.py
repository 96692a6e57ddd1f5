"""An emulated organisation for hub mode: N member accounts, each with the Defender-like connector and the member
role the member stack would create, a few of them misconfigured (values below), one closed.

moto keeps accounts apart by the credentials of an assumed role (`AssumeRole` on `arn:aws:iam::<acct>:role/...`
returns keys moto maps to <acct>), so each member account is seeded through such credentials, taken from moto
directly (the STS stand-in validates AssumeRole like AWS, and the roles do not exist yet).

Member accounts are numbered from 1 in creation order; which ones are misconfigured is fixed by number, so tests
and the demo know what to expect:

| number | case | expected finding |
|---|---|---|
| 2 | the agentless scanner role's trust policy also admits `{"AWS": "*"}` | TRUST_WILDCARD_PRINCIPAL |
| 3 | the provider pins a stale thumbprint (medium: the sandbox chain verifies against its public bundle) | PROVIDER_THUMBPRINT_MISMATCH |
| 5 | the Arc auto-provisioning role (servers plan) was deleted | TRUST_ROLE_MISSING |
| 7 | no member role (the StackSet never reached it) | MONITOR_ACCESS_DENIED, alone |

(cases whose number exceeds N are left out). One further account is created and closed: SUSPENDED, so skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import boto3

from ..checks import required_permissions
from ..engine import COLLECTOR_PERMISSIONS
from .account import seed_defender_account, trust_policy

MEMBER_ROLE = "connector-health-member"
WORKER_ROLE = "connector-health-org-worker"
# moto's identity for the sandbox's "testing" credentials: stands for the operator who runs `check --org`.
SANDBOX_OPERATOR = "arn:aws:sts::123456789012:user/moto"
STALE_THUMBPRINT = "0000000000000000000000000000000000000000"

CASES = {2: "trust-wildcard", 3: "thumbprint-stale", 5: "role-deleted", 7: "no-member-role"}
EXPECTED_CHECK = {"trust-wildcard": "TRUST_WILDCARD_PRINCIPAL", "thumbprint-stale": "PROVIDER_THUMBPRINT_MISMATCH",
                  "role-deleted": "TRUST_ROLE_MISSING", "no-member-role": "MONITOR_ACCESS_DENIED"}


def member_role_actions() -> list[str]:
    """What the member role may do: exactly the reads the checks and the collector declare."""
    return sorted(set(required_permissions()) | set(COLLECTOR_PERMISSIONS))


def member_trust_policy(hub_account: str, organization_id: str, extra_principals: Iterable[str] = ()) -> dict[str, Any]:
    """The member stack's trust policy: the hub's worker role only, and only from inside the organisation."""
    principals = [f"arn:aws:iam::{hub_account}:role/{WORKER_ROLE}", *extra_principals]
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": principals if len(principals) > 1 else principals[0]},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}},
        }],
    }


def account_client(moto_sts, endpoint: str, account: str, service: str):
    creds = moto_sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/sandbox-seeder",
                                 RoleSessionName="sandbox-seeder")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name="us-east-1",
    ).client(service, endpoint_url=endpoint)


def seed_organization(hub_session: boto3.session.Session, endpoint: str, accounts: int, issuer_url: str,
                      thumbprint: str, hub_account: str = "123456789012",
                      plans: list[str] | None = None) -> dict[str, Any]:
    """Create the organisation (the hub is its management account) and `accounts` seeded member accounts.
    `plans`: the Defender plans whose roles the member accounts get (default: all; the cases above need
    agentless-scanning and servers)."""
    orgs = hub_session.client("organizations", endpoint_url=endpoint)
    moto_sts = hub_session.client("sts", endpoint_url=endpoint)
    organization_id = orgs.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root = orgs.list_roots()["Roots"][0]["Id"]
    ous = {name: orgs.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]["Id"]
           for name in ("Workloads", "Sandbox")}
    members: dict[str, dict[str, Any]] = {}
    for number in range(1, accounts + 1):
        name = f"member-{number:03d}"
        account = orgs.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"]
        ou = "Sandbox" if number % 10 == 0 else "Workloads"
        orgs.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ous[ou])
        case = CASES.get(number, "healthy")
        iam = account_client(moto_sts, endpoint, account, "iam")
        # Security Hub is on in every member account (the Security Hub integration imports there).
        account_client(moto_sts, endpoint, account, "securityhub").enable_security_hub(EnableDefaultStandards=False)
        seeded = seed_defender_account(iam, issuer_url, STALE_THUMBPRINT if case == "thumbprint-stale" else thumbprint,
                                       plans)
        if case != "no-member-role":
            iam.create_role(RoleName=MEMBER_ROLE, Description="connector-health member role (sandbox)",
                            AssumeRolePolicyDocument=json.dumps(
                                member_trust_policy(hub_account, organization_id, [SANDBOX_OPERATOR])))
            iam.put_role_policy(RoleName=MEMBER_ROLE, PolicyName="ConnectorHealthReads", PolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": member_role_actions(), "Resource": "*"}]}))
        if case == "trust-wildcard":
            doc = trust_policy(seeded["provider_arn"], issuer_url.removeprefix("https://"),
                               "api://AzureSecurityCenter.MultiCloud.DefenderForServers.VmScanner")
            doc["Statement"].append({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
            iam.update_assume_role_policy(RoleName="DefenderForCloud-AgentlessScanner", PolicyDocument=json.dumps(doc))
        if case == "role-deleted":
            role = "DefenderForCloud-ArcAutoProvisioning"
            for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=role, PolicyArn=attached["PolicyArn"])
            for inline in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                iam.delete_role_policy(RoleName=role, PolicyName=inline)
            iam.delete_role(RoleName=role)
        members[account] = {"number": number, "name": name, "ou": ous[ou], "case": case,
                            "expected": EXPECTED_CHECK.get(case), "provider_arn": seeded["provider_arn"],
                            "roles": seeded["roles"]}
    closed = orgs.create_account(AccountName="member-closed", Email="closed@example.com")["CreateAccountStatus"]["AccountId"]
    orgs.close_account(AccountId=closed)
    return {"organization_id": organization_id, "plans": plans, "management_account": hub_account, "root": root, "ous": ous,
            "members": members, "closed": [closed], "member_role": MEMBER_ROLE,
            "worker_role_arn": f"arn:aws:iam::{hub_account}:role/{WORKER_ROLE}"}
