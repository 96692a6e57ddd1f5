"""OCSF: findings as Detection Finding events (class 2004, category Findings) of OCSF schema 1.5.0 with the
`cloud` profile, for SIEMs and data lakes that ingest OCSF (`connector-health check --format ocsf`).

A pure mapping of the finding (no AWS calls, no new runtime dependency); the tests validate its output against the
JSON Schema that `ocsf-json-schema` generates offline from the official schema export of 1.5.0 (schema.ocsf.io),
so conformance is checked against OCSF's own definition rather than assumed.

- `finding_info.uid` is the fingerprint (the state table's and Security Hub's identity of the finding), `title`
  the check's title, `desc` the message, `types` the check ID and its family, `analytic` the check as a rule;
- `severity_id` 5 critical, 4 high, 3 medium, 2 low, 1 informational; `status_id` 1 New (a scan reports what is
  open now; the lifecycle lives in the state table and Security Hub);
- `resources`: the finding's resource (ARN as `uid`, typed like CloudFormation names it, the bounded evidence as
  `data`), `cloud`: AWS, the account (type AWS Account) and the region; `remediation`: the fix and the AWS
  documentation page; `metadata.product`: connector-health and its version, the connector as `feature`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .. import __version__
from ..bounds import fit
from ..findings import Finding
from ..state.lifecycle import fingerprint
from .references import doc_url

OCSF_VERSION = "1.5.0"
PROFILES = ["cloud"]
CLASS_UID, CATEGORY_UID, ACTIVITY_CREATE = 2004, 2, 1
SEVERITY_ID = {"info": (1, "Informational"), "low": (2, "Low"), "medium": (3, "Medium"), "high": (4, "High"),
               "critical": (5, "Critical")}
AWS_ACCOUNT_TYPE_ID = 10
EVIDENCE_BYTES = 32 * 1024
_RESOURCE_TYPES = {("iam", "role"): "AWS::IAM::Role", ("iam", "policy"): "AWS::IAM::ManagedPolicy",
                   ("iam", "oidc-provider"): "AWS::IAM::OIDCProvider", ("iam", "root"): "AWS::Account",
                   ("cloudformation", "stack"): "AWS::CloudFormation::Stack"}


def _resource(f: Finding, region: str, partition: str) -> dict[str, Any]:
    arn = f.resource_arn or f"connector:{f.connector}"
    parts = arn.split(":", 5)
    kind, name = "connector-health", arn
    if len(parts) == 6 and parts[0] == "arn":
        partition = parts[1] or partition
        head, _, tail = parts[5].partition("/")
        kind = _RESOURCE_TYPES.get((parts[2], head), f"AWS::{parts[2]}")
        name = tail.rsplit("/", 1)[-1] if tail else head
    evidence, _ = fit(f.details, EVIDENCE_BYTES)
    out: dict[str, Any] = {"uid": arn, "name": name or arn, "type": kind, "region": region,
                           "cloud_partition": partition}
    if evidence:
        out["data"] = evidence
    return out


def detection_finding(f: Finding, *, region: str, partition: str = "aws", now: dt.datetime | None = None
                      ) -> dict[str, Any]:
    """One finding as an OCSF 1.5.0 Detection Finding (cloud profile)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    severity_id, severity = SEVERITY_ID[f.severity.value]
    family = f.check_id.split("_", 1)[0]
    return {
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": severity,
        "status_id": 1,
        "status": "New",
        "time": int(now.timestamp() * 1000),
        "message": f.message,
        "finding_info": {
            "uid": fingerprint(f),
            "title": f.title or f.check_id,
            "desc": f.message,
            "types": [f.check_id, family],
            "analytic": {"uid": f.check_id, "name": f.title or f.check_id, "type_id": 1, "type": "Rule"},
        },
        "metadata": {
            "version": OCSF_VERSION,
            "profiles": list(PROFILES),
            "product": {"name": "connector-health", "vendor_name": "connector-health", "version": __version__,
                        "feature": {"name": f.connector}},
        },
        "cloud": {"provider": "AWS", "region": region,
                  "account": {"uid": f.account, "type_id": AWS_ACCOUNT_TYPE_ID, "type": "AWS Account"}},
        "resources": [_resource(f, region, partition)],
        "remediation": {"desc": f.remediation, "references": [doc_url(f.check_id)]},
    }


def findings_ocsf(findings: list[Finding], *, region: str, partition: str = "aws",
                  now: dt.datetime | None = None) -> list[dict[str, Any]]:
    now = now or dt.datetime.now(dt.timezone.utc)
    return [detection_finding(f, region=region, partition=partition, now=now) for f in findings]
