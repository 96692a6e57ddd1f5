"""SARIF 2.1.0 for `lint-trust --format sarif` (GitHub code scanning, Azure DevOps, VS Code SARIF viewers).

- One rule per check ID lint-trust can report, in a fixed order: shortDescription is the check's title,
  fullDescription its risk, help its risk and remediation; `properties.security-severity` is the numeric string GitHub
  code scanning reads (critical 9.5, high 8.0, medium 5.5, low 3.0: its bands are >= 9.0, 7.0-8.9, 4.0-6.9, 0.1-3.9) for
  the check's default severity, and the tags put the alerts among security results.
- One result per finding: level error (critical, high), warning (medium) or note (low, info) from the finding's own
  severity, which properties.severity also carries (AUDIENCE_UNRESTRICTED and WILDCARD_VALUE are high or medium by
  default and lower in some cases); the location's file relative to the working directory (uriBaseId %SRCROOT%),
  its line (line 1 where the format keeps none, as in a Terraform plan), and the role as a logical location.
- partialFingerprints hold a hash of what identifies the finding apart from its line (check, file, resource,
  variant, message), so an alert stays the same alert when lines move.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path
from typing import Any

from .checks import get_check
from .findings import Finding, Severity

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0",
                     Severity.INFO: "0.0"}
LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note",
         Severity.INFO: "note"}
# What lint-trust can report (CHECKS.md: never TRUST_ROLE_MISSING or TRUST_DRIFT; MONITOR_CHECK_ERROR for a role
# whose policy could not be linted).
LINT_RULES = (
    "TRUST_NOT_FEDERATED", "TRUST_WILDCARD_PRINCIPAL", "TRUST_UNEXPECTED_PRINCIPAL", "TRUST_UNEXPECTED_ACTION",
    "TRUST_AUDIENCE_UNRESTRICTED", "TRUST_SUBJECT_UNRESTRICTED", "TRUST_FORALLVALUES_ALLOW", "TRUST_WILDCARD_VALUE",
    "TRUST_DUPLICATE_KEY", "TRUST_EXPECTED_IDENTITY_DENIED", "TRUST_FOREIGN_IDENTITY_ADMITTED",
    "TRUST_INVALID_DOCUMENT", "MONITOR_CHECK_ERROR",
)
SRCROOT = "%SRCROOT%"
FINGERPRINT = "connectorHealthFinding/v1"


def _version() -> str:
    try:
        return importlib.metadata.version("connector-health")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def _rule(check_id: str) -> dict[str, Any]:
    check = get_check(check_id)
    risk = check.risk or check.title
    tags = ["security", "iam", "trust-policy"] + (["oidc"] if check_id.startswith("TRUST_") else [])
    return {
        "id": check_id,
        "name": "".join(part.capitalize() for part in check_id.lower().split("_")),
        "shortDescription": {"text": check.title},
        "fullDescription": {"text": risk},
        "help": {"text": f"{risk}\nFix: {check.remediation}",
                 "markdown": f"**{check_id}** ({check.default_severity.value}): {risk}\n\n**Fix:** {check.remediation}"},
        "defaultConfiguration": {"level": LEVEL[check.default_severity]},
        "properties": {"security-severity": SECURITY_SEVERITY[check.default_severity], "tags": tags,
                       "precision": "high"},
    }


def _artifact(file: str) -> dict[str, Any]:
    path = Path(file)
    if path.is_absolute():
        return {"uri": path.as_uri()}
    return {"uri": path.as_posix(), "uriBaseId": SRCROOT}


def _fingerprint(finding: Finding, location: dict[str, Any]) -> str:
    parts = [finding.check_id, str(location.get("file", "")), str(location.get("resource", "")),
             str(location.get("variant", "")), finding.message]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _result(finding: Finding, rule_index: dict[str, int]) -> dict[str, Any]:
    location = finding.location or {"file": finding.resource_arn}
    physical: dict[str, Any] = {"artifactLocation": _artifact(str(location.get("file") or finding.resource_arn)),
                                "region": {"startLine": int(location.get("line") or 1)}}
    result: dict[str, Any] = {
        "ruleId": finding.check_id,
        "ruleIndex": rule_index[finding.check_id],
        "level": LEVEL[finding.severity],
        "message": {"text": f"{finding.message} Fix: {finding.remediation}"},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {FINGERPRINT: _fingerprint(finding, location)},
        "properties": {"severity": finding.severity.value, "connector": finding.connector},
    }
    resource = location.get("resource")
    if resource:
        qualified = "/".join(str(p) for p in (location.get("stack"), resource) if p)
        logical = {"name": str(resource), "fullyQualifiedName": location.get("cdk_path") or qualified,
                   "kind": "resource"}
        result["locations"][0]["logicalLocations"] = [logical]
    return result


def findings_sarif(findings: list[Finding], *, base: Path | None = None) -> str:
    """The findings as one SARIF 2.1.0 log (a run of connector-health's lint-trust)."""
    rules = list(LINT_RULES) + sorted({f.check_id for f in findings} - set(LINT_RULES))
    rule_index = {rule: i for i, rule in enumerate(rules)}
    base_dir = (base or Path.cwd()).resolve()
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "connector-health",
                "semanticVersion": _version(),
                "rules": [_rule(r) for r in rules],
            }},
            "originalUriBaseIds": {SRCROOT: {"uri": base_dir.as_uri() + "/"}},
            "results": [_result(f, rule_index) for f in findings],
            "columnKind": "unicodeCodePoints",
        }],
    }
    return json.dumps(log, indent=2)


__all__ = ["LINT_RULES", "SECURITY_SEVERITY", "findings_sarif"]
