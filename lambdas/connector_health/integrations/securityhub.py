"""AWS Security Hub CSPM: every finding mirrored as an ASFF finding in the scanned account and region.

The mirror follows the state lifecycle (state/lifecycle.py) exactly:
- a finding this run reported (new or ongoing) is imported ACTIVE, `Compliance.Status` FAILED, with the same `Id`
  every run (derived from the fingerprint), so Security Hub updates it in place (`UpdatedAt` now,
  `LastObservedAt` the last scan that saw it);
- a finding the lifecycle resolved is imported once more, ARCHIVED and PASSED;
- a finding whose check did not complete this run is not sent at all: Security Hub keeps it as it was, exactly as
  the state table keeps it open.
Each finding item carries a `sync_securityhub` marker: what Security Hub last received ("open" / "resolved"). A
resolution Security Hub refused keeps its marker at "open", so the next run sends it again, and a finding Security
Hub never received is sent as soon as it can be.

Limits (Security Hub user guide "BatchImportFindings for finding providers"): 100 findings and 6 MB per request,
240 KB per finding; ASFF: Title 256 characters, Description 1,024, Remediation.Recommendation.Text 512. Text is
cut to those, and evidence goes only into bounded ProductFields, so a finding stays far below 240 KB.

`Workflow` belongs to the team's triage (BatchUpdateFindings): Security Hub ignores it in an update from the
provider, so NEW / RESOLVED here only take effect when the import creates the finding.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..bounds import clip, fit, json_bytes
from ..state.store import FindingRecord
from .delivery import DeliveryReport, Refusal, send_in_batches
from .references import doc_url

CHANNEL = "securityhub"
SCHEMA_VERSION = "2018-10-08"
FINDING_TYPES = ["Software and Configuration Checks/AWS Security Best Practices"]
PRODUCT_NAME = COMPANY_NAME = "connector-health"
BATCH_FINDINGS = 100
BATCH_BYTES = 6 * 1024 * 1024 - 64 * 1024  # 6 MB per request, less room for the request's own JSON
FINDING_BYTES = 240 * 1024
TITLE_CHARS, DESCRIPTION_CHARS, REMEDIATION_CHARS = 256, 1024, 512
DETAILS_CHARS = 1024  # the bounded evidence in ProductFields
SEVERITY_LABEL = {"critical": "CRITICAL", "high": "HIGH", "medium": "MEDIUM", "low": "LOW", "info": "INFORMATIONAL"}
# FailedFindings codes that waiting cannot change (the rest are sent again).
FINAL_CODES = frozenset({"InvalidInput", "InvalidAccess", "AccessDenied", "AccessDeniedException",
                         "InvalidInputException", "InvalidAccessException"})


def product_arn(partition: str, region: str, account: str) -> str:
    """The account's default product: findings a customer sends about its own account (ASFF `ProductArn`)."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def finding_id(region: str, account: str, fingerprint: str) -> str:
    """Stable across runs: the same finding is updated in place, never re-created under a new id."""
    return f"connector-health/{region}/{account}/{fingerprint}"


def asff_time(value: str | dt.datetime) -> str:
    """ISO 8601 UTC with milliseconds, as ASFF's examples write it; stored times are kept as they are."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return value


def _text(value: Any, limit: int, fallback: str) -> str:
    """Non-blank text of at most `limit` characters (ASFF refuses empty strings)."""
    text = clip(" ".join(str(value or "").split()), limit)
    return text or fallback


def resource(resource_arn: str, partition: str, region: str, connector: str) -> dict[str, Any]:
    """An ASFF resource: IAM roles, policies and CloudFormation stacks typed with their details; OIDC providers,
    accounts and the monitor's own pseudo-resources (`connector:NAME`, `state:...`) as `Other`."""
    arn = clip(resource_arn or f"connector:{connector}", 2000)
    out: dict[str, Any] = {"Type": "Other", "Id": arn, "Partition": partition, "Region": region}
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn":
        out["Partition"] = parts[1] if parts[1] in ("aws", "aws-cn", "aws-us-gov") else partition
        service, resource_part = parts[2], parts[5]
        kind, _, name = resource_part.partition("/")
        if service == "iam" and kind == "role" and name:
            out["Type"] = "AwsIamRole"
            out["Details"] = {"AwsIamRole": {"RoleName": name.rsplit("/", 1)[-1][:64]}}
        elif service == "iam" and kind == "policy" and name:
            out["Type"] = "AwsIamPolicy"
            out["Details"] = {"AwsIamPolicy": {"PolicyName": name.rsplit("/", 1)[-1][:128]}}
        elif service == "cloudformation" and kind == "stack" and name:
            out["Type"] = "AwsCloudFormationStack"
            out["Details"] = {"AwsCloudFormationStack": {"StackName": name.split("/", 1)[0][:128]}}
        elif service == "iam" and kind == "oidc-provider":
            out["Details"] = {"Other": {"Issuer": clip(name, 1024)}}
    return out


def asff_finding(rec: FindingRecord, connector: str, *, account: str, region: str, partition: str,
                 now: dt.datetime) -> dict[str, Any]:
    """The ASFF finding for one state record, as open (ACTIVE / FAILED) or resolved (ARCHIVED / PASSED)."""
    f = rec.finding
    resolved = rec.status == "resolved"
    severity = {"Label": SEVERITY_LABEL.get(rec.severity, "INFORMATIONAL"), "Original": rec.severity}
    title = f"{f.get('title') or rec.check_id} ({connector})" if connector != "*" else (f.get("title") or rec.check_id)
    evidence, _ = fit(f.get("details") or {}, DETAILS_CHARS)
    fields = {
        "connector-health/check_id": rec.check_id,
        "connector-health/connector": clip(connector, 256),
        "connector-health/fingerprint": rec.fingerprint,
        "connector-health/status": rec.status,
        "connector-health/details": clip(json.dumps(evidence, sort_keys=True, default=str), DETAILS_CHARS),
    }
    if resolved and rec.resolved_at:
        fields["connector-health/resolved_at"] = rec.resolved_at
    finding = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(region, account, rec.fingerprint),
        "ProductArn": product_arn(partition, region, account),
        "ProductName": PRODUCT_NAME,
        "CompanyName": COMPANY_NAME,
        "GeneratorId": f"connector-health/{rec.check_id}",
        "AwsAccountId": account,
        "Types": list(FINDING_TYPES),
        "CreatedAt": asff_time(rec.first_seen or now),
        "FirstObservedAt": asff_time(rec.first_seen or now),
        "LastObservedAt": asff_time(rec.last_seen or now),
        "UpdatedAt": asff_time(now),
        "Severity": severity,
        "FindingProviderFields": {"Severity": dict(severity), "Types": list(FINDING_TYPES)},
        "Title": _text(title, TITLE_CHARS, rec.check_id),
        "Description": _text(f.get("message"), DESCRIPTION_CHARS, rec.check_id),
        "Remediation": {"Recommendation": {"Text": _text(f.get("remediation"), REMEDIATION_CHARS, "See the URL."),
                                           "Url": doc_url(rec.check_id)}},
        "ProductFields": fields,
        "Resources": [resource(rec.resource_arn, partition, region, connector)],
        "Compliance": {"Status": "PASSED" if resolved else "FAILED"},
        "RecordState": "ARCHIVED" if resolved else "ACTIVE",
        "Workflow": {"Status": "RESOLVED" if resolved else "NEW"},
    }
    if json_bytes(finding) > FINDING_BYTES:  # cannot happen with the bounds above; never send what AWS refuses
        finding["ProductFields"].pop("connector-health/details")
    return finding


@dataclass(frozen=True)
class Mirrored:
    """One record to send, with the connector (state partition) it belongs to."""

    connector: str
    record: FindingRecord
    synced: str | None  # what Security Hub held before this run (the record's marker)


def to_import(connector: str, before: dict[str, FindingRecord], observed: Iterable[FindingRecord]) -> list[Mirrored]:
    """What Security Hub should receive for one connector this run: every record this run observed (reported, or
    resolved by the lifecycle), and earlier records whose last import failed (marker behind their status) or that
    Security Hub never received while open. A record that is open and was not observed (its check did not
    complete) and that Security Hub already holds is left alone."""
    def marker(fp: str) -> str | None:
        return before[fp].synced(CHANNEL) if fp in before else None

    out = {rec.fingerprint: Mirrored(connector, rec, marker(rec.fingerprint)) for rec in observed}
    for fp, rec in before.items():
        if fp in out:
            continue
        synced = rec.synced(CHANNEL)
        if synced is None and rec.status == "open":
            out[fp] = Mirrored(connector, rec, synced)  # open, never received (a failed import, or just enabled)
        elif synced is not None and synced != rec.status:
            out[fp] = Mirrored(connector, rec, synced)  # a resolution (or reopening) Security Hub did not take
    return list(out.values())


def mirror(client, items: list[Mirrored], *, account: str, region: str, partition: str, now: dt.datetime,
           store, sleep=None) -> DeliveryReport:
    """Import `items` in batches, send refused ones again, then record what Security Hub took on each record."""
    report = DeliveryReport("security_hub", counts={"active": 0, "archived": 0})
    if not items:
        return report
    asff = {id(m): asff_finding(m.record, m.connector, account=account, region=region, partition=partition, now=now)
            for m in items}

    def send(batch: list[Mirrored]) -> list[Refusal[Mirrored]]:
        by_id = {asff[id(m)]["Id"]: m for m in batch}
        answer = client.batch_import_findings(Findings=[asff[id(m)] for m in batch])
        refused = []
        for failed in answer.get("FailedFindings") or []:
            item = by_id.get(failed.get("Id"))
            if item is not None:
                code = str(failed.get("ErrorCode") or "Failed")
                refused.append(Refusal(item, code, str(failed.get("ErrorMessage") or ""), final=code in FINAL_CODES))
        return refused

    refused = send_in_batches(send, items, lambda m: json_bytes(asff[id(m)]), max_items=BATCH_FINDINGS,
                              max_bytes=BATCH_BYTES, sleep=sleep)
    for item in items:
        if id(item) in refused:
            r = refused[id(item)]
            report.refuse(f"Security Hub finding {item.record.check_id} {item.record.fingerprint} "
                          f"(account {account}, {region})", r.code, r.message)
            continue
        report.delivered += 1
        report.counts["archived" if item.record.status == "resolved" else "active"] += 1
        if item.synced != item.record.status:  # only a change of what Security Hub holds costs a write
            store.mark_synced(account, item.connector, item.record.fingerprint, CHANNEL, item.record.status)
    return report
