"""The connector's onboarding CloudFormation stack: does it exist, and has it drifted?

Drift detection is asynchronous: start it, poll its status with a bounded wait, then list the resources that
are MODIFIED, DELETED or UNKNOWN. DetectStackDrift changes nothing; CloudFormation then reads every resource of
the stack with the CALLER's permissions (FACTS.md), so the monitor declares the read permissions of the resource
types an onboarding stack holds (`DRIFT_READS`). Without them detection ends DETECTION_FAILED, or resources come
back UNKNOWN: that is a read error (MONITOR_ACCESS_DENIED naming the refused action when CloudFormation names it,
MONITOR_CHECK_ERROR otherwise), never an "in sync".
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from .aws import AWS_ERRORS, ReadError, _error_of

# The read handler permissions, in the CloudFormation registry schemas, of what onboarding stacks hold: the
# provider, roles, their inline and managed policies (tests/unit/state/test_stack_drift.py compares the schemas
# cfn-lint ships). AWS::IAM::Policy is left out: drift detection does not check it (cloudformation-coverage-roadmap
# #1686), its inline policies are read through the roles.
DRIFT_READS = {
    "AWS::IAM::OIDCProvider": ("iam:GetOpenIDConnectProvider",),
    "AWS::IAM::Role": ("iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:GetRolePolicy"),
    "AWS::IAM::RolePolicy": ("iam:GetRolePolicy",),
    "AWS::IAM::ManagedPolicy": ("iam:GetPolicy", "iam:ListEntitiesForPolicy", "iam:GetPolicyVersion"),
}
STACK_PERMISSIONS = (
    "cloudformation:DescribeStacks",
    "cloudformation:DetectStackDrift",
    # Authorised per stack for each resource a stack-wide detection checks.
    "cloudformation:DetectStackResourceDrift",
    "cloudformation:DescribeStackDriftDetectionStatus",
    "cloudformation:DescribeStackResourceDrifts",
    *sorted({action for reads in DRIFT_READS.values() for action in reads}),
)
# A failed detection's reason is JSON: {"Summary": "Failed to detect drift on resources [A,B]", "Failures":
# [{"Resource": "A", "FailureReason": "..."}]}; an IAM refusal there reads "User: arn:... is not authorized to
# perform: iam:GetRole on resource: ...".
_REFUSED_ACTION = re.compile(r"not authorized to perform:? ([a-z0-9-]+:[A-Za-z0-9]+)")


@dataclass
class StackStatus:
    name: str
    exists: bool | None = None  # None: could not tell
    status: str | None = None
    stack_id: str | None = None
    drift_status: str | None = None  # IN_SYNC | DRIFTED | UNKNOWN | NOT_CHECKED | None (not run)
    drifted: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[dict[str, Any]] = field(default_factory=list)  # resources whose drift could not be determined
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
                result.errors.append(ReadError(action, "DriftDetectionTimeout", result.note, result.stack_id or name))
                return result
            sleep(poll)
        result.drift_status = status.get("StackDriftStatus") or "UNKNOWN"
        if state == "DETECTION_FAILED":
            result.note = f"drift detection failed: {status.get('DetectionStatusReason') or 'no reason given'}"
        # A failed detection may still hold results for the resources it could read.
        if result.drift_status != "IN_SYNC" or state == "DETECTION_FAILED":
            action = "cloudformation:DescribeStackResourceDrifts"
            _list_resource_drifts(cfn, name, result)
    except AWS_ERRORS as exc:
        result.errors.append(_error_of(exc, action, result.stack_id or name))
        return result
    if state == "DETECTION_FAILED" or result.unknown or result.drift_status == "UNKNOWN":
        result.errors.append(_detection_error(result, status.get("DetectionStatusReason") or ""))
    return result


def _list_resource_drifts(cfn, name: str, result: StackStatus) -> None:
    kwargs: dict[str, Any] = {"StackName": name, "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED", "UNKNOWN"]}
    while True:
        page = cfn.describe_stack_resource_drifts(**kwargs)
        for d in page.get("StackResourceDrifts", []):
            entry = {
                "logical_id": d.get("LogicalResourceId"), "type": d.get("ResourceType"),
                "physical_id": d.get("PhysicalResourceId"), "status": d.get("StackResourceDriftStatus"),
                "differences": [
                    {"path": p.get("PropertyPath"), "expected": p.get("ExpectedValue"), "actual": p.get("ActualValue"),
                     "change": p.get("DifferenceType")}
                    for p in d.get("PropertyDifferences", [])
                ][:20],
            }
            (result.unknown if entry["status"] == "UNKNOWN" else result.drifted).append(entry)
        if not page.get("NextToken"):
            return
        kwargs["NextToken"] = page["NextToken"]


def _detection_error(result: StackStatus, reason: str) -> ReadError:
    """A detection that could not judge every resource, as the read error it is. When CloudFormation names the
    action it was refused, that action is the finding's (MONITOR_ACCESS_DENIED); else MONITOR_CHECK_ERROR."""
    unknown = ", ".join(f"{u['logical_id']} ({u['type']})" for u in result.unknown[:10])
    reason = _failures(reason)
    needed = sorted({a for u in result.unknown for a in DRIFT_READS.get(str(u["type"]), ())})
    message = (f"drift detection on stack {result.name!r} could not judge "
               + (f"{len(result.unknown)} resource(s): {unknown}" if result.unknown else "the stack")
               + (f"; {reason}" if reason else "")
               + (f"; it reads them with the monitor's permissions ({', '.join(needed)})" if needed else ""))
    resource = result.stack_id or result.name
    refused = _REFUSED_ACTION.search(reason)
    if refused:
        return ReadError(refused.group(1), "AccessDenied", message[:900], resource)
    return ReadError("cloudformation:DetectStackDrift", "DriftDetectionIncomplete", message[:900], resource)


def _failures(reason: str) -> str:
    """The per-resource failures of a detection status reason, as one line ("A: why; B: why"), else the reason."""
    start = reason.find("{")
    try:
        doc = json.loads(reason[start:]) if start >= 0 else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("Failures"), list):
        return " ".join(reason.split())
    parts = [f"{f.get('Resource')}: {' '.join(str(f.get('FailureReason', '')).split())}"
             for f in doc["Failures"][:5] if isinstance(f, dict)]
    return "; ".join(parts) or str(doc.get("Summary", ""))
