"""TRUST_* on the emulated Defender account: widening a trust policy is reported through `check`; restoring clears."""

from __future__ import annotations

import json

import pytest

from connector_health.sandbox.account import CUSTOMER_TENANT, trust_policy

pytestmark = pytest.mark.integration
CSPM = "CspmMonitorAws"
CSPM_AUD = "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479"


def _original(sandbox):
    key = sandbox.issuer.url.removeprefix("https://")
    return trust_policy(sandbox.seeded["provider_arn"], key, CSPM_AUD)


def _set_trust(sandbox, policy, role=CSPM):
    sandbox.client("iam").update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(policy))


def _ids(by_id, role=CSPM):
    return {cid for cid, fs in by_id.items() if any(f.details.get("role") == role for f in fs)}


def test_wildcard_session_name_and_extra_principal_then_repair(sandbox, scan):
    widened = _original(sandbox)
    widened["Statement"][0]["Condition"]["StringLike"]["sts:RoleSessionName"] = "MicrosoftDefenderForClouds_*"
    widened["Statement"].append({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
                                 "Action": "sts:AssumeRole"})
    _set_trust(sandbox, widened)
    _, by_id = scan()
    assert _ids(by_id) == {"TRUST_SUBJECT_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED", "TRUST_UNEXPECTED_PRINCIPAL"}
    [backdoor] = by_id["TRUST_UNEXPECTED_PRINCIPAL"]
    assert "999988887777" in backdoor.message and backdoor.resource_arn.endswith(f":role/{CSPM}")
    foreign = by_id["TRUST_FOREIGN_IDENTITY_ADMITTED"][0]
    assert "Azure tenant" in foreign.message
    _set_trust(sandbox, _original(sandbox))
    result, _ = scan()
    assert result.findings == []


def test_old_sentinel_prefix_breaks_the_connector(sandbox, scan):
    narrowed = _original(sandbox)
    narrowed["Statement"][0]["Condition"]["StringLike"]["sts:RoleSessionName"] = f"MicrosoftSentinel_{CUSTOMER_TENANT}"
    _set_trust(sandbox, narrowed)
    _, by_id = scan()
    [denied] = by_id["TRUST_EXPECTED_IDENTITY_DENIED"]
    assert f"MicrosoftDefenderForClouds_{CUSTOMER_TENANT}" in denied.message


def test_audience_of_another_plan_is_foreign(sandbox, scan):
    widened = _original(sandbox)
    widened["Statement"][0]["Condition"]["StringLike"][f"{sandbox.issuer.url.removeprefix('https://')}:aud"] = "api://*"
    _set_trust(sandbox, widened)
    _, by_id = scan()
    assert {"TRUST_AUDIENCE_UNRESTRICTED", "TRUST_FOREIGN_IDENTITY_ADMITTED"} <= _ids(by_id)
    assert any("another audience" in f.message for f in by_id["TRUST_FOREIGN_IDENTITY_ADMITTED"])


def test_role_missing_and_unlisted_role_trusting_the_provider(sandbox, scan):
    iam = sandbox.client("iam")
    for policy in iam.list_role_policies(RoleName="SensitiveDataDiscovery")["PolicyNames"]:
        iam.delete_role_policy(RoleName="SensitiveDataDiscovery", PolicyName=policy)
    for att in iam.list_attached_role_policies(RoleName="SensitiveDataDiscovery")["AttachedPolicies"]:
        iam.detach_role_policy(RoleName="SensitiveDataDiscovery", PolicyArn=att["PolicyArn"])
    iam.delete_role(RoleName="SensitiveDataDiscovery")
    # A role nobody configured that trusts the provider without any condition: still analysed.
    rogue = _original(sandbox)
    rogue["Statement"][0].pop("Condition")
    iam.create_role(RoleName="rogue", AssumeRolePolicyDocument=json.dumps(rogue))
    _, by_id = scan()
    assert [f.details["role"] for f in by_id["TRUST_ROLE_MISSING"]] == ["SensitiveDataDiscovery"]
    assert {"TRUST_AUDIENCE_UNRESTRICTED", "TRUST_SUBJECT_UNRESTRICTED"} <= _ids(by_id, "rogue")


def test_roles_of_plans_not_selected_keep_their_audience(sandbox):
    from connector_health.config import parse_config
    from connector_health.engine import scan_account

    data = sandbox.config_dict()
    data["connectors"][0]["plans"] = ["cspm"]
    result = scan_account(parse_config(data), exchanges=False)
    assert not [f for f in result.findings if f.check_id.startswith("TRUST_")]
