"""The connector's onboarding CloudFormation stack: does it exist, and has it drifted?

Drift detection is asynchronous: start it, poll its status with a bounded wait, then list the resources that
are MODIFIED or DELETED. Only reads besides DetectStackDrift (which starts the detection; CloudFormation then
reads the stack's resources with the caller's permissions, so the monitor's IAM and OIDC reads cover it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from .aws import AWS_ERRORS, ReadError, _error_of

STACK_PERMISSIONS = (
    "cloudformation:DescribeStacks",
    "cloudformation:DetectStackDrift",
    "cloudformation:DescribeStackDriftDetectionStatus",
    "cloudformation:DescribeStackResourceDrifts",
)


@dataclass
class StackStatus:
    name: str
    exists: bool | None = None  # None: could not tell
    status: str | None = None
    stack_id: str | None = None
    drift_status: str | None = None  # IN_SYNC | DRIFTED | UNKNOWN | NOT_CHECKED | None (not run)
    drifted: list[dict[str, Any]] = field(default_factory=list)
    errors: list[ReadError] = field(default_factory=list)
    note: str | None = None


def inspect_stack(cfn, name: str, *, max_wait: float = 60.0, poll: float = 2.0,
                  sleep: Callable[[float], None] = time.sleep) -> StackStatus:
    result = StackStatus(name)
    try:
        stacks = cfn.describe_stacks(StackName=name).get("Stacks", [])
    except ClientError as exc:
        err = exc.response.get("Error", {})
        if err.get("Code") == "ValidationError" and "does not exist" in str(err.get("Message", "")):
            result.exists = False
            return result
        result.errors.append(_error_of(exc, "cloudformation:DescribeStacks", name))
        return result
    except AWS_ERRORS as exc:
        result.errors.append(_error_of(exc, "cloudformation:DescribeStacks", name))
        return result
    live = [s for s in stacks if s.get("StackStatus") != "DELETE_COMPLETE"]
    if not live:
        result.exists = False
        return result
    stack = live[0]
    result.exists, result.status, result.stack_id = True, stack.get("StackStatus"), stack.get("StackId")
    action = "cloudformation:DetectStackDrift"
    try:
        detection_id = cfn.detect_stack_drift(StackName=name)["StackDriftDetectionId"]
        action = "cloudformation:DescribeStackDriftDetectionStatus"
        deadline = time.monotonic() + max_wait
        while True:
            status = cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection_id)
            state = status.get("DetectionStatus")
            if state != "DETECTION_IN_PROGRESS":
                break
            if time.monotonic() >= deadline:
                result.drift_status = "UNKNOWN"
                result.note = f"drift detection still running after {max_wait:.0f}s; the next run will look again"
                return result
            sleep(poll)
        result.drift_status = status.get("StackDriftStatus") or "UNKNOWN"
        if state == "DETECTION_FAILED":
            result.note = f"drift detection failed: {status.get('DetectionStatusReason', 'no reason given')}"
        if result.drift_status == "DRIFTED":
            action = "cloudformation:DescribeStackResourceDrifts"
            kwargs: dict[str, Any] = {"StackName": name, "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"]}
            while True:
                page = cfn.describe_stack_resource_drifts(**kwargs)
                for d in page.get("StackResourceDrifts", []):
                    result.drifted.append({
                        "logical_id": d.get("LogicalResourceId"), "type": d.get("ResourceType"),
                        "physical_id": d.get("PhysicalResourceId"), "status": d.get("StackResourceDriftStatus"),
                        "differences": [
                            {"path": p.get("PropertyPath"), "expected": p.get("ExpectedValue"), "actual": p.get("ActualValue"),
                             "change": p.get("DifferenceType")}
                            for p in d.get("PropertyDifferences", [])
                        ][:20],
                    })
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
    except AWS_ERRORS as exc:
        result.errors.append(_error_of(exc, action, name))
    return result
