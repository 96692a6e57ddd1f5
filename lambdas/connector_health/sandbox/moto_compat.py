"""Where moto's answers differ from AWS's in a way the monitor's results depend on, the sandbox narrows them.

- Only the AWS managed policies in AWS_MANAGED_POLICIES are loaded (speed; all with an environment switch).
- GetAccountAuthorizationDetails with the AWSManagedPolicy filter: moto returns every AWS managed policy it knows
  (about 1,580, with documents); AWS returns the managed policies in use in the account (those attached to a
  user, group or role), which is what makes one call enough for a whole account. The patch keeps AWS managed
  policies with an attachment (or in use as a role's permissions boundary). (A boto3 issue, boto/boto3#1738, shows real accounts returning 0-20 policies.)
"""

from __future__ import annotations

import json
import os
from typing import Any

_applied = False

# AWS managed policies the sandbox loads (moto knows ~1,580; parsing all of them on every reset costs seconds).
# Set CONNECTOR_HEALTH_SANDBOX_ALL_AWS_POLICIES=1 to load every one.
AWS_MANAGED_POLICIES = (
    "AdministratorAccess", "PowerUserAccess", "ReadOnlyAccess", "ViewOnlyAccess", "SecurityAudit", "IAMFullAccess",
    "IAMReadOnlyAccess", "AmazonS3ReadOnlyAccess", "AmazonS3FullAccess", "AmazonEC2ReadOnlyAccess",
    "AmazonEC2FullAccess", "AWSLambda_FullAccess", "AWSLambda_ReadOnlyAccess", "AmazonSSMReadOnlyAccess",
    "AmazonEKSClusterPolicy", "AmazonEC2ContainerRegistryReadOnly", "AWSCloudFormationReadOnlyAccess",
    "CloudWatchReadOnlyAccess", "AmazonDynamoDBReadOnlyAccess", "AWSOrganizationsReadOnlyAccess",
)


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.iam import models

    if os.environ.get("CONNECTOR_HEALTH_SANDBOX_ALL_AWS_POLICIES") != "1":
        from ..presets import PRESET_NAMES, load_preset

        from .account import onboarding_template

        wanted = set(AWS_MANAGED_POLICIES) | {
            name for preset in PRESET_NAMES for roles in load_preset(preset).plans.values() for role in roles
            for name in (*role.managed_policies, *role.optional_policies)
        } | {arn.rsplit("/", 1)[-1] for role in onboarding_template()["roles"] for arn in role["managed"]
             if arn.startswith("arn:aws:iam::aws:policy/")}
        subset = {name: data for name, data in json.loads(models.aws_managed_policies_data).items() if name in wanted}

        def init_subset(self) -> list[Any]:
            if not models.load_iam_aws_managed_policies():
                return []
            return [models.AWSManagedPolicy.from_data(name, self.account_id, self.region_name, d) for name, d in subset.items()]

        models.IAMBackend._init_aws_policies = init_subset

    original = models.IAMBackend.get_account_authorization_details

    def only_attached(self, policy_filter: list[str]) -> dict[str, Any]:
        result = original(self, policy_filter)
        aws_managed = set(map(id, self.aws_managed_policies))
        boundaries = {getattr(r, "permissions_boundary_arn", None) for r in self.roles.values()}
        result["managed_policies"] = [
            p for p in result["managed_policies"]
            if id(p) not in aws_managed or getattr(p, "attachment_count", 0) > 0 or p.arn in boundaries
        ]
        return result

    models.IAMBackend.get_account_authorization_details = only_attached
    _applied = True
