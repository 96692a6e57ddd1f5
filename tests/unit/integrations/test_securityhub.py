"""ASFF findings (pure): within Security Hub's limits, typed resources, stable ids; which records a run sends;
refused findings sent again and never marked as received."""

from __future__ import annotations

import datetime as dt
import json

import botocore.session
import pytest
from botocore.validate import ParamValidator

from connector_health.integrations.delivery import ATTEMPTS
from connector_health.integrations.securityhub import (FINDING_BYTES, Mirrored, asff_finding, finding_id, mirror,
                                                       to_import)
from connector_health.state.store import FindingRecord

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=dt.timezone.utc)
ACCOUNT = "123456789012"
MODEL = botocore.session.get_session().get_service_model("securityhub")


def record(n: int = 1, *, status="open", severity="high", resource=f"arn:aws:iam::{ACCOUNT}:role/CspmMonitorAws",
           message="Statement 2 admits anyone.", details=None, synced=None) -> FindingRecord:
    rec = FindingRecord(fingerprint=f"{n:032x}", check_id="TRUST_UNEXPECTED_PRINCIPAL", severity=severity,
                        resource_arn=resource, status=status, first_seen="2026-02-01T00:00:00Z",
                        last_seen="2026-03-01T12:00:00Z",
                        finding={"title": "Trust policy admits an unexpected principal", "message": message,
                                 "remediation": "Remove the statement.", "details": details or {"statement": 2}},
                        resolved_at="2026-03-01T12:00:00Z" if status == "resolved" else None)
    if synced:
        rec.extra["sync_securityhub"] = synced
    return rec


def valid_request(findings: list[dict]) -> None:
    """botocore's own validation of BatchImportFindings against the service model (required members, types)."""
    report = ParamValidator().validate({"Findings": findings}, MODEL.operation_model("BatchImportFindings").input_shape)
    assert not report.has_errors(), report.generate_report()


def test_open_and_resolved_findings():
    opened = asff_finding(record(), "defender", account=ACCOUNT, region="eu-west-1", partition="aws", now=NOW)
    resolved = asff_finding(record(status="resolved"), "defender", account=ACCOUNT, region="eu-west-1",
                            partition="aws", now=NOW)
    valid_request([opened, resolved])
    assert opened["Id"] == resolved["Id"] == finding_id("eu-west-1", ACCOUNT, f"{1:032x}")
    assert opened["ProductArn"] == f"arn:aws:securityhub:eu-west-1:{ACCOUNT}:product/{ACCOUNT}/default"
    assert (opened["RecordState"], opened["Compliance"]["Status"]) == ("ACTIVE", "FAILED")
    assert (resolved["RecordState"], resolved["Compliance"]["Status"]) == ("ARCHIVED", "PASSED")
    assert opened["UpdatedAt"] == "2026-03-01T12:00:00.123Z"
    assert opened["CreatedAt"] == opened["FirstObservedAt"] == "2026-02-01T00:00:00Z"
    assert opened["Severity"] == opened["FindingProviderFields"]["Severity"] == {"Label": "HIGH", "Original": "high"}
    assert opened["GeneratorId"] == "connector-health/TRUST_UNEXPECTED_PRINCIPAL"
    assert opened["Resources"][0]["Type"] == "AwsIamRole"


@pytest.mark.parametrize("severity,label", [("critical", "CRITICAL"), ("high", "HIGH"), ("medium", "MEDIUM"),
                                            ("low", "LOW"), ("info", "INFORMATIONAL")])
def test_severity_labels(severity, label):
    f = asff_finding(record(severity=severity), "d", account=ACCOUNT, region="us-east-1", partition="aws", now=NOW)
    assert f["Severity"]["Label"] == label


@pytest.mark.parametrize("arn,kind", [
    (f"arn:aws:iam::{ACCOUNT}:role/a/b/Reader", "AwsIamRole"),
    (f"arn:aws:iam::{ACCOUNT}:policy/Admin", "AwsIamPolicy"),
    (f"arn:aws-us-gov:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com", "Other"),
    (f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/onboarding/1234", "AwsCloudFormationStack"),
    (f"arn:aws:iam::{ACCOUNT}:root", "Other"), ("connector:defender", "Other"), ("", "Other")])
def test_resources_are_typed(arn, kind):
    f = asff_finding(record(resource=arn), "defender", account=ACCOUNT, region="us-east-1", partition="aws", now=NOW)
    valid_request([f])
    [resource] = f["Resources"]
    assert resource["Type"] == kind and resource["Id"]
    if arn.startswith("arn:aws-us-gov"):
        assert resource["Partition"] == "aws-us-gov"
    if kind == "AwsIamRole":
        assert resource["Details"] == {"AwsIamRole": {"RoleName": "Reader"}}


def test_hostile_sizes_stay_within_the_asff_limits():
    huge = record(message="m" * 500_000, resource="arn:aws:iam::123456789012:role/" + "r" * 5000,
                  details={"lines": ["x" * 10_000] * 1_000, "nested": {str(i): "y" * 1000 for i in range(2000)}})
    huge.finding["title"] = "t" * 10_000
    huge.finding["remediation"] = "r" * 10_000
    f = asff_finding(huge, "c" * 300, account=ACCOUNT, region="us-east-1", partition="aws", now=NOW)
    valid_request([f])
    assert len(f["Title"]) <= 256 and len(f["Description"]) <= 1024
    assert len(f["Remediation"]["Recommendation"]["Text"]) <= 512
    assert len(json.dumps(f).encode()) < FINDING_BYTES // 10


def test_blank_texts_are_never_sent_empty():
    rec = record(message="   ")
    rec.finding.update(title="", remediation="")
    f = asff_finding(rec, "defender", account=ACCOUNT, region="us-east-1", partition="aws", now=NOW)
    valid_request([f])
    assert f["Description"].strip() and f["Title"].strip() and f["Remediation"]["Recommendation"]["Text"].strip()


def test_what_a_run_sends():
    held = record(1, synced="open")  # open in Security Hub, its check did not complete: untouched
    never = record(2)  # open, never received (an import failed): sent
    refused_resolution = record(3, status="resolved", synced="open")  # resolved, Security Hub still ACTIVE: sent
    archived = record(4, status="resolved", synced="resolved")  # done
    unknown_resolved = record(5, status="resolved")  # never received while open: nothing to archive
    observed = record(6)  # reported this run (ongoing)
    before = {r.fingerprint: r for r in (held, never, refused_resolution, archived, unknown_resolved)}
    before[observed.fingerprint] = record(6, synced="open")
    items = to_import("defender", before, [observed])
    assert sorted(m.record.fingerprint for m in items) == sorted(r.fingerprint for r in (observed, never,
                                                                                            refused_resolution))
    [ongoing] = [m for m in items if m.record is observed]
    assert ongoing.synced == "open"  # no marker write for it after a successful import


class FakeSecurityHub:
    """BatchImportFindings that refuses some ids for a number of attempts."""

    def __init__(self, refuse: dict[str, tuple[str, int]]):
        self.refuse = refuse  # id -> (error code, attempts it is refused)
        self.calls: list[list[str]] = []

    def batch_import_findings(self, Findings):
        ids = [f["Id"] for f in Findings]
        self.calls.append(ids)
        failed = []
        for fid in ids:
            code, times = self.refuse.get(fid, ("", 0))
            if times:
                self.refuse[fid] = (code, times - 1)
                failed.append({"Id": fid, "ErrorCode": code, "ErrorMessage": "injected"})
        return {"FailedCount": len(failed), "SuccessCount": len(ids) - len(failed), "FailedFindings": failed}


class Store:
    def __init__(self):
        self.marks = []

    def mark_synced(self, account, connector, fingerprint, channel, value):
        self.marks.append((fingerprint, channel, value))


def _items(n: int) -> list[Mirrored]:
    return [Mirrored("defender", record(i), None) for i in range(n)]


def test_batches_of_100_and_refused_findings_sent_again_alone():
    items = _items(230)
    ids = [finding_id("us-east-1", ACCOUNT, m.record.fingerprint) for m in items]
    client = FakeSecurityHub({ids[5]: ("InternalException", 2), ids[150]: ("LimitExceededException", 1)})
    store, pauses = Store(), []
    report = mirror(client, items, account=ACCOUNT, region="us-east-1", partition="aws", now=NOW, store=store,
                    sleep=pauses.append)
    assert [len(c) for c in client.calls] == [100, 1, 1, 100, 1, 30]
    assert report.delivered == 230 and report.refused == [] and pauses == [0.5, 1.0, 0.5]
    assert len(store.marks) == 230 and {m[2] for m in store.marks} == {"open"}


def test_a_finding_refused_every_time_is_reported_and_not_marked():
    items = _items(3)
    bad = finding_id("us-east-1", ACCOUNT, items[1].record.fingerprint)
    client = FakeSecurityHub({bad: ("InternalException", 99)})
    store = Store()
    report = mirror(client, items, account=ACCOUNT, region="us-east-1", partition="aws", now=NOW, store=store,
                    sleep=lambda s: None)
    assert len(client.calls) == ATTEMPTS and report.delivered == 2
    [line] = report.refused
    assert "InternalException" in line and items[1].record.fingerprint in line
    assert items[1].record.fingerprint not in {m[0] for m in store.marks}


def test_invalid_access_is_not_retried():
    items = _items(2)
    client = FakeSecurityHub({finding_id("us-east-1", ACCOUNT, m.record.fingerprint): ("InvalidAccess", 99)
                              for m in items})
    report = mirror(client, items, account=ACCOUNT, region="us-east-1", partition="aws", now=NOW, store=Store(),
                    sleep=lambda s: pytest.fail("no pause for a refusal waiting cannot change"))
    assert len(client.calls) == 1 and len(report.refused) == 2
