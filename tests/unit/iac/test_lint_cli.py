"""`connector-health lint-trust PATH...`: inputs found by content, the exit-code contract (0/1 by --fail-on, 2 with one
line for what cannot be read), the location in every output form, and the options templates need."""

from __future__ import annotations

import json
import shutil

import pytest

from connector_health.cli import main

from .conftest import IAC

GITHUB_TEMPLATE = IAC / "cloudformation/configure-aws-credentials-federation-and-role.yml"
GITLAB_PLAN = IAC / "terraform/gitlab-existing-provider.plan.json"
POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
    "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
    "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"}}}]}


def _one_line_error(capsys, argv: list[str]) -> str:
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("connector-health: "), captured.err
    return lines[0]


def test_directory_found_by_content_not_by_name(tmp_path, lint):
    (tmp_path / "infra").mkdir()
    shutil.copy(GITHUB_TEMPLATE, tmp_path / "infra" / "ci-access.yaml")
    shutil.copy(GITLAB_PLAN, tmp_path / "output.json")  # `terraform show -json plan > output.json`
    (tmp_path / "policy-notes.json").write_text(json.dumps(POLICY))
    (tmp_path / "package.json").write_text('{"name": "x", "version": "1.0.0"}')
    (tmp_path / "workflow.yml").write_text("on: push\njobs: {}\n")
    (tmp_path / "identity-policy.json").write_text('{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}')
    (tmp_path / "node_modules" / "pkg").mkdir(parents=True)
    shutil.copy(GITHUB_TEMPLATE, tmp_path / "node_modules" / "pkg" / "template.yml")
    status, out = lint(str(tmp_path))
    kinds = sorted((i["path"].rsplit("/", 1)[-1], i["kind"]) for i in out["summary"]["inputs"])
    assert kinds == [("ci-access.yaml", "cloudformation"), ("output.json", "terraform-plan"),
                     ("policy-notes.json", "trust-policy")]
    assert status == 1  # the plan's readonly role and the policy's repo:* are high
    files = {f["location"]["file"].rsplit("/", 1)[-1] for f in out["findings"]}
    assert files == {"ci-access.yaml", "output.json", "policy-notes.json"}


def test_directory_without_anything_to_lint_is_exit_2(tmp_path, capsys):
    (tmp_path / "package.json").write_text("{}")
    line = _one_line_error(capsys, ["lint-trust", str(tmp_path)])
    assert "no CloudFormation template, CDK assembly, Terraform plan or trust policy found" in line


@pytest.mark.parametrize("name, content, reason", [
    ("broken.yaml", "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  R: [\n", "invalid YAML at line"),
    ("broken.json", '{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {,}}', "invalid JSON"),
    ("plan.json", '{"format_version": "2.0", "planned_values": {}}', "format_version '2.0' is not supported"),
    ("odd.yaml", "just: yaml\n", "not a trust policy, CloudFormation template, CDK assembly or Terraform plan"),
    ("bad.json", "{not json", "invalid JSON"),
])
def test_unreadable_named_input_is_exit_2_with_one_line(tmp_path, capsys, name, content, reason):
    path = tmp_path / name
    path.write_text(content)
    assert reason in _one_line_error(capsys, ["lint-trust", str(path)])


def test_broken_template_found_in_a_directory_is_exit_2(tmp_path, capsys):
    (tmp_path / "stack.yaml").write_text("Resources:\n  R: !Ref\n    - [\n")
    assert "stack.yaml: invalid YAML" in _one_line_error(capsys, ["lint-trust", str(tmp_path)])


def test_skip_unrecognised_passes_over_files_of_other_kinds(tmp_path, capsys):
    other = tmp_path / "docker-compose.yml"
    other.write_text("services: {}\n")
    status = main(["lint-trust", "--skip-unrecognised", str(other), "--format", "json"])
    captured = capsys.readouterr()
    assert status == 0 and json.loads(captured.out)["summary"]["skipped"] == [str(other)]
    assert "nothing to lint" in captured.err
    status = main(["lint-trust", "--skip-unrecognised", str(other), str(GITHUB_TEMPLATE), "--format", "json",
                   "--fail-on", "medium"])
    assert status == 1 and json.loads(capsys.readouterr().out)["summary"]["skipped"] == [str(other)]


def test_exit_status_follows_fail_on(capsys):
    assert main(["lint-trust", str(GITHUB_TEMPLATE), "--format", "json"]) == 0  # medium and low only
    assert main(["lint-trust", str(GITHUB_TEMPLATE), "--format", "json", "--fail-on", "medium"]) == 1
    assert main(["lint-trust", str(GITHUB_TEMPLATE), "--format", "json", "--fail-on", "critical"]) == 0
    capsys.readouterr()


def test_bad_options_are_exit_2(capsys):
    assert "--parameter 'Org'" in _one_line_error(capsys, ["lint-trust", str(GITHUB_TEMPLATE), "--parameter", "Org"])
    line = _one_line_error(capsys, ["lint-trust", str(GITHUB_TEMPLATE), "--caller", "project_path=a/b"])
    assert "no web-identity role's issuer grammar knows these keys" in line
    assert "unknown preset" in _one_line_error(capsys, ["lint-trust", str(GITHUB_TEMPLATE), "--preset", "nope"])
    assert "no such file or directory" in _one_line_error(capsys, ["lint-trust", "/nonexistent/template.yaml"])


def test_caller_applies_to_roles_whose_grammar_knows_it(capsys):
    argv = ["lint-trust", str(IAC / "cloudformation/oidc-github-gitlab-eks.yaml"), "--format", "json",
            "--caller", "sub=repo:octo-org/infra:ref:refs/heads/main"]
    main(argv)
    out = json.loads(capsys.readouterr().out)
    # GitHub roles are judged against this caller (the sub-only role, pinned to another repository, refuses it);
    # GitLab and EKS roles, whose grammars have other subjects, are judged as before.
    got = {(f["location"]["resource"], f["check_id"]) for f in out["findings"]}
    assert ("GitHubSubOnlyRole", "TRUST_EXPECTED_IDENTITY_DENIED") in got
    assert ("GitHubDeployRole", "TRUST_EXPECTED_IDENTITY_DENIED") not in got
    assert not any(r.startswith("Eks") and c == "TRUST_EXPECTED_IDENTITY_DENIED" for r, c in got)


def test_table_shows_where_each_finding_is(capsys, monkeypatch):
    monkeypatch.chdir(IAC)
    main(["lint-trust", "cloudformation/configure-aws-credentials-federation-and-role.yml"])
    out = capsys.readouterr().out
    assert "cloudformation/configure-aws-credentials-federation-and-role.yml:70 RoleGithubActions" in out
    assert "(when CreateProvider=false)" in out


def test_policy_file_keeps_its_contract_and_gains_a_location(tmp_path, capsys):
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(POLICY, indent=2))
    status = main(["lint-trust", str(path), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 1 and out["summary"]["file"] == str(path) and out["summary"]["findings"] == len(out["findings"])
    subject = next(f for f in out["findings"] if f["check_id"] == "TRUST_SUBJECT_UNRESTRICTED")
    assert subject["resource_arn"] == str(path) and not subject["message"].startswith("Role ")
    line = path.read_text().splitlines()[subject["location"]["line"] - 1]
    assert '"token.actions.githubusercontent.com:sub": "repo:*"' in line
    # Every field of the stable finding shape is still there.
    assert {"check_id", "severity", "title", "connector", "account", "resource_arn", "message", "remediation",
            "details"} <= set(subject)


def test_output_file(tmp_path, capsys):
    target = tmp_path / "report.sarif"
    status = main(["lint-trust", str(GITHUB_TEMPLATE), "--format", "sarif", "--output", str(target),
                   "--fail-on", "medium"])
    assert status == 1 and capsys.readouterr().out == ""
    assert json.loads(target.read_text())["version"] == "2.1.0"
    line = _one_line_error(capsys, ["lint-trust", str(GITHUB_TEMPLATE), "--output", str(tmp_path / "no" / "x.sarif")])
    assert "cannot write" in line


def test_duplicate_keys_in_a_template_policy_are_reported_at_their_statement(tmp_path, lint):
    path = tmp_path / "dup.yaml"
    path.write_text(
        "Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument:\n"
        "        Statement:\n          - Effect: Allow\n"
        "            Principal: {Federated: arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com}\n"
        "            Action: sts:AssumeRoleWithWebIdentity\n            Condition:\n              StringEquals:\n"
        "                token.actions.githubusercontent.com:sub: repo:acme/app:ref:refs/heads/main\n"
        "              StringEquals:\n                token.actions.githubusercontent.com:aud: sts.amazonaws.com\n")
    status, out = lint(str(path))
    duplicate = next(f for f in out["findings"] if f["check_id"] == "TRUST_DUPLICATE_KEY")
    assert status == 1 and duplicate["location"]["line"] == 7 and "StringEquals" in duplicate["message"]


def test_preset_applies_to_roles_on_its_issuer_only(lint):
    status, out = lint(str(IAC / "cloudformation/oidc-github-gitlab-eks.yaml"), "--preset", "github-actions")
    connectors = {f["location"]["resource"]: f["connector"] for f in out["findings"]}
    assert connectors["GitHubAnyOwnerRole"] == "github-actions" and connectors["GitLabRole"] == "gitlab"
    assert connectors["EksAnyNamespaceRole"] == "eks-irsa"
    status, out = lint(str(IAC / "cloudformation/sentinel"), "--preset", "microsoft-sentinel")
    assert status == 1 and [f["connector"] for f in out["findings"]] == ["microsoft-sentinel"]


def _role_template(tmp_path, principal: str, condition: str = "") -> str:
    path = tmp_path / "role.yaml"
    path.write_text(
        "Parameters:\n  ProviderArn: {Type: String}\nResources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n"
        "      AssumeRolePolicyDocument:\n        Statement:\n          - Effect: Allow\n"
        f"            Principal: {{Federated: {principal}}}\n"
        "            Action: [sts:AssumeRoleWithWebIdentity, sts:AssumeRoleWithSAML]\n" + condition)
    return str(path)


def test_unresolvable_provider_is_judged_by_its_condition_keys_or_issuer(tmp_path, lint):
    condition = ("            Condition:\n              StringEquals:\n"
                 "                gitlab.com:sub: project_path:mygroup/app:ref_type:branch:ref:main\n")
    _, out = lint(_role_template(tmp_path, "!Ref ProviderArn", condition))
    assert out["summary"]["roles"][0]["issuers"] == ["gitlab.com"]
    assert "judged as the provider its condition keys name (gitlab.com)" in out["findings"][0]["message"]
    # No condition names an issuer: --issuer does; without it the provider is of unknown kind and nothing pins.
    _, out = lint(_role_template(tmp_path, "!Ref ProviderArn"), "--issuer", "https://token.actions.githubusercontent.com")
    assert out["summary"]["roles"][0]["issuers"] == ["token.actions.githubusercontent.com"]
    status, out = lint(_role_template(tmp_path, "!Ref ProviderArn"))
    assert status == 1 and "pass --issuer URL to name it" in out["findings"][0]["message"]


def test_saml_role_is_judged_as_any_role(tmp_path, lint):
    status, out = lint(_role_template(tmp_path, "arn:aws:iam::123456789012:saml-provider/Okta"), "--fail-on", "info")
    assert status == 0 and out["findings"] == [] and out["summary"]["roles"][0]["kind"] == "other"
    path = tmp_path / "role.yaml"
    path.write_text(path.read_text().replace("Principal: {Federated: arn:aws:iam::123456789012:saml-provider/Okta}",
                                             'Principal: "*"'))
    status, out = lint(str(path))
    assert status == 1 and {f["check_id"] for f in out["findings"]} == {"TRUST_WILDCARD_PRINCIPAL"}


def test_cdk_path_metadata_is_part_of_the_location(tmp_path, lint):
    template = {"Resources": {"DeployRoleA1B2C3": {
        "Type": "AWS::IAM::Role", "Metadata": {"aws:cdk:path": "CiStack/DeployRole/Resource"},
        "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [POLICY["Statement"][0]]}}}}}
    (tmp_path / "CiStack.template.json").write_text(json.dumps(template, indent=1))
    (tmp_path / "manifest.json").write_text(json.dumps({"version": "53.0.0", "artifacts": {"CiStack": {
        "type": "aws:cloudformation:stack", "properties": {"templateFile": "CiStack.template.json"},
        "displayName": "CiStack"}}}))
    status, out = lint(str(tmp_path))
    assert status == 1 and out["summary"]["inputs"][0]["kind"] == "cdk-assembly"
    location = out["findings"][0]["location"]
    assert location["cdk_path"] == "CiStack/DeployRole/Resource" and location["stack"] == "CiStack"


def test_cdk_stages_and_nested_stack_templates_are_all_read(tmp_path, lint):
    def role_template(sub: str) -> dict:
        statement = json.loads(json.dumps(POLICY["Statement"][0]))
        statement["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"] = sub
        return {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}}}}}

    stage = tmp_path / "assembly-Prod"
    stage.mkdir()
    (stage / "ProdApp.template.json").write_text(json.dumps(role_template("repo:octo-org/*")))
    (stage / "manifest.json").write_text(json.dumps({"version": "53.0.0", "artifacts": {"ProdApp": {
        "type": "aws:cloudformation:stack", "properties": {"templateFile": "ProdApp.template.json"}}}}))
    (tmp_path / "App.template.json").write_text(json.dumps(role_template("repo:octo-org/app:ref:refs/heads/main")))
    (tmp_path / "AppNestedStackAppNestedStackResource1234.nested.template.json").write_text(
        json.dumps(role_template("repo:*")))
    (tmp_path / "manifest.json").write_text(json.dumps({"version": "53.0.0", "artifacts": {
        "App": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "App.template.json"}},
        "assembly-Prod": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Prod"}},
        "Escape": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "../elsewhere"}}}}))
    status, out = lint(str(tmp_path))
    assert out["summary"]["inputs"][0]["templates"] == 3
    by_file = {f["location"]["file"].rsplit("/", 1)[-1]: f["check_id"] for f in out["findings"]
               if f["check_id"] in ("TRUST_WILDCARD_VALUE", "TRUST_SUBJECT_UNRESTRICTED")}
    assert by_file == {"ProdApp.template.json": "TRUST_WILDCARD_VALUE",
                       "AppNestedStackAppNestedStackResource1234.nested.template.json": "TRUST_SUBJECT_UNRESTRICTED"}
    assert status == 1


def test_plan_role_known_after_apply_uses_the_document_read_while_planning(tmp_path, lint):
    plan = json.loads(GITLAB_PLAN.read_text())
    role = next(r for r in plan["planned_values"]["root_module"]["resources"] if r["address"] == "aws_iam_role.cicd")
    del role["values"]["assume_role_policy"]
    change = next(c for c in plan["resource_changes"] if c["address"] == "aws_iam_role.cicd")
    change["change"]["after_unknown"]["assume_role_policy"] = True
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    _, out = lint(str(tmp_path / "plan.json"))
    cicd = {f["check_id"] for f in out["findings"] if f["location"]["resource"] == "aws_iam_role.cicd"}
    assert cicd == {"TRUST_WILDCARD_VALUE", "TRUST_AUDIENCE_UNRESTRICTED"}
