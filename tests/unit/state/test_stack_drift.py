"""STACK_DRIFTED's collection with botocore's Stubber (moto has no drift detection): start, poll, list, and what a
detection that could not judge every resource becomes.

The responses have the shapes of the CloudFormation API reference; a failed detection's DetectionStatusReason is a
JSON document {"Summary", "Failures": [{"Resource", "FailureReason"}]} as CloudFormation returns it
(aws-cloudformation/cloudformation-coverage-roadmap #801), and an IAM refusal inside it reads as IAM's AccessDenied
messages do ("User: ... is not authorized to perform: iam:GetRole on resource: ...").
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from connector_health.collect.stacks import DRIFT_READS, STACK_PERMISSIONS, inspect_stack

STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/DefenderForCloud/1"
FILTERS = ["MODIFIED", "DELETED", "UNKNOWN"]
MONITOR_ROLE = "arn:aws:sts::123456789012:assumed-role/ConnectorHealth-ScannerExecutionRole-AbC/ConnectorHealth-Scan"


def _client():
    return boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _stack(stub):
    stub.add_response("describe_stacks", {"Stacks": [{"StackName": "DefenderForCloud", "StackId": STACK_ID,
                                                     "StackStatus": "UPDATE_COMPLETE", "CreationTime": "2024-02-01T00:00:00Z"}]},
                      {"StackName": "DefenderForCloud"})
    stub.add_response("detect_stack_drift", {"StackDriftDetectionId": "d-1"}, {"StackName": "DefenderForCloud"})


def test_drifted_resources_are_listed_after_polling():
    cfn = _client()
    sleeps = []
    with Stubber(cfn) as stub:
        _stack(stub)
        for state in ("DETECTION_IN_PROGRESS", "DETECTION_IN_PROGRESS"):
            stub.add_response("describe_stack_drift_detection_status", {
                "StackId": STACK_ID, "StackDriftDetectionId": "d-1", "DetectionStatus": state, "Timestamp": "2026-01-01T00:00:00Z"})
        stub.add_response("describe_stack_drift_detection_status", {
            "StackId": STACK_ID, "StackDriftDetectionId": "d-1", "DetectionStatus": "DETECTION_COMPLETE",
            "StackDriftStatus": "DRIFTED", "Timestamp": "2026-01-01T00:00:00Z"})
        stub.add_response("describe_stack_resource_drifts", {"StackResourceDrifts": [{
            "StackId": STACK_ID, "LogicalResourceId": "CspmMonitorAwsRole", "PhysicalResourceId": "CspmMonitorAws",
            "ResourceType": "AWS::IAM::Role", "StackResourceDriftStatus": "MODIFIED", "Timestamp": "2026-01-01T00:00:00Z",
            "PropertyDifferences": [{"PropertyPath": "/AssumeRolePolicyDocument/Statement/0/Condition", "ExpectedValue": "a",
                                     "ActualValue": "b", "DifferenceType": "NOT_EQUAL"}]}],
            "NextToken": "t"}, {"StackName": "DefenderForCloud", "StackResourceDriftStatusFilters": FILTERS})
        stub.add_response("describe_stack_resource_drifts", {"StackResourceDrifts": [{
            "StackId": STACK_ID, "LogicalResourceId": "OidcProvider", "ResourceType": "AWS::IAM::OIDCProvider",
            "StackResourceDriftStatus": "DELETED", "Timestamp": "2026-01-01T00:00:00Z"}]},
            {"StackName": "DefenderForCloud", "StackResourceDriftStatusFilters": FILTERS, "NextToken": "t"})
        status = inspect_stack(cfn, "DefenderForCloud", poll=1.5, sleep=sleeps.append)
        stub.assert_no_pending_responses()
    assert status.exists and status.drift_status == "DRIFTED"
    assert [d["status"] for d in status.drifted] == ["MODIFIED", "DELETED"]
    assert status.drifted[0]["differences"][0]["path"].startswith("/AssumeRolePolicyDocument")
    assert sleeps == [1.5, 1.5]


def test_bounded_wait_gives_up_without_a_verdict():
    cfn = _client()
    with Stubber(cfn) as stub:
        _stack(stub)
        for _ in range(3):
            stub.add_response("describe_stack_drift_detection_status", {
                "StackId": STACK_ID, "StackDriftDetectionId": "d-1", "DetectionStatus": "DETECTION_IN_PROGRESS",
                "Timestamp": "2026-01-01T00:00:00Z"})
        clock = iter([0.0, 0.0, 10.0, 100.0, 1000.0])
        import connector_health.collect.stacks as stacks

        original = stacks.time.monotonic
        stacks.time.monotonic = lambda: next(clock)
        try:
            status = inspect_stack(cfn, "DefenderForCloud", max_wait=60, poll=0, sleep=lambda s: None)
        finally:
            stacks.time.monotonic = original
    assert status.drift_status == "UNKNOWN" and "still running" in status.note
    [error] = status.errors  # not silence: MONITOR_CHECK_ERROR for this run
    assert (error.action, error.code, error.resource) == (
        "cloudformation:DescribeStackDriftDetectionStatus", "DriftDetectionTimeout", STACK_ID)


def test_in_sync_and_missing():
    cfn = _client()
    with Stubber(cfn) as stub:
        _stack(stub)
        stub.add_response("describe_stack_drift_detection_status", {
            "StackId": STACK_ID, "StackDriftDetectionId": "d-1", "DetectionStatus": "DETECTION_COMPLETE",
            "StackDriftStatus": "IN_SYNC", "Timestamp": "2026-01-01T00:00:00Z"})
        stub.add_client_error("describe_stacks", "ValidationError", "Stack with id Gone does not exist", 400)
        assert inspect_stack(cfn, "DefenderForCloud", sleep=lambda s: None).drift_status == "IN_SYNC"
        gone = inspect_stack(cfn, "Gone")
    assert gone.exists is False


def test_access_denied_is_recorded_not_raised():
    cfn = _client()
    with Stubber(cfn) as stub:
        _stack(stub)
        stub.add_client_error("describe_stack_drift_detection_status", "AccessDenied", "not authorized", 403)
        status = inspect_stack(cfn, "DefenderForCloud", sleep=lambda s: None)
    assert status.exists and [e.action for e in status.errors] == ["cloudformation:DescribeStackDriftDetectionStatus"]
    assert status.errors[0].access_denied


def test_stack_checks_read_the_collected_status():
    from connector_health.checks import CheckContext, get_check
    from connector_health.collect.aws import AccountSnapshot
    from connector_health.collect.stacks import StackStatus
    from connector_health.config import parse_config

    config = parse_config({"connectors": [{"name": "gh", "preset": "github-actions", "stack_name": "Onboarding"}]})
    [conn] = config.resolved_connectors()
    drifted = StackStatus("Onboarding", exists=True, stack_id=STACK_ID, drift_status="DRIFTED",
                          drifted=[{"logical_id": "Role", "type": "AWS::IAM::Role", "status": "MODIFIED"}])
    ctx = CheckContext(config=config, connector=conn, snapshot=AccountSnapshot("123456789012"), issuer=None, now=None,
                       extras={"stacks": {"gh": drifted}})
    [finding] = get_check("STACK_DRIFTED").run(ctx)
    assert "Role (AWS::IAM::Role) MODIFIED" in finding.message and finding.resource_arn == STACK_ID
    assert list(get_check("STACK_MISSING").run(ctx)) == []
    ctx.extras["stacks"] = {"gh": StackStatus("Onboarding", exists=False)}
    [missing] = get_check("STACK_MISSING").run(ctx)
    assert missing.severity.value == "high"


def _failed_detection(stub, reason: dict, drift_status: str, drifts: list[dict]):
    stub.add_response("describe_stack_drift_detection_status", {
        "StackId": STACK_ID, "StackDriftDetectionId": "d-1", "DetectionStatus": "DETECTION_FAILED",
        "DetectionStatusReason": json.dumps(reason), "StackDriftStatus": drift_status,
        "DriftedStackResourceCount": sum(d["StackResourceDriftStatus"] in ("MODIFIED", "DELETED") for d in drifts),
        "Timestamp": "2026-01-01T00:00:00Z"})
    stub.add_response("describe_stack_resource_drifts", {"StackResourceDrifts": [
        {"StackId": STACK_ID, "Timestamp": "2026-01-01T00:00:00Z", **d} for d in drifts]},
        {"StackName": "DefenderForCloud", "StackResourceDriftStatusFilters": FILTERS})


def test_detection_refused_a_read_is_access_denied_naming_the_action():
    """The monitor lacked iam:GetRole: CloudFormation fails the detection for that role, judges the provider."""
    cfn = _client()
    refusal = (f"User: {MONITOR_ROLE} is not authorized to perform: iam:GetRole on resource: role CspmMonitorAws "
               "because no identity-based policy allows the iam:GetRole action (Service: Iam, Status Code: 403, "
               "Request ID: 0c1d2e3f-aaaa-bbbb-cccc-1234567890ab)")
    with Stubber(cfn) as stub:
        _stack(stub)
        _failed_detection(stub, {"Summary": "Failed to detect drift on resources [CspmMonitorAwsRole]",
                                 "Failures": [{"Resource": "CspmMonitorAwsRole", "FailureReason": refusal}]},
                          "UNKNOWN", [{"LogicalResourceId": "CspmMonitorAwsRole", "PhysicalResourceId": "CspmMonitorAws",
                                       "ResourceType": "AWS::IAM::Role", "StackResourceDriftStatus": "UNKNOWN"}])
        status = inspect_stack(cfn, "DefenderForCloud", sleep=lambda s: None)
        stub.assert_no_pending_responses()
    assert status.drift_status == "UNKNOWN" and status.drifted == []
    assert [u["logical_id"] for u in status.unknown] == ["CspmMonitorAwsRole"]
    [error] = status.errors
    assert (error.action, error.code, error.resource) == ("iam:GetRole", "AccessDenied", STACK_ID)
    assert error.access_denied  # -> MONITOR_ACCESS_DENIED, which names iam:GetRole as the fix
    assert "CspmMonitorAwsRole (AWS::IAM::Role)" in error.message and "iam:ListAttachedRolePolicies" in error.message
    assert "\n" not in error.message


def test_partial_detection_reports_the_drift_it_found_and_the_resources_it_could_not_judge():
    cfn = _client()
    with Stubber(cfn) as stub:
        _stack(stub)
        _failed_detection(stub, {"Summary": "Failed to detect drift on resources [ScannerRole]",
                                 "Failures": [{"Resource": "ScannerRole", "FailureReason": "Rate exceeded"}]},
                          "DRIFTED", [
                              {"LogicalResourceId": "OidcProvider", "ResourceType": "AWS::IAM::OIDCProvider",
                               "PhysicalResourceId": "arn:aws:iam::123456789012:oidc-provider/sts.windows.net/x/",
                               "StackResourceDriftStatus": "MODIFIED"},
                              {"LogicalResourceId": "ScannerRole", "ResourceType": "AWS::IAM::Role",
                               "PhysicalResourceId": "DefenderForCloud-AgentlessScanner",
                               "StackResourceDriftStatus": "UNKNOWN"}])
        status = inspect_stack(cfn, "DefenderForCloud", sleep=lambda s: None)
    assert [d["logical_id"] for d in status.drifted] == ["OidcProvider"]  # STACK_DRIFTED still names it
    [error] = status.errors
    assert (error.action, error.code) == ("cloudformation:DetectStackDrift", "DriftDetectionIncomplete")
    assert not error.access_denied  # -> MONITOR_CHECK_ERROR
    assert "ScannerRole: Rate exceeded" in error.message


def test_an_incomplete_detection_is_a_monitor_finding_never_silence():
    from connector_health.checks import CheckContext, get_check
    from connector_health.collect.aws import AccountSnapshot, ReadError
    from connector_health.config import parse_config

    config = parse_config({"connectors": [{"name": "gh", "preset": "github-actions", "stack_name": "Onboarding"}]})
    snapshot = AccountSnapshot("123456789012")
    snapshot.read_errors.append(ReadError("iam:GetRole", "AccessDenied", "drift detection on stack ...", STACK_ID))
    snapshot.read_errors.append(ReadError("cloudformation:DetectStackDrift", "DriftDetectionIncomplete", "...", STACK_ID))
    [conn] = config.resolved_connectors()
    ctx = CheckContext(config=config, connector=conn, snapshot=snapshot, issuer=None, now=None)
    [denied] = get_check("MONITOR_ACCESS_DENIED").run(ctx)
    [error] = get_check("MONITOR_CHECK_ERROR").run(ctx)
    assert denied.resource_arn == error.resource_arn == STACK_ID
    assert "Grant the monitor's role iam:GetRole" in denied.remediation


def test_drift_detection_reads_are_declared_for_every_onboarding_resource_type():
    """Each type's read handler permissions in the CloudFormation registry schemas (as cfn-lint ships them) are
    declared, so the execution and member roles built from the declarations let drift detection read them."""
    schemas = pytest.importorskip("cfnlint.data.schemas")
    from pathlib import Path

    base = Path(schemas.__file__).parent
    providers = json.loads((base / "providers" / "us-east-1.json").read_text())
    for resource_type, declared in DRIFT_READS.items():
        schema = json.loads((base / "resources" / f"{providers[resource_type]}.json").read_text())
        needed = set(schema["handlers"]["read"]["permissions"])
        assert needed <= set(declared), (resource_type, sorted(needed - set(declared)))
        assert set(declared) <= set(STACK_PERMISSIONS)
