"""lint-trust on published and documented-shape templates, a CDK assembly and Terraform plans (tests/iac/SOURCES.md
gives each one's source and why its verdict is what AWS's semantics give): exactly the expected findings, each located
at the line of what it is about."""

from __future__ import annotations

import json
import shutil

import pytest

from .conftest import IAC, verdicts

GITHUB_ROLE = "RoleGithubActions"
ANY_VARIANT = ""


def _line(path, number: int) -> str:
    return path.read_text(encoding="utf-8").splitlines()[number - 1]


def test_configure_aws_credentials_template(lint, monkeypatch):
    monkeypatch.chdir(IAC)
    path = "cloudformation/configure-aws-credentials-federation-and-role.yml"
    status, out = lint(path)
    assert status == 0  # nothing at or above high
    assert verdicts(out) == {
        (GITHUB_ROLE, "TRUST_WILDCARD_VALUE", "medium", ANY_VARIANT),
        (GITHUB_ROLE, "TRUST_AUDIENCE_UNRESTRICTED", "low", "CreateProvider=true"),
        (GITHUB_ROLE, "TRUST_AUDIENCE_UNRESTRICTED", "low", "CreateProvider=false"),
    }
    wildcard = next(f for f in out["findings"] if f["check_id"] == "TRUST_WILDCARD_VALUE")
    assert wildcard["location"]["file"] == path
    assert "token.actions.githubusercontent.com:sub: !Sub repo:" in _line(IAC / path, wildcard["location"]["line"])
    # Both defaults ('*') and the placeholder for the parameter without one are named in the finding.
    assert "RepositoryName = its default '*'" in wildcard["message"]
    assert "parameter GitHubOrganization has no value here" in wildcard["message"]
    # The created provider lists the role's audiences (low, judged with that list); without it the list is unknown.
    audience = {f["location"]["variant"]: f for f in out["findings"] if f["check_id"] == "TRUST_AUDIENCE_UNRESTRICTED"}
    assert "ClientIDList (sts.amazonaws.com, https://github.com/githuborganization/*)" in audience["CreateProvider=true"]["message"]
    assert "that list is unknown here" in audience["CreateProvider=false"]["message"]
    assert "Effect: Allow" in _line(IAC / path, audience["CreateProvider=true"]["location"]["line"])

    status, out = lint(path, "--parameter", "GitHubOrganization=octo-org", "--parameter", "RepositoryName=infra",
                       "--parameter", "BranchName=main", "--parameter", "UseExistingProvider=yes")
    # UseExistingProvider=yes decides CreateProvider: one variant, no branch label, only the low finding left.
    assert verdicts(out) == {(GITHUB_ROLE, "TRUST_AUDIENCE_UNRESTRICTED", "low", ANY_VARIANT)}


def test_bamboo_eks_role_keeps_the_lines_of_its_json_text(lint, monkeypatch):
    monkeypatch.chdir(IAC)
    path = "cloudformation/bamboo-eks-irsa-role.yaml"
    status, out = lint(path, "--parameter", "ClusterOIDCURL=oidc.eks.eu-west-1.amazonaws.com/id/B3BD129E029B5A85B357FE797F46BE4D")
    assert status == 0 and verdicts(out) == {("RuntimePodRole", "TRUST_AUDIENCE_UNRESTRICTED", "low", ANY_VARIANT)}
    [finding] = out["findings"]
    assert out["summary"]["roles"][0]["issuers"] == ["oidc.eks.eu-west-1.amazonaws.com/id/B3BD129E029B5A85B357FE797F46BE4D"]
    # The statement's own line inside the `!Sub |` block, not the property's.
    assert _line(IAC / path, finding["location"]["line"]).strip() == "{"
    assert '"Effect": "Allow"' in _line(IAC / path, finding["location"]["line"] + 1)
    # Without the parameter the issuer is a placeholder the finding names; the verdict is the same.
    _, out = lint(path)
    assert verdicts(out) == {("RuntimePodRole", "TRUST_AUDIENCE_UNRESTRICTED", "low", ANY_VARIANT)}
    assert "pass --parameter ClusterOIDCURL=VALUE" in out["findings"][0]["message"]


def test_sentinel_templates_old_session_prefix(lint, monkeypatch, tmp_path):
    monkeypatch.chdir(IAC)
    status, out = lint("cloudformation/sentinel", "--parameter", "SentinelWorkspaceId=5d9e1c7a-3b2f-4e6d-9c8b-7a6f5e4d3c2b")
    assert status == 1
    assert verdicts(out) == {("SentinelWebIdentityBasedRole", "TRUST_EXPECTED_IDENTITY_DENIED", "critical", ANY_VARIANT)}
    finding = out["findings"][0]
    assert "MicrosoftSentinel_5d9e1c7a-3b2f-4e6d-9c8b-7a6f5e4d3c2b" in finding["message"]
    assert finding["location"]["file"] == "cloudformation/sentinel/template-2-aws-cloudtrail-resources-deployment.json"
    assert '"AssumeRolePolicyDocument"' in _line(IAC / "cloudformation/sentinel" /
                                                 "template-2-aws-cloudtrail-resources-deployment.json",
                                                 finding["location"]["line"] - 1)
    # The provider of template 1 is linked across files: the role is judged with its one audience.
    assert {i["kind"] for i in out["summary"]["inputs"]} == {"cloudformation"}

    # The same template with the current prefix and no value for the workspace: the placeholder stands for a GUID
    # (what the grammar expects after the prefix), so a documented good setup is no false alarm.
    fixed = tmp_path / "sentinel"
    shutil.copytree(IAC / "cloudformation/sentinel", fixed)
    role = fixed / "template-2-aws-cloudtrail-resources-deployment.json"
    role.write_text(role.read_text(encoding="utf-8").replace("MicrosoftSentinel_${", "MicrosoftDefenderForClouds_${"),
                    encoding="utf-8")
    status, out = lint(str(fixed), "--fail-on", "low")
    assert status == 0 and out["findings"] == []


def test_oidc_github_gitlab_eks(lint, monkeypatch):
    monkeypatch.chdir(IAC)
    path = "cloudformation/oidc-github-gitlab-eks.yaml"
    status, out = lint(path)
    assert status == 1
    assert verdicts(out) == {
        ("GitHubSubOnlyRole", "TRUST_AUDIENCE_UNRESTRICTED", "low", ANY_VARIANT),
        ("GitHubAnyOwnerRole", "TRUST_SUBJECT_UNRESTRICTED", "high", "OnMain=true"),
        ("GitHubAnyOwnerRole", "TRUST_FOREIGN_IDENTITY_ADMITTED", "high", "OnMain=true"),
        ("GitHubAnyOwnerRole", "TRUST_WILDCARD_VALUE", "medium", "OnMain=false"),
        ("GitLabRole", "TRUST_AUDIENCE_UNRESTRICTED", "low", ANY_VARIANT),
        ("EksAnyNamespaceRole", "TRUST_SUBJECT_UNRESTRICTED", "high", ANY_VARIANT),
        ("EksAnyNamespaceRole", "TRUST_FOREIGN_IDENTITY_ADMITTED", "high", ANY_VARIANT),
        ("EksAnyNamespaceRole", "TRUST_AUDIENCE_UNRESTRICTED", "low", ANY_VARIANT),
        ("ImportedSubjectRole", "TRUST_SUBJECT_UNRESTRICTED", "high", ANY_VARIANT),
        ("ImportedSubjectRole", "TRUST_FOREIGN_IDENTITY_ADMITTED", "high", ANY_VARIANT),
    }
    by = {(f["location"]["resource"], f["check_id"], f["location"].get("variant", "")): f for f in out["findings"]}
    # Located on the condition key the finding is about.
    owner = by[("GitHubAnyOwnerRole", "TRUST_SUBJECT_UNRESTRICTED", "OnMain=true")]
    assert "token.actions.githubusercontent.com:sub: !If [OnMain" in _line(IAC / path, owner["location"]["line"])
    assert owner["message"].startswith("Role GitHubAnyOwnerRole (when OnMain=true): ")
    eks = by[("EksAnyNamespaceRole", "TRUST_SUBJECT_UNRESTRICTED", "")]
    assert '":sub": "system:serviceaccount:*:api"' in _line(IAC / path, eks["location"]["line"]).replace("${Issuer}", "")
    # The EKS issuer comes from the cluster the template creates: a placeholder issuer of the EKS kind.
    assert "the issuer URL of EKS cluster Cluster is known only at deployment" in eks["message"]
    # A value nothing can see pins nothing, and the finding says so.
    imported = by[("ImportedSubjectRole", "TRUST_SUBJECT_UNRESTRICTED", "")]
    assert "could not be resolved (Fn::ImportValue shared-ci-subject)" in imported["message"]
    assert "could be any value a caller chooses" in imported["message"]
    kinds = {r["resource"]: r["kind"] for r in out["summary"]["roles"]}
    assert kinds["BuildFunctionRole"] == "other" and kinds["EksServiceAccountRole"] == "web-identity"
    eks_role = next(r for r in out["summary"]["roles"] if r["resource"] == "EksServiceAccountRole")
    assert eks_role["issuers"][0].startswith("oidc.eks.us-east-1.amazonaws.com/id/")


def test_one_audience_provider_keeps_a_session_only_role_low(lint, monkeypatch, tmp_path):
    """The issue's acceptance case: a template whose provider lists one audience does not get the high audience
    finding its roles (pinned by session name only) get without it."""
    monkeypatch.chdir(IAC)
    status, out = lint("cloudformation/defender-cspm-only.yaml")
    assert status == 0 and verdicts(out) == {("CspmMonitorAws", "TRUST_AUDIENCE_UNRESTRICTED", "low", ANY_VARIANT)}
    assert "ClientIDList (api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479)" in out["findings"][0]["message"]

    text = (IAC / "cloudformation/defender-cspm-only.yaml").read_text(encoding="utf-8")
    head, _, rest = text.partition("  DefenderProvider:")
    without = head + rest[rest.index("  CspmMonitorAws:"):].replace(
        "!Ref DefenderProvider", "arn:aws:iam::111122223333:oidc-provider/sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/")
    (tmp_path / "role-only.yaml").write_text(without, encoding="utf-8")
    status, out = lint(str(tmp_path / "role-only.yaml"))
    assert status == 1 and verdicts(out) == {
        ("CspmMonitorAws", "TRUST_AUDIENCE_UNRESTRICTED", "high", ANY_VARIANT),
        ("CspmMonitorAws", "TRUST_FOREIGN_IDENTITY_ADMITTED", "high", ANY_VARIANT)}
    # The preset knows the role by its name: the message names its own audience, not a guess.
    assert "the role's own audience (api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479)" in out["findings"][0]["message"] + \
        out["findings"][1]["message"]


def test_cdk_assembly_extract_is_clean_and_every_role_is_read(lint, monkeypatch):
    monkeypatch.chdir(IAC)
    status, out = lint("cdk-eks-service-account", "--fail-on", "info")
    assert status == 0 and out["findings"] == []
    roles = {r["resource"]: r for r in out["summary"]["roles"]}
    assert len(roles) == 7 and out["summary"]["inputs"] == [
        {"path": "cdk-eks-service-account", "kind": "cdk-assembly", "templates": 1, "roles": 7}]
    irsa = roles["ClustermyserviceaccountRole11FFD0A4"]
    assert irsa["kind"] == "web-identity" and irsa["issuers"][0].startswith("oidc.eks.us-east-1.amazonaws.com/id/")


def test_cdk_assembly_service_account_widened_in_its_cfn_json(lint, tmp_path):
    """The conditions CDK renders through Custom::AWSCDKCfnJson are read: a namespace wildcard there is caught."""
    copy = tmp_path / "cdk.out"
    shutil.copytree(IAC / "cdk-eks-service-account", copy)
    path = copy / "aws-eks-service-account-sdk-calls-test.template.json"
    template = json.loads(path.read_text(encoding="utf-8"))
    parts = template["Resources"]["ClustermyserviceaccountConditionJson260229E4"]["Properties"]["Value"]["Fn::Join"][1]
    parts[-1] = parts[-1].replace("system:serviceaccount:default:", "system:serviceaccount:*:")
    template["Resources"]["ClustermyserviceaccountRole11FFD0A4"]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"][0]["Condition"] = {"StringLike": {"Fn::GetAtt": ["ClustermyserviceaccountConditionJson260229E4",
                                                                      "Value"]}}
    path.write_text(json.dumps(template, indent=1), encoding="utf-8")
    status, out = lint(str(copy))
    assert status == 1
    assert ("ClustermyserviceaccountRole11FFD0A4", "TRUST_SUBJECT_UNRESTRICTED", "high", ANY_VARIANT) in verdicts(out)


TERRAFORM = [
    ("defender-onboarding-awsonboarding-tf.plan.json", 0, set()),
    ("github-jsonencode-new-provider.plan.json", 0, {("aws_iam_role.deploy", "MONITOR_CHECK_ERROR", "medium", "")}),
    ("eks-irsa-module-deferred-document.plan.json", 1, {
        ('module.irsa["batch"].aws_iam_role.this', "TRUST_SUBJECT_UNRESTRICTED", "high", ""),
        ('module.irsa["batch"].aws_iam_role.this', "TRUST_FOREIGN_IDENTITY_ADMITTED", "high", ""),
        ('module.irsa["reports"].aws_iam_role.this', "TRUST_SUBJECT_UNRESTRICTED", "high", ""),
        ('module.irsa["reports"].aws_iam_role.this', "TRUST_FOREIGN_IDENTITY_ADMITTED", "high", "")}),
    ("gitlab-existing-provider.plan.json", 1, {
        ("aws_iam_role.cicd", "TRUST_WILDCARD_VALUE", "medium", ""),
        ("aws_iam_role.cicd", "TRUST_AUDIENCE_UNRESTRICTED", "low", ""),
        ("aws_iam_role.readonly", "TRUST_SUBJECT_UNRESTRICTED", "high", ""),
        ("aws_iam_role.readonly", "TRUST_FOREIGN_IDENTITY_ADMITTED", "high", "")}),
]


@pytest.mark.parametrize("name, status, expected", TERRAFORM, ids=[t[0] for t in TERRAFORM])
def test_terraform_plans(lint, monkeypatch, name, status, expected):
    monkeypatch.chdir(IAC / "terraform")
    got_status, out = lint(name, "--fail-on", "high")
    assert (got_status, verdicts(out)) == (status, expected)
    for finding in out["findings"]:
        assert finding["location"]["file"] == name and "line" not in finding["location"]


def test_terraform_locations_name_the_address_and_the_policy_document(lint, monkeypatch):
    monkeypatch.chdir(IAC / "terraform")
    _, out = lint("eks-irsa-module-deferred-document.plan.json")
    reports = next(f for f in out["findings"] if f["location"]["resource"] == 'module.irsa["reports"].aws_iam_role.this'
                   and f["check_id"] == "TRUST_SUBJECT_UNRESTRICTED")
    assert reports["location"]["source_document"] == 'module.irsa["reports"].data.aws_iam_policy_document.assume'
    assert "known after apply" in reports["message"] and "pins nothing" in reports["message"]
    # The deferred document's principal is linked to the provider the module was given (no inference note).
    batch = next(f for f in out["findings"] if f["location"]["resource"] == 'module.irsa["batch"].aws_iam_role.this')
    assert "could not be resolved" not in batch["message"]
    roles = {r["resource"]: r for r in out["summary"]["roles"]}
    assert roles['module.irsa["api"].aws_iam_role.this']["issuers"] == [
        "oidc.eks.eu-west-1.amazonaws.com/id/B3BD129E029B5A85B357FE797F46BE4D"]

    _, out = lint("github-jsonencode-new-provider.plan.json")
    [unknown] = out["findings"]
    assert "known only after apply" in unknown["message"] and "aws_iam_openid_connect_provider.github.arn" in \
        unknown["message"] and unknown["title"] == "Trust policy not linted"
    assert out["summary"]["roles"] == [{"file": "github-jsonencode-new-provider.plan.json",
                                        "resource": "aws_iam_role.deploy", "kind": "not-linted", "issuers": []}]


def test_defender_plan_roles_and_modules_are_all_read(lint, monkeypatch):
    monkeypatch.chdir(IAC / "terraform")
    _, out = lint("defender-onboarding-awsonboarding-tf.plan.json")
    kinds = {r["resource"]: r["kind"] for r in out["summary"]["roles"]}
    assert len(kinds) == 15
    assert kinds["module.AzureDefenderKinesisToS3Role.aws_iam_role.this[0]"] == "other"
    assert kinds["aws_iam_role.CiemOidcRole"] == "web-identity"
    assert sum(k == "web-identity" for k in kinds.values()) == 11
