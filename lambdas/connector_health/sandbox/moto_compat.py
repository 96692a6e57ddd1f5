"""Where moto's answers differ from AWS's in a way the monitor's results depend on, the sandbox narrows them.

- Only the AWS managed policies in AWS_MANAGED_POLICIES are loaded (speed; all with an environment switch).
- GetAccountAuthorizationDetails with the AWSManagedPolicy filter: moto returns every AWS managed policy it knows
  (about 1,580, with documents); AWS returns the managed policies in use in the account (those attached to a
  user, group or role), which is what makes one call enough for a whole account. The patch keeps AWS managed
  policies with an attachment (or in use as a role's permissions boundary). (A boto3 issue, boto/boto3#1738, shows real accounts returning 0-20 policies.)
- Security Hub BatchImportFindings (moto 5.2.5 accepts everything and overwrites a finding with any update), as the
  Security Hub user guide ("BatchImportFindings for finding providers") says AWS does: findings of an account where
  Security Hub is not enabled are refused in FailedFindings with InvalidAccess; the caller's account must be the
  finding's AwsAccountId (default product ARN); a finding over 240 KB is refused (InvalidInput); a finding is
  matched by ProductArn and Id; an update whose UpdatedAt is earlier than the stored one is ignored; an update
  cannot change Note, UserDefinedFields, VerificationState or Workflow; a record state going from ARCHIVED back to
  ACTIVE resets a NOTIFIED or RESOLVED workflow status to NEW. GetFindings (moto ignores Filters) honours EQUALS
  string filters on the fields the tests read (Id, ProductArn, AwsAccountId, GeneratorId, RecordState,
  ComplianceStatus, WorkflowStatus). The integration tests rely on exactly these semantics.
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
    _narrow_securityhub()
    _applied = True


_FINDING_BYTES = 240 * 1024
_RESTRICTED = ("Note", "UserDefinedFields", "VerificationState", "Workflow")  # BatchUpdateFindings only, once created
_FILTER_FIELDS = {"Id": ("Id",), "ProductArn": ("ProductArn",), "AwsAccountId": ("AwsAccountId",),
                  "GeneratorId": ("GeneratorId",), "RecordState": ("RecordState",),
                  "ComplianceStatus": ("Compliance", "Status"), "WorkflowStatus": ("Workflow", "Status")}


def _narrow_securityhub() -> None:
    from moto.securityhub import models as sh

    def batch_import_findings(self, findings: list[dict[str, Any]]):
        failed: list[dict[str, Any]] = []
        for data in findings:
            fid = data.get("Id", "")
            if not self.enabled:
                failed.append({"Id": fid, "ErrorCode": "InvalidAccess",
                               "ErrorMessage": f"Account {self.account_id} is not subscribed to AWS Security Hub"})
                continue
            if data.get("AwsAccountId") != self.account_id:
                failed.append({"Id": fid, "ErrorCode": "AccessDenied", "ErrorMessage":
                               "the caller's account must be the finding's AwsAccountId for the default product"})
                continue
            if len(json.dumps(data).encode()) > _FINDING_BYTES or not data.get("Resources"):
                failed.append({"Id": fid, "ErrorCode": "InvalidInput",
                               "ErrorMessage": "a finding must have a resource and be at most 240 KB"})
                continue
            key = (data.get("ProductArn"), fid)
            existing = next((f for f in self.findings if (f.data.get("ProductArn"), f.id) == key), None)
            if existing is None:
                data = {"RecordState": "ACTIVE", **data, "Workflow": data.get("Workflow") or {"Status": "NEW"}}
                self.findings.append(sh.Finding(fid, data))
                continue
            old = existing.data
            if str(data.get("UpdatedAt", "")) < str(old.get("UpdatedAt", "")):
                continue  # AWS ignores an update older than what it holds (and reports no failure)
            update = {k: v for k, v in data.items() if k not in _RESTRICTED}
            reactivated = old.get("RecordState") == "ARCHIVED" and update.get("RecordState", "ACTIVE") == "ACTIVE"
            old.update(update)
            if reactivated and (old.get("Workflow") or {}).get("Status") in ("NOTIFIED", "RESOLVED"):
                old["Workflow"] = {**old["Workflow"], "Status": "NEW"}
        return len(failed), len(findings) - len(failed), failed

    original_get = sh.SecurityHubBackend.get_findings

    def get_findings(self, filters=None, sort_criteria=None, max_results=None, next_token=None):
        stored = self.findings
        wanted = []
        for name, path in _FILTER_FIELDS.items():
            values = [f.get("Value") for f in (filters or {}).get(name) or [] if f.get("Comparison") == "EQUALS"]
            if values:
                wanted.append((path, set(values)))

        def value(data: dict[str, Any], path: tuple[str, ...]) -> Any:
            for part in path:
                data = data.get(part) if isinstance(data, dict) else None
            return data

        self.findings = [f for f in stored if all(value(f.data, path) in values for path, values in wanted)]
        try:
            return original_get(self, filters=filters, sort_criteria=sort_criteria, max_results=max_results,
                                next_token=next_token)
        finally:
            self.findings = stored

    sh.SecurityHubBackend.batch_import_findings = batch_import_findings
    sh.SecurityHubBackend.get_findings = get_findings
