"""Seeds the emulated account with a Defender-for-Cloud-like connector (values from FACTS.md)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ..presets import load_preset

# A made-up customer Azure tenant for the sandbox.
CUSTOMER_TENANT = "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
SESSION_PREFIX = "MicrosoftDefenderForClouds_"

CSPM_DENY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyBilling",
            "Effect": "Deny",
            "Action": ["consolidatedbilling:*", "freetier:*", "invoicing:*", "payments:*", "billing:*", "tax:*", "cur:*"],
            "Resource": "*",
        }
    ],
}


def trust_policy(provider_arn: str, issuer_key: str, audience: str, tenant: str = CUSTOMER_TENANT) -> dict[str, Any]:
    """The trust policy the Defender template writes for each plan role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringLike": {
                        f"{issuer_key}:aud": audience,
                        "sts:RoleSessionName": f"{SESSION_PREFIX}{tenant}",
                    }
                },
            }
        ],
    }


# The customer-managed policies the onboarding template creates (AwsOnboarding.tf, Feb 2024), trimmed to what the
# preset's required actions need plus a few neighbours; resource forms as the template writes them. `{p}` is the
# partition and `{account}` the account id.
_DEFENDER_TAG = {"StringEquals": {"ec2:ResourceTag/CreatedBy": "Microsoft Defender for Cloud"}}
TEMPLATE_POLICIES: dict[str, list[dict[str, Any]]] = {
    "CspmMonitorAwsDenyPolicy": CSPM_DENY["Statement"],
    "AzureSecurityCenter_DefenderForServers_VmScanner": [
        {"Sid": "VmScannerDeleteSnapshotAccess", "Effect": "Allow", "Action": "ec2:DeleteSnapshot",
         "Resource": "arn:{p}:ec2:*::snapshot/*", "Condition": _DEFENDER_TAG},
        {"Sid": "VmScannerAccess", "Effect": "Allow",
         "Action": ["ec2:ModifySnapshotAttribute", "ec2:DeleteTags", "ec2:CreateTags", "ec2:CreateSnapshots",
                    "ec2:CopySnapshot", "ec2:CreateSnapshot"],
         "Resource": ["arn:{p}:ec2:*:*:instance/*", "arn:{p}:ec2:*::snapshot/*", "arn:{p}:ec2:*:*:volume/*"]},
        {"Sid": "VmScannerVerificationAccess", "Effect": "Allow",
         "Action": ["ec2:DescribeSnapshots", "ec2:DescribeInstanceStatus"], "Resource": "*"},
        {"Sid": "VmScannerEncryptionKeyCreation", "Effect": "Allow", "Action": ["kms:CreateKey", "kms:ListKeys"],
         "Resource": "*"},
        {"Sid": "VmScannerEncryptionKeyUsage", "Effect": "Allow",
         "Action": ["kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey", "kms:RetireGrant", "kms:CreateGrant",
                    "kms:ReEncryptFrom"],
         "Resource": "arn:{p}:kms:*:{account}:key/*"},
    ],
    "MicrosoftDefenderForCloud_DefenderForServers": [
        {"Sid": "JitNetworkAccess", "Effect": "Allow",
         "Action": ["ec2:RevokeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupIngress", "ec2:DescribeInstances",
                    "ec2:DescribeSecurityGroupRules", "ec2:DescribeVpcs", "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups"],
         "Resource": "*"},
    ],
    "DefenderForCloud_ArcAutoProvisioning": [
        {"Sid": "RunInstallationCommands", "Effect": "Allow", "Action": "ssm:SendCommand",
         "Resource": ["arn:{p}:ssm:*::document/AWS-RunPowerShellScript", "arn:{p}:ssm:*::document/AWS-RunShellScript",
                      "arn:{p}:ec2:*:{account}:instance/*"]},
        {"Sid": "CheckInstallationCommandStatus", "Effect": "Allow",
         "Action": ["ssm:CancelCommand", "ssm:DescribeInstanceInformation", "ssm:GetCommandInvocation"],
         "Resource": "*"},
    ],
    "SecurityCenterKubernetesPolicy": [
        {"Effect": "Allow",
         "Action": ["logs:PutSubscriptionFilter", "logs:DescribeSubscriptionFilters", "logs:DescribeLogGroups",
                    "logs:PutRetentionPolicy"],
         "Resource": "arn:{p}:logs:*:{account}:log-group:*:*"},
        {"Effect": "Allow", "Action": "firehose:*",
         "Resource": ["arn:{p}:firehose:*:{account}:deliverystream/azuredefender-*",
                      "arn:{p}:firehose:*:{account}:deliverystream/ms-defender-*"]},
        {"Effect": "Allow", "Action": "iam:PassRole",
         "Resource": ["arn:{p}:iam::{account}:role/azuredefender-*", "arn:{p}:iam::{account}:role/msdefender-*",
                      "arn:{p}:iam::{account}:role/DefenderForCloud-*"]},
        {"Effect": "Allow", "Action": ["eks:UpdateClusterConfig", "eks:DescribeCluster"],
         "Resource": "arn:{p}:eks:*:{account}:*"},
        {"Effect": "Allow", "Action": "sqs:*",
         "Resource": ["arn:{p}:sqs:*:{account}:azuredefender-*", "arn:{p}:sqs:*:{account}:ms-defender-*"]},
        {"Effect": "Allow", "Action": "s3:*",
         "Resource": ["arn:{p}:s3:::azuredefender-*", "arn:{p}:s3:::ms-defender-*"]},
    ],
    "MDCContainersAgentlessDiscoveryK8sPolicy": [
        {"Effect": "Allow", "Action": ["eks:UpdateClusterConfig", "eks:DescribeCluster"],
         "Resource": "arn:{p}:eks:*:{account}:*"},
    ],
    "AzureSecurityCenter_SensitiveDataDiscovery": [
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"},
    ],
    "AzureSecurityCenter_DatabasesDspm": [
        {"Effect": "Allow",
         "Action": ["rds:DescribeDBInstances", "rds:DescribeDBClusters", "rds:DescribeDBClusterSnapshots",
                    "rds:DescribeDBSnapshots", "rds:CopyDBSnapshot", "rds:CopyDBClusterSnapshot"],
         "Resource": ["arn:{p}:rds:*:{account}:cluster:*", "arn:{p}:rds:*:{account}:db:*",
                      "arn:{p}:rds:*:{account}:snapshot:*", "arn:{p}:rds:*:{account}:cluster-snapshot:*"]},
        {"Effect": "Allow",
         "Action": ["rds:DeleteDBSnapshot", "rds:DeleteDBClusterSnapshot", "rds:ModifyDBSnapshotAttribute",
                    "rds:ModifyDBClusterSnapshotAttribute"],
         "Resource": ["arn:{p}:rds:*:{account}:snapshot:defenderfordatabases*",
                      "arn:{p}:rds:*:{account}:cluster-snapshot:defenderfordatabases*"]},
        {"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": "*",
         "Condition": {"StringLike": {"kms:ViaService": ["rds.*.amazonaws.com"]},
                       "StringEquals": {"kms:CallerAccount": "{account}"}}},
    ],
}


def template_policy(name: str, account: str, partition: str = "aws") -> dict[str, Any]:
    """One of TEMPLATE_POLICIES as a policy document for `account`."""
    text = json.dumps({"Version": "2012-10-17", "Statement": TEMPLATE_POLICIES[name]})
    return json.loads(text.replace("{p}", partition).replace("{account}", account))


def seed_defender_account(iam, issuer_url: str, thumbprint: str, plans: list[str] | None = None) -> dict[str, Any]:
    """Create the provider, the template's policies and the plan roles as the onboarding template would.

    Every role gets exactly the policies its preset entry lists (customer-managed ones from TEMPLATE_POLICIES, the
    rest AWS-managed), so the healthy account produces no PERMS_* finding. `plans`: only these plans' roles
    (default: every plan). Returns what it made."""
    preset = load_preset("defender-for-cloud")
    provider_arn = iam.create_open_id_connect_provider(
        Url=issuer_url, ClientIDList=list(preset.audiences), ThumbprintList=[thumbprint]
    )["OpenIDConnectProviderArn"]
    issuer_key = issuer_url.removeprefix("https://")
    account = provider_arn.split(":")[4]
    policy_arns: dict[str, str] = {}

    def managed_arn(name: str) -> str:
        if name not in TEMPLATE_POLICIES:
            return f"arn:aws:iam::aws:policy/{name}"
        if name not in policy_arns:
            document = json.dumps(template_policy(name, account))
            policy_arns[name] = iam.create_policy(PolicyName=name, PolicyDocument=document)["Policy"]["Arn"]
        return policy_arns[name]

    deny_arn = managed_arn("CspmMonitorAwsDenyPolicy")
    roles = []
    for plan, specs in preset.plans.items():
        if plans is not None and plan not in plans:
            continue
        for spec in specs:
            iam.create_role(
                RoleName=spec.name,
                AssumeRolePolicyDocument=json.dumps(trust_policy(provider_arn, issuer_key, spec.audience or "")),
                Description=f"Microsoft Defender for Cloud ({plan})",
                Tags=[{"Key": "CreatedBy", "Value": "Microsoft Defender for Cloud"}],
            )
            for managed in spec.managed_policies:
                iam.attach_role_policy(RoleName=spec.name, PolicyArn=managed_arn(managed))
            for inline in spec.inline_policies:
                iam.put_role_policy(RoleName=spec.name, PolicyName=inline,
                                    PolicyDocument=json.dumps(template_policy(inline, account)))
            roles.append(spec.name)
    return {"account": account, "provider_arn": provider_arn, "roles": roles, "deny_policy_arn": deny_arn,
            "policy_arns": dict(policy_arns)}


def defender_history(account: str, provider_arn: str, roles: list[str], issuer_url: str, region: str,
                     subject: str) -> dict[str, Any]:
    """A seeded account's recent traffic: Defender's scan assumed its first plan role a minute ago (a CloudTrail
    record as the STS stand-in writes for a real call), so a freshly seeded connector is not silent."""
    from .cloudtrail import web_identity_record

    preset = load_preset("defender-for-cloud")
    role = roles[0] if roles else "CspmMonitorAws"
    audience = next((r.audience for specs in preset.plans.values() for r in specs if r.name == role), preset.audiences[0])
    return web_identity_record(
        role_arn=f"arn:aws:iam::{account}:role/{role}", session_name=f"{SESSION_PREFIX}{CUSTOMER_TENANT}",
        claims={"iss": issuer_url, "aud": audience, "sub": subject},
        provider_arn=provider_arn, region=region, duration=3600, user_agent="MicrosoftDefenderForCloud/1.0",
        when=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1),
        credentials={"AccessKeyId": "ASIASANDBOXHISTORY01", "SessionToken": "sandbox-history-session-token",
                     "Expiration": "sandbox"},
    )
