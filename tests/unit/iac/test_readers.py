"""The readers behind lint-trust on infrastructure as code: loaders that keep lines, CloudFormation's intrinsics and
conditions, Terraform plan addresses and unknown values."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector_health.iac.cloudformation import Template, TemplateSet, decide, read_roles
from connector_health.iac.model import MarkedDict, Placeholder, unresolved_origins
from connector_health.iac.source import SourceError, load_json, load_yaml, plain
from connector_health.iac.terraform import document_from_blocks, module_instance, split_address


# ---------------------------------------------------------------------------------------------- loaders

def test_json_loader_keeps_lines_and_repeated_keys():
    tree = load_json('{\n "a": [1,\n  "x"],\n "b": {"c": "d",\n  "C": "e"}\n}', "t.json")
    assert tree.line == 1 and tree["a"].line == 2 and tree["a"][1].line == 3
    assert tree["b"].keys_written == ["c", "C"] and tree["b"].key_lines == {"c": 4, "C": 5}
    with pytest.raises(SourceError, match=r"t.json: invalid JSON at line 1 column 7"):
        load_json('{"a": }', "t.json")


def test_yaml_loader_reads_cloudformation_short_forms():
    tree = load_yaml(
        "A: !Ref P\n"
        "B: !GetAtt Res.Attr.Nested\n"
        "C: !Sub ['${X}', {X: !ImportValue E}]\n"
        "D: !If [Cond, !Join ['', [a, !Select [0, !Split [',', 'b,c']]]], !Ref 'AWS::NoValue']\n"
        "E: !FindInMap [M, !Ref 'AWS::Region', k]\n"
        "F: !Base64 text\n"
        "G: !Equals [a, b]\n"
        "Version: 2012-10-17\n"
        "H: !Condition IsProd\n", "t.yaml")
    assert plain(tree) == {
        "A": {"Ref": "P"}, "B": {"Fn::GetAtt": ["Res", "Attr.Nested"]},
        "C": {"Fn::Sub": ["${X}", {"X": {"Fn::ImportValue": "E"}}]},
        "D": {"Fn::If": ["Cond", {"Fn::Join": ["", ["a", {"Fn::Select": [0, {"Fn::Split": [",", "b,c"]}]}]]},
                         {"Ref": "AWS::NoValue"}]},
        "E": {"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "k"]}, "F": {"Fn::Base64": "text"},
        "G": {"Fn::Equals": ["a", "b"]}, "Version": "2012-10-17", "H": {"Condition": "IsProd"}}
    assert tree["B"].line == 2 and tree.key_lines["Version"] == 8


def test_yaml_loader_errors_are_one_line_with_the_line():
    with pytest.raises(SourceError, match=r"t.yaml: invalid YAML at line 2"):
        load_yaml("a: 1\nb: c: d\n", "t.yaml")


# ---------------------------------------------------------------------------------------------- CloudFormation

def _roles(text: str, parameters: dict[str, str] | None = None, *more: str):
    templates = [Template(Path(f"t{i}.yaml"), load_yaml(t, f"t{i}.yaml"), stack=f"s{i}")
                 for i, t in enumerate((text, *more))]
    return read_roles(TemplateSet(templates, parameters or {}))


ROLE = """
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {{Federated: {principal}}}
            Action: sts:AssumeRoleWithWebIdentity
            Condition:
              StringEquals: {{"token.actions.githubusercontent.com:sub": {sub}}}
"""


def _template(principal: str, sub: str, head: str = "", resources: str = "") -> str:
    return f"{head}\nResources:{resources}{ROLE.format(principal=principal, sub=sub)}"


def _sub(role) -> object:
    return role.policy["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]


def test_parameters_explicit_default_or_placeholder():
    head = "Parameters:\n  Org: {Type: String, Default: acme}\n  Repo: {Type: String}\n  Empty: {Type: String, Default: ''}"
    roles, _ = _roles(_template("arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com",
                                "!Sub 'repo:${Org}/${Repo}:${Empty}'", head))
    assert _sub(roles[0]) == "repo:acme/repo:empty"
    assert roles[0].placeholders == {"repo": "parameter Repo", "empty": "parameter Empty"}
    assert "parameter Org = its default 'acme'" in roles[0].assumptions
    roles, _ = _roles(_template("x", "!Sub 'repo:${Org}/${Repo}'", head), {"Repo": "infra", "Org": "octo"})
    assert _sub(roles[0]) == "repo:octo/infra" and not roles[0].placeholders
    roles, _ = _roles(_template("x", "!Ref Repo", head))
    assert isinstance(_sub(roles[0]), Placeholder) and _sub(roles[0]).origin == "parameter Repo"


def test_pseudo_parameters_and_provider_references():
    resources = """
  Provider:
    Type: AWS::IAM::OIDCProvider
    Properties: {Url: https://token.actions.githubusercontent.com, ClientIdList: [sts.amazonaws.com, !ImportValue x]}"""
    roles, providers = _roles(_template("!GetAtt Provider.Arn", "!Sub '${AWS::AccountId}-${AWS::Region}'",
                                        resources=resources))
    arn = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
    assert roles[0].policy["Statement"][0]["Principal"]["Federated"] == arn
    assert _sub(roles[0]) == "111122223333-us-east-1"
    [provider] = providers
    assert provider.audiences == ("sts.amazonaws.com",) and provider.unresolved_audiences == ("Fn::ImportValue x",)
    assert roles[0].providers[arn] == provider


def test_unresolved_values_are_marked_inside_strings():
    roles, _ = _roles(_template("x", "!Sub ['repo:${Org}/*', {Org: !ImportValue shared-org}]"))
    assert unresolved_origins(_sub(roles[0])) == ["Fn::ImportValue shared-org"]
    roles, _ = _roles(_template("x", "!GetAZs ''"))
    assert unresolved_origins(_sub(roles[0])) == ["Fn::GetAZs"]


def test_import_value_resolves_an_export_of_another_input_template():
    exporter = """
Resources:
  Provider:
    Type: AWS::IAM::OIDCProvider
    Properties: {Url: https://gitlab.com, ClientIdList: [https://gitlab.com]}
Outputs:
  ProviderArn:
    Value: !Ref Provider
    Export: {Name: ci-provider-arn}
"""
    roles, providers = _roles(_template("!ImportValue ci-provider-arn", "x"), None, exporter)
    assert roles[0].policy["Statement"][0]["Principal"]["Federated"] == \
        "arn:aws:iam::111122223333:oidc-provider/gitlab.com"
    assert [p.issuer_key for p in providers] == ["gitlab.com"]


def test_find_in_map_known_and_deployment_keys():
    head = "Mappings:\n  Subs:\n    prod: {sub: 'repo:acme/app:environment:prod'}\n    dev: {sub: 'repo:acme/app:environment:dev'}\n" \
           "  Same:\n    us-east-1: {v: one}\n    eu-west-1: {v: one}\nParameters:\n  Env: {Type: String}"
    roles, _ = _roles(_template("x", "!FindInMap [Subs, prod, sub]", head))
    assert _sub(roles[0]) == "repo:acme/app:environment:prod"
    roles, _ = _roles(_template("x", "!FindInMap [Subs, !Ref Env, sub]", head))
    assert unresolved_origins(_sub(roles[0])) == ["Fn::FindInMap Subs with a key known only at deployment"]
    roles, _ = _roles(_template("x", "!FindInMap [Same, !Ref 'AWS::Region', v]", head))
    assert _sub(roles[0]) == "one"  # every candidate agrees


def test_if_variants_branch_only_what_is_not_decided():
    head = ("Parameters:\n  Env: {Type: String, Default: prod}\nConditions:\n  IsProd: !Equals [!Ref Env, prod]\n"
            "  NotProd: !Not [!Condition IsProd]")
    text = _template("x", "!If [IsProd, a, !If [NotProd, b, c]]", head)
    roles, _ = _roles(text)
    # NotProd follows from IsProd: two variants, not four; the impossible "c" branch never appears.
    assert sorted((r.variant, _sub(r)) for r in roles) == [("IsProd=false", "b"), ("IsProd=true", "a")]
    roles, _ = _roles(text, {"Env": "dev"})
    assert [(r.variant, _sub(r)) for r in roles] == [("", "b")]


def test_no_value_and_resource_condition_decide_what_exists():
    resources = """
  Provider:
    Type: AWS::IAM::OIDCProvider
    Condition: MakeProvider
    Properties: {Url: https://token.actions.githubusercontent.com, ClientIdList: [sts.amazonaws.com]}"""
    head = "Parameters:\n  Existing: {Type: String}\nConditions:\n  MakeProvider: !Equals [!Ref Existing, '']"
    text = _template("arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com",
                     "!If [MakeProvider, 'repo:a/b:ref:refs/heads/main', !Ref 'AWS::NoValue']", head, resources)
    roles, _ = _roles(text)
    by = {r.variant: r for r in roles}
    assert set(by) == {"MakeProvider=true", "MakeProvider=false"}
    assert by["MakeProvider=true"].providers and not by["MakeProvider=false"].providers
    assert "token.actions.githubusercontent.com:sub" not in \
        by["MakeProvider=false"].policy["Statement"][0]["Condition"]["StringEquals"]


def test_decide_reads_parameters_given_and_literal_comparisons():
    data = load_yaml("Parameters:\n  A: {Type: String, Default: x}\nConditions:\n  Lit: !Equals [a, a]\n"
                     "  ByParam: !Equals [!Ref A, x]\n  Both: !And [!Condition Lit, !Condition ByParam]\n"
                     "  Either: !Or [!Condition Lit, !Condition ByParam]\nResources: {}", "c.yaml")
    template = Template(Path("c.yaml"), data)
    plain_set = TemplateSet([template])
    assert decide(plain_set, template, "Lit", {}) is True
    assert decide(plain_set, template, "ByParam", {}) is None  # a default can be overridden at deployment
    assert decide(plain_set, template, "Both", {}) is None and decide(plain_set, template, "Either", {}) is True
    assert decide(TemplateSet([template], {"A": "y"}), template, "Both", {}) is False


def test_too_deep_nesting_is_not_linted_rather_than_hanging():
    aliases = "\n".join(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 14))
    text = f"a0: &a0 [x]\n{aliases}\nResources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n" \
           "      AssumeRolePolicyDocument: {Statement: *a13}\n"
    roles, _ = _roles(text)
    assert "too deeply nested" in roles[0].policy.origin


def test_cdk_cfn_json_and_placeholder_cluster_issuer():
    text = """
Resources:
  Cluster: {Type: AWS::EKS::Cluster, Properties: {}}
  Provider:
    Type: Custom::AWSCDKOpenIdConnectProvider
    Properties: {ClientIDList: [sts.amazonaws.com], Url: !GetAtt Cluster.OpenIdConnectIssuerUrl}
  Conditions:
    Type: Custom::AWSCDKCfnJson
    Properties:
      Value: !Join ['', ['{"', !Select [1, !Split [':oidc-provider/', !Ref Provider]], ':sub":"system:serviceaccount:a:b"}']]
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Action: sts:AssumeRoleWithWebIdentity, Principal: {Federated: !Ref Provider},
             Condition: {StringEquals: !GetAtt Conditions.Value}}
"""
    [role], [provider] = _roles(text)
    [(key, value)] = role.policy["Statement"][0]["Condition"]["StringEquals"].items()
    assert key == f"{provider.issuer_key}:sub" and value == "system:serviceaccount:a:b"
    assert provider.issuer_key.startswith("oidc.eks.us-east-1.amazonaws.com/id/") and provider.audiences == (
        "sts.amazonaws.com",)
    assert isinstance(role.policy, MarkedDict)


# ---------------------------------------------------------------------------------------------- Terraform

@pytest.mark.parametrize("address, module, resource, instance", [
    ("aws_iam_role.x", "", "aws_iam_role.x", ""),
    ("aws_iam_role.x[0]", "", "aws_iam_role.x", ""),
    ('module.a[0].module.b["k.v"].aws_iam_role.x["r"]', "module.a.module.b", "aws_iam_role.x",
     'module.a[0].module.b["k.v"]'),
    ("module.a.data.aws_iam_policy_document.d", "module.a", "data.aws_iam_policy_document.d", "module.a"),
])
def test_terraform_addresses(address, module, resource, instance):
    assert split_address(address) == (module, resource)
    assert module_instance(address) == instance


def test_policy_document_blocks_render_the_policy():
    rendered = document_from_blocks({"statement": [{
        "sid": "S", "effect": None, "actions": ["sts:AssumeRoleWithWebIdentity"], "not_actions": [],
        "principals": [{"type": "Federated", "identifiers": ["arn:p"]}],
        "condition": [{"test": "StringLike", "variable": "k:sub", "values": ["a"]},
                      {"test": "StringLike", "variable": "k:sub", "values": ["b"]}]},
        {"effect": "Deny", "actions": ["*"], "principals": [{"type": "*", "identifiers": ["*"]}]}]})
    assert rendered == {"Version": "2012-10-17", "Statement": [
        {"Sid": "S", "Effect": "Allow", "Action": ["sts:AssumeRoleWithWebIdentity"],
         "Principal": {"Federated": ["arn:p"]}, "Condition": {"StringLike": {"k:sub": ["a", "b"]}}},
        {"Effect": "Deny", "Action": ["*"], "Principal": "*"}]}


def test_variants_are_bounded_and_the_bound_is_said():
    conditions = "\n".join(f"  C{i}: !Equals [!Ref P{i}, x]" for i in range(7))
    parameters = "\n".join(f"  P{i}: {{Type: String}}" for i in range(7))
    sub = "!Join ['', [" + ", ".join(f"!If [C{i}, a, b]" for i in range(7)) + "]]"
    roles, _ = _roles(_template("x", sub, f"Parameters:\n{parameters}\nConditions:\n{conditions}"))
    assert len(roles) == 32 and len({r.variant for r in roles}) == 32
    assert all("only the first 32 combinations" in " ".join(r.assumptions) for r in roles)
