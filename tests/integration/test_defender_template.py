"""Microsoft's published Defender onboarding template, seeded into the sandbox as CloudFormation or Terraform
deploys it, checked with the config a customer would write (a `defender` connector and one for the CIEM role on
the customer's own tenant); plus what real deployments add: renamed roles and Sentinel on the same provider."""

from __future__ import annotations

import json

import pytest
import requests
import yaml

from connector_health.cli import main
from connector_health.config import parse_config
from connector_health.engine import scan_account
from connector_health.sandbox.account import CUSTOMER_TENANT, onboarding_template, seed_onboarding_template
from connector_health.sandbox.issuer import LocalIssuer

pytestmark = pytest.mark.integration
SENTINEL_AUD = "api://1462b192-27f7-4cb9-8523-0f4ecb54b47e"
WORKSPACE = "5d9e1c7a-3b2f-4e6d-9c8b-7a6f5e4d3c2b"
CIEM_SP = onboarding_template()["variables"]["ciem_sp_client_id"]


@pytest.fixture
def ciem_issuer(sandbox):
    """The customer's own Entra tenant (the CIEM provider's issuer): a second local issuer on the sandbox's PKI."""
    issuer = LocalIssuer(sandbox.pki, tenant=CUSTOMER_TENANT).start()
    yield issuer
    issuer.stop()


def _seed(sandbox, ciem_issuer, **kwargs):
    requests.post(f"{sandbox.endpoint_url}/moto-api/reset", timeout=10)
    return seed_onboarding_template(sandbox.client("iam"), sandbox.issuer.url, sandbox.pki.thumbprint,
                                    client_tenant=CUSTOMER_TENANT, ciem_issuer_url=ciem_issuer.url, **kwargs)


def _customer_config(sandbox, ciem_issuer, **defender) -> dict:
    """What a customer writes: the Defender connector (issuer overridden only because this is the sandbox) and the
    CIEM role on their own tenant as an entra-app connector."""
    data = sandbox.config_dict()
    data["connectors"][0].update(defender)
    data["connectors"].append({
        "name": "defender-ciem", "preset": "entra-app", "issuer": ciem_issuer.url, "customer_tenant_id": CUSTOMER_TENANT,
        "audiences": ["api://mciem-aws-oidc-app"],
        "roles": [{"name": "DefenderForCloud-OidcCiem", "audience": "api://mciem-aws-oidc-app"}],
        "caller": {"sub": CIEM_SP},
    })
    return data


def test_template_as_cloudformation_deploys_it_is_clean(sandbox, ciem_issuer, tmp_path, capsys):
    seeded = _seed(sandbox, ciem_issuer)
    # Everything the template creates, under the Feb 2024 names: the preset finds the containers roles by alias.
    assert {"DefenderForCloud-Containers-K8s", "DefenderForCloud-DataCollection", "DefenderForCloud-OidcCiem",
            "AWS-MDCSetup-HostMgmtRole-us-east-1-MDCSetup"} <= set(seeded["roles"])
    path = tmp_path / "connector-health.yaml"
    path.write_text(yaml.safe_dump(_customer_config(sandbox, ciem_issuer)), encoding="utf-8")
    status = main(["check", "--config", str(path), "--format", "json", "--fail-on", "info"])
    out = json.loads(capsys.readouterr().out)
    assert out["findings"] == [] and status == 0, [(f["check_id"], f["message"]) for f in out["findings"]]
    # The probes reached the signature stage for both providers (the template's issuers are healthy).
    assert out["summary"]["connectors"] == ["defender", "defender-ciem"]


def test_template_as_terraform_applies_it_leaves_the_cspm_deny_unattached(sandbox, ciem_issuer):
    _seed(sandbox, ciem_issuer, deployer="terraform")
    result = scan_account(parse_config(_customer_config(sandbox, ciem_issuer)), exchanges=False)
    # AwsOnboarding.tf creates CspmMonitorAwsDenyPolicy (count = !least_privilege) but attaches it only when
    # least_privilege is true (count = least_privilege): the default apply leaves CSPM without its billing deny.
    assert [(f.check_id, f.details.get("role")) for f in result.findings] == [("PERMS_EXPECTED_DENY_MISSING", "CspmMonitorAws")]


def test_renamed_role_replaces_the_preset_role(sandbox, ciem_issuer):
    _seed(sandbox, ciem_issuer, role_names={"CspmMonitorAws": "Cspm-Prod"})
    plain = scan_account(parse_config(_customer_config(sandbox, ciem_issuer)), exchanges=False)
    assert {(f.check_id, f.details.get("role")) for f in plain.findings} == {("TRUST_ROLE_MISSING", "CspmMonitorAws")}
    config = _customer_config(sandbox, ciem_issuer, roles=[{"name": "Cspm-Prod", "replaces": "CspmMonitorAws"}])
    assert scan_account(parse_config(config), exchanges=False).findings == []


def _sentinel_trust(arn: str, key: str, session_prefix: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{key}:aud": SENTINEL_AUD, "sts:RoleSessionName": f"{session_prefix}{WORKSPACE}"}}}]})


def test_sentinel_on_the_shared_provider(sandbox, ciem_issuer):
    _seed(sandbox, ciem_issuer)
    # Sentinel's CloudFormation role on the provider Defender created: Microsoft's docs say to add Sentinel's audience
    # to the existing provider (moto has no AddClientIDToOpenIDConnectProvider: the provider is recreated with it).
    iam = sandbox.client("iam")
    key = sandbox.issuer.url.removeprefix("https://")
    arn = next(p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] if key in p["Arn"])
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    iam.create_open_id_connect_provider(Url=sandbox.issuer.url, ClientIDList=[*provider["ClientIDList"], SENTINEL_AUD],
                                        ThumbprintList=provider["ThumbprintList"])
    iam.create_role(RoleName="OIDC_MicrosoftSentinelS3CloudTrailRole",
                    AssumeRolePolicyDocument=_sentinel_trust(arn, key, "MicrosoftDefenderForClouds_"))
    config = _customer_config(sandbox, ciem_issuer)
    config["connectors"].append({"name": "sentinel", "preset": "microsoft-sentinel", "issuer": sandbox.issuer.url,
                                 "workspace_id": WORKSPACE})
    assert scan_account(parse_config(config), exchanges=False).findings == []

    # The template Microsoft still publishes writes the pre-March-2025 prefix: only Sentinel's connector reports it.
    iam.update_assume_role_policy(RoleName="OIDC_MicrosoftSentinelS3CloudTrailRole",
                                  PolicyDocument=_sentinel_trust(arn, key, "MicrosoftSentinel_"))
    findings = scan_account(parse_config(config), exchanges=False).findings
    assert [(f.check_id, f.connector, f.details.get("role")) for f in findings] == [
        ("TRUST_EXPECTED_IDENTITY_DENIED", "sentinel", "OIDC_MicrosoftSentinelS3CloudTrailRole")]
    assert f"MicrosoftDefenderForClouds_{WORKSPACE}" in findings[0].message
