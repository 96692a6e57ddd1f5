"""Every AWS call the engine makes on the sandbox is an IAM action the execution role is given.

The CDK stack grants exactly the declared actions (`checks.required_permissions()` + `engine.COLLECTOR_PERMISSIONS`,
see tests/infra/test_least_privilege.py); this records what a real scan calls, through a botocore `before-call`
hook on the session handed to the engine, and fails when a check or the collector calls an action nobody declared.
"""

from __future__ import annotations

import boto3
import pytest

from connector_health.checks import required_permissions
from connector_health.engine import COLLECTOR_PERMISSIONS, scan_account

pytestmark = pytest.mark.integration

# Made with a web-identity token, not with the monitor's credentials: STS authorises it by the role's trust policy,
# so the execution role needs no permission for it (and must not be given one).
NEEDS_NO_PERMISSION = {"sts:AssumeRoleWithWebIdentity"}


def record_calls(session: boto3.session.Session) -> list[str]:
    calls: list[str] = []

    def before_call(model, **_):
        calls.append(f"{model.service_model.signing_name}:{model.name}")

    session.events.register("before-call", before_call)
    return calls


def token_secret_actions(config) -> set[str]:
    # Granted per secret ARN by the stack (stacks/monitor_stack.py token_secret_arns), not on `*`.
    return {"secretsmanager:GetSecretValue"} if any(
        getattr(c.token_source, "secret_arn", None) for c in config.connectors if c.enabled) else set()


def test_every_call_of_a_scan_is_a_declared_permission(sandbox, config):
    session = boto3.session.Session()
    calls = record_calls(session)
    result = scan_account(config, session=session)
    assert result.findings is not None
    declared = set(required_permissions()) | set(COLLECTOR_PERMISSIONS) | token_secret_actions(config)
    made = set(calls) - NEEDS_NO_PERMISSION
    # Guard: the hook really sees the engine's reads (an IAM action is `service:Operation` for these APIs).
    assert {"iam:GetAccountAuthorizationDetails", "iam:ListOpenIDConnectProviders", "sts:GetCallerIdentity"} <= made
    assert made <= declared, f"called but not declared: {sorted(made - declared)}"
