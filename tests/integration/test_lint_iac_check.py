"""What lint-trust says of a template before deployment is what `check` says of the deployed roles: the GitHub roles
of tests/iac/cloudformation/oidc-github-gitlab-eks.yaml, resolved as lint-trust resolves them (one Fn::If variant
chosen by --parameter), are created in the sandbox account next to a provider with the template's ClientIdList, their
issuer replaced by the sandbox's local issuer, and checked with the connector a GitHub user would configure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from connector_health.config import parse_config
from connector_health.engine import scan_account
from connector_health.findings import Severity
from connector_health.iac.cloudformation import Template, TemplateSet, read_roles
from connector_health.iac.source import load_yaml, plain
from connector_health.trust.iac import LintOptions, lint_paths

pytestmark = pytest.mark.integration
TEMPLATE = Path(__file__).resolve().parents[1] / "iac" / "cloudformation" / "oidc-github-gitlab-eks.yaml"
GITHUB = "token.actions.githubusercontent.com"
ROLES = ("GitHubDeployRole", "GitHubSubOnlyRole", "GitHubAnyOwnerRole")


def _worst(findings, role_of) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for f in findings:
        role = role_of(f)
        if role in ROLES and f.check_id.startswith("TRUST_"):
            got = out.setdefault(role, {})
            if f.check_id not in got or f.severity.rank > Severity(got[f.check_id]).rank:
                got[f.check_id] = f.severity.value
    return out


@pytest.mark.parametrize("branch", ["main", "dev"])
def test_template_verdict_equals_the_deployed_verdict(sandbox, branch):
    parameters = {"DeployBranch": branch, "GitHubOrg": "octo-org"}
    linted = lint_paths([TEMPLATE], LintOptions(parameters=parameters))
    before = _worst(linted.findings, lambda f: f.location["resource"])
    assert before["GitHubAnyOwnerRole"]  # the role is wide in both variants (repo:* or repo:octo-org/*)

    roles, providers = read_roles(TemplateSet([Template(TEMPLATE, load_yaml(TEMPLATE.read_text(), "t"), "t")],
                                              parameters))
    [provider] = [p for p in providers if p.issuer_key == GITHUB]
    requests.post(f"{sandbox.endpoint_url}/moto-api/reset", timeout=10)
    iam = sandbox.client("iam")
    arn = iam.create_open_id_connect_provider(Url=sandbox.issuer.url, ClientIDList=list(provider.audiences),
                                              ThumbprintList=[sandbox.pki.thumbprint])["OpenIDConnectProviderArn"]
    local = sandbox.issuer.url.removeprefix("https://")
    for role in roles:
        if role.resource in ROLES:
            text = json.dumps(plain(role.policy))
            text = text.replace(f"arn:aws:iam::111122223333:oidc-provider/{GITHUB}", arn).replace(f'"{GITHUB}:', f'"{local}:')
            iam.create_role(RoleName=role.resource, AssumeRolePolicyDocument=text)
    connector = {"name": "ci", "preset": "github-actions", "issuer": sandbox.issuer.url,
                 "roles": [{"name": name} for name in ROLES]}
    result = scan_account(parse_config(sandbox.config_dict() | {"connectors": [connector]}), exchanges=False)
    after = _worst(result.findings, lambda f: f.details.get("role"))
    assert after == before, f"check on the deployed roles: {after}; lint-trust on the template: {before}"
    assert not [f for f in result.findings if f.check_id == "TRUST_ROLE_MISSING"]
