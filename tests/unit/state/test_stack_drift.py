"""STACK_DRIFTED's collection with botocore's Stubber (moto has no drift detection): start, poll, list."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from connector_health.collect.stacks import inspect_stack

STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/DefenderForCloud/1"


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
            "NextToken": "t"}, {"StackName": "DefenderForCloud", "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"]})
        stub.add_response("describe_stack_resource_drifts", {"StackResourceDrifts": [{
            "StackId": STACK_ID, "LogicalResourceId": "OidcProvider", "ResourceType": "AWS::IAM::OIDCProvider",
            "StackResourceDriftStatus": "DELETED", "Timestamp": "2026-01-01T00:00:00Z"}]},
            {"StackName": "DefenderForCloud", "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"], "NextToken": "t"})
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
