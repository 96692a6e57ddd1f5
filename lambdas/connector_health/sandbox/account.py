"""Seeds the emulated account with a Defender-for-Cloud-like connector (values from FACTS.md)."""

from __future__ import annotations

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


def _inline_policy(actions: list[str]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": sorted(set(actions)), "Resource": "*"}]}


def seed_defender_account(iam, issuer_url: str, thumbprint: str) -> dict[str, Any]:
    """Create the provider and the plan roles as the onboarding template would. Returns what it made."""
    preset = load_preset("defender-for-cloud")
    provider_arn = iam.create_open_id_connect_provider(
        Url=issuer_url, ClientIDList=list(preset.audiences), ThumbprintList=[thumbprint]
    )["OpenIDConnectProviderArn"]
    issuer_key = issuer_url.removeprefix("https://")
    account = provider_arn.split(":")[4]
    deny_arn = iam.create_policy(PolicyName="CspmMonitorAwsDenyPolicy", PolicyDocument=json.dumps(CSPM_DENY))["Policy"]["Arn"]
    roles = []
    for plan, specs in preset.plans.items():
        for spec in specs:
            iam.create_role(
                RoleName=spec.name,
                AssumeRolePolicyDocument=json.dumps(trust_policy(provider_arn, issuer_key, spec.audience or "")),
                Description=f"Microsoft Defender for Cloud ({plan})",
                Tags=[{"Key": "CreatedBy", "Value": "Microsoft Defender for Cloud"}],
            )
            for managed in spec.managed_policies:
                if managed == "CspmMonitorAwsDenyPolicy":
                    arn = deny_arn
                else:
                    arn = f"arn:aws:iam::aws:policy/{managed}"
                iam.attach_role_policy(RoleName=spec.name, PolicyArn=arn)
            if not spec.managed_policies:
                iam.put_role_policy(
                    RoleName=spec.name,
                    PolicyName=f"{spec.name}Policy",
                    PolicyDocument=json.dumps(_inline_policy(spec.required_actions)),
                )
            roles.append(spec.name)
    return {"account": account, "provider_arn": provider_arn, "roles": roles, "deny_policy_arn": deny_arn}
