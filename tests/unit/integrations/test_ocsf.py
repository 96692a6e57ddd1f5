"""OCSF output validates against the official OCSF 1.5.0 Detection Finding schema (generated offline by
ocsf-json-schema from the schema.ocsf.io export it ships) and says what the finding says."""

from __future__ import annotations

import datetime as dt
import json

import jsonschema
import pytest

from connector_health.findings import Finding, Severity
from connector_health.integrations.ocsf import detection_finding
from connector_health.state.lifecycle import fingerprint

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def _finding(check_id="TRUST_WILDCARD_PRINCIPAL", severity=Severity.CRITICAL,
             resource="arn:aws:iam::123456789012:role/CspmMonitorAws", details=None) -> Finding:
    return Finding(check_id=check_id, severity=severity, connector="defender", account="123456789012",
                   resource_arn=resource, message="Statement 2 admits anyone.", remediation="Remove the statement.",
                   title="Trust policy admits any principal", details=details if details is not None else {"statement": 2})


@pytest.mark.parametrize("severity", list(Severity))
@pytest.mark.parametrize("resource", ["arn:aws:iam::123456789012:role/path/CspmMonitorAws",
                                      "arn:aws-us-gov:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
                                      "arn:aws:cloudformation:us-east-1:123456789012:stack/onboarding/abc",
                                      "arn:aws:iam::123456789012:root", "connector:defender", ""])
def test_every_severity_and_resource_kind_validates(ocsf_validator, severity, resource):
    ocsf_validator.validate(detection_finding(_finding(severity=severity, resource=resource), region="eu-west-1", now=NOW))


def test_content_is_the_findings(ocsf_validator):
    f = _finding(details={"diff": {"Statement": {"was": [], "is": ["*"]}}, "huge": ["x" * 1000] * 500})
    event = detection_finding(f, region="eu-west-1", now=NOW)
    ocsf_validator.validate(event)
    assert (event["class_uid"], event["category_uid"], event["type_uid"]) == (2004, 2, 200401)
    assert event["metadata"]["version"] == "1.5.0" and event["metadata"]["product"]["name"] == "connector-health"
    assert event["finding_info"]["uid"] == fingerprint(f)
    assert event["finding_info"]["title"] == f.title and event["finding_info"]["desc"] == f.message
    assert event["severity_id"] == 5 and event["severity"] == "Critical"
    assert event["cloud"]["account"]["uid"] == "123456789012" and event["cloud"]["region"] == "eu-west-1"
    [resource] = event["resources"]
    assert (resource["uid"], resource["type"], resource["name"]) == (f.resource_arn, "AWS::IAM::Role", "CspmMonitorAws")
    assert len(json.dumps(resource["data"])) <= 32 * 1024  # evidence bounded
    assert event["remediation"]["desc"] == f.remediation
    assert event["remediation"]["references"][0].startswith("https://docs.aws.amazon.com/IAM/")
    assert event["time"] == int(NOW.timestamp() * 1000)


def test_the_schema_has_teeth(ocsf_validator):
    event = detection_finding(_finding(), region="eu-west-1", now=NOW)
    for broken in ({**event, "severity_id": 42}, {k: v for k, v in event.items() if k != "finding_info"},
                   {**event, "cloud": {"region": "eu-west-1"}}):
        with pytest.raises(jsonschema.ValidationError):
            ocsf_validator.validate(broken)
