"""Config for real deployments' trust: caller keys checked against the issuer's grammar, renamed roles, expected
extra principals, the Sentinel preset; and lint-trust's options (exit 2, one line, on what it cannot use)."""

from __future__ import annotations

import json

import pytest

from connector_health.cli import main
from connector_health.config import ConfigError, parse_config
from connector_health.presets import load_preset
from connector_health.trust.lint import LintInputError, lint_policy

TENANT = "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
WORKSPACE = "5d9e1c7a-3b2f-4e6d-9c8b-7a6f5e4d3c2b"


def _conn(**kw):
    return parse_config({"connectors": [kw]}).resolved_connectors()[0]


@pytest.mark.parametrize("connector, message", [
    ({"name": "gh", "preset": "github-actions", "caller": {"subject": "repo:o/r:ref:refs/heads/main"}},
     "caller: unknown key 'subject' for the github issuer; known keys: aud, sub, repository"),
    ({"name": "d", "preset": "defender-for-cloud", "customer_tenant_id": TENANT, "caller": {"tenant": TENANT}},
     "caller: unknown key 'tenant' for the defender issuer; known keys: aud, session_name, sts:RoleSessionName"),
    ({"name": "e", "preset": "eks-irsa", "issuer": "https://oidc.eks.us-east-1.amazonaws.com/id/ABC",
      "caller": {"namespace": "payments"}}, "caller: unknown key 'namespace' for the eks issuer; known keys: aud, sub"),
    ({"name": "s", "preset": "microsoft-sentinel"}, "workspace_id: preset microsoft-sentinel needs the Sentinel workspace GUID"),
    ({"name": "gh", "preset": "github-actions", "caller": {"sub": "repo:octo-org"}},
     "caller: sub='repo:octo-org' is not a github identity of the documented form (e.g. repo:"),
    ({"name": "d", "preset": "defender-for-cloud", "customer_tenant_id": TENANT,
      "caller": {"session_name": f"MicrosoftSentinel_{TENANT}"}},
     "is not a defender identity of the documented form (e.g. MicrosoftDefenderForClouds_"),
    ({"name": "d", "preset": "defender-for-cloud", "customer_tenant_id": TENANT,
      "roles": [{"name": "Cspm-Prod", "replaces": "CspmMonitor"}]}, "replaces 'CspmMonitor', which is not a role of preset"),
    ({"name": "d", "preset": "defender-for-cloud", "customer_tenant_id": TENANT,
      "roles": [{"name": "X", "expected_principals": [{"principal": "arn:aws:iam::1:user/x"}]}]}, "principal"),
])
def test_config_errors_name_the_field_and_the_fix(connector, message):
    with pytest.raises(ConfigError) as err:
        parse_config({"connectors": [connector]})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_caller_keys_of_the_grammar_are_accepted():
    conn = _conn(name="gh", preset="github-actions",
                 caller={"sub": "repo:o/r:ref:refs/heads/main", "repository_owner": "o", "session_name": "ci"})
    assert conn.caller["repository_owner"] == "o"


def test_replaced_role_keeps_the_preset_role_under_its_new_name():
    conn = _conn(name="d", preset="defender-for-cloud", customer_tenant_id=TENANT, plans=["cspm"],
                 roles=[{"name": "Cspm-Prod", "replaces": "CspmMonitorAws"}])
    [role] = conn.roles
    preset = next(r for r in load_preset("defender-for-cloud").plans["cspm"])
    assert role.name == "Cspm-Prod" and role.audience == preset.audience and role.plan == "cspm"
    assert role.expected_deny == preset.expected_deny and "CspmMonitorAws" in role.aliases


def test_expected_principal_added_by_config_and_role_aliases_bound_to_the_account():
    conn = _conn(name="d", preset="defender-for-cloud", customer_tenant_id=TENANT, plans=["containers"], roles=[
        {"name": "MDCContainersK8sDataCollectionRole",
         "expected_principals": [{"principal": "arn:aws:iam::197857026523:user/azuredefender-eks", "external_id": "abc-123"}]}])
    data = next(r for r in conn.roles if r.name == "MDCContainersK8sDataCollectionRole")
    assert [p.external_id for p in data.expected_principals] == [None, "abc-123"]
    assert data.managed_policies == ["AzureDefenderKubernetesScubaReader"]  # the preset's, kept
    bound = conn.bind_roles({"DefenderForCloud-DataCollection", "MDCContainersK8sRole"})
    names = [r.name for r in bound.roles]
    assert "DefenderForCloud-DataCollection" in names and "MDCContainersK8sRole" in names
    # The data-collection role's own audience is accepted on the provider, but not needed there.
    assert "api://1462b192-27f7-4cb9-8523-0f4ecb54b47e" in conn.accepted_audiences
    assert "api://1462b192-27f7-4cb9-8523-0f4ecb54b47e" not in conn.needed_audiences


def test_sentinel_preset_resolves_the_session_name_from_the_workspace():
    conn = _conn(name="s", preset="microsoft-sentinel", workspace_id=WORKSPACE.upper())
    assert conn.caller["session_name"] == f"MicrosoftDefenderForClouds_{WORKSPACE}"
    assert conn.issuer_key == "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
    assert conn.needed_audiences == ("api://1462b192-27f7-4cb9-8523-0f4ecb54b47e",)
    assert conn.preset.role_patterns == ["OIDC_*"] and conn.preset.sources


POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo-org/octo-repo:*"}}}]}


def test_lint_unknown_caller_key_is_exit_2_naming_the_known_keys(tmp_path, capsys):
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(POLICY))
    assert main(["lint-trust", str(path), "--caller", "owner=octo-org"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'owner'" in err and "known keys: aud, sub, repository" in err
    with pytest.raises(LintInputError, match="known keys"):
        lint_policy(POLICY, caller={"tenant": "x"})


def test_provider_audience_option_decides_the_audience_severity(tmp_path, capsys):
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(POLICY))
    assert main(["lint-trust", str(path), "--format", "json"]) == 0  # low: STS refuses other audiences anyway
    low = json.loads(capsys.readouterr().out)["findings"]
    assert {(f["check_id"], f["severity"]) for f in low} == {("TRUST_AUDIENCE_UNRESTRICTED", "low"),
                                                              ("TRUST_WILDCARD_VALUE", "low")}
    assert "defence in depth" in next(f["message"] for f in low if f["check_id"] == "TRUST_AUDIENCE_UNRESTRICTED")
    status = main(["lint-trust", str(path), "--format", "json", "--provider-audience", "sts.amazonaws.com",
                   "--provider-audience", "api://another-app", "--caller", "aud=sts.amazonaws.com"])
    high = json.loads(capsys.readouterr().out)["findings"]
    assert status == 1
    assert ("TRUST_AUDIENCE_UNRESTRICTED", "high") in {(f["check_id"], f["severity"]) for f in high}
    assert any("api://another-app" in f["message"] for f in high if f["check_id"] == "TRUST_FOREIGN_IDENTITY_ADMITTED")


def test_google_and_cognito_policies_are_analysed_not_refused(tmp_path):
    cognito = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Action": "sts:AssumeRoleWithWebIdentity"}]}
    ids = {(f.check_id, f.severity.value) for f in lint_policy(cognito)}
    assert ("TRUST_AUDIENCE_UNRESTRICTED", "high") in ids  # any identity pool of any account gets in
    google = json.loads(json.dumps(cognito).replace("cognito-identity.amazonaws.com", "accounts.google.com"))
    google["Statement"][0]["Condition"] = {"StringEquals": {"accounts.google.com:aud": "123-abc.apps.googleusercontent.com"}}
    assert lint_policy(google) == []


def test_lint_policy_is_callable_per_role_with_provider_audiences():
    """What a template scanner calls for each role: policy + issuer + the provider's ClientIdList + caller."""
    findings = lint_policy(POLICY, issuer="https://token.actions.githubusercontent.com",
                           provider_audiences=["sts.amazonaws.com"], caller={"sub": "repo:octo-org/octo-repo:ref:refs/heads/main"},
                           resource="MyStack/DeployRole")
    assert {f.check_id for f in findings} == {"TRUST_AUDIENCE_UNRESTRICTED", "TRUST_WILDCARD_VALUE"}
    assert all(f.resource_arn == "MyStack/DeployRole" for f in findings)


@pytest.mark.parametrize("written, expected, external_id, ids", [
    ("arn:aws:iam::197857026523:root", "197857026523", "ws-1", set()),  # an account id is its root ARN
    ("197857026523", "arn:aws:iam::197857026523:root", None, set()),  # any literal external id will do
    ("arn:aws:iam::197857026523:root", "197857026523", "other-id", {"TRUST_EXPECTED_IDENTITY_DENIED"}),
    ("arn:aws:iam::210987654321:root", "197857026523", "ws-1", {"TRUST_UNEXPECTED_PRINCIPAL"}),
])
def test_expected_principals_with_their_external_id(written, expected, external_id, ids):
    from connector_health.trust.analysis import ExpectedPrincipal, TrustTarget, analyze_trust
    from connector_health.policy import parse_policy
    from connector_health.trust.profiles import PROFILES

    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": written}, "Action": "sts:AssumeRole",
         "Condition": {"StringEquals": {"sts:ExternalId": "ws-1"}}},
        POLICY["Statement"][0]]}
    target = TrustTarget(issuer_key="token.actions.githubusercontent.com",
                         provider_arn=POLICY["Statement"][0]["Principal"]["Federated"], profile=PROFILES["github-actions"],
                         audiences=("sts.amazonaws.com",), provider_audiences=("sts.amazonaws.com",),
                         expected_principals=(ExpectedPrincipal(expected, external_id),))
    got = {i.check_id for i in analyze_trust(parse_policy(doc, require_principal=True), [target])}
    assert got - {"TRUST_AUDIENCE_UNRESTRICTED", "TRUST_WILDCARD_VALUE"} == ids
