"""Where a person reads more about fixing a finding: one public AWS documentation page per check family (the
Security Hub remediation URL and the OCSF remediation reference). Public pages only: ASFF requires a URL that
needs no credentials or session."""

from __future__ import annotations

_IAM = "https://docs.aws.amazon.com/IAM/latest/UserGuide"

# Longest prefix wins.
DOC_URLS = {
    "PROVIDER_": f"{_IAM}/id_roles_providers_create_oidc.html",
    "PROVIDER_THUMBPRINT_": f"{_IAM}/id_roles_providers_create_oidc_verify-thumbprint.html",
    "PROVIDER_CERT_": f"{_IAM}/id_roles_providers_create_oidc_verify-thumbprint.html",
    "TRUST_": f"{_IAM}/id_roles_create_for-idp_oidc.html",
    "PERMS_": f"{_IAM}/best-practices.html#grant-least-privilege",
    "EXCHANGE_": "https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html",
    "EXCHANGE_LIVE_": f"{_IAM}/cloudtrail-integration.html",
    "STACK_": "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-stack-drift.html",
    "MONITOR_ACCESS_DENIED": f"{_IAM}/troubleshoot_access-denied.html",
    "MONITOR_": "https://docs.aws.amazon.com/lambda/latest/dg/lambda-troubleshooting.html",
}


def doc_url(check_id: str) -> str:
    """The AWS documentation page for a check ID's family."""
    best = max((p for p in DOC_URLS if check_id.startswith(p)), key=len, default="MONITOR_")
    return DOC_URLS[best]
