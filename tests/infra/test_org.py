"""Hub mode in CDK: the member stack (StackSet template) and the hub's fan-out, queue and worker (issue 8).

One extra synthesis for this module (cdk-nag included): the full configuration with `org.enabled`, and the member
stack built from the same configuration.
"""

from __future__ import annotations

import copy
import json

import aws_cdk as cdk
import pytest
import yaml
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from connector_health import metrics
from connector_health.config import load_config
from stacks import MonitorStack
from stacks.assets import stage_lambda_asset
from stacks.member_stack import MEMBER_READS_SID, MemberStack
from stacks.monitor_stack import declared_read_actions

from .conftest import full_config_data

HUB, MEMBER = "ConnectorHealthHub", "ConnectorHealthMember"
ORG_ID = "o-a1b2c3d4e5"


@pytest.fixture(scope="module")
def org_synth(tmp_path_factory, app_module, stub_layer):
    work = tmp_path_factory.mktemp("cdk-org")
    data = full_config_data()
    data["org"] = {"enabled": True, "organization_id": ORG_ID, "worker_concurrency": 4, "max_receive_count": 3,
                   "worker_batch_size": 5, "worker_timeout_seconds": 300}
    path = work / "org.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    config = load_config(path)
    app = cdk.App(outdir=str(work / "cdk.out"), context=app_module.cdk_json_context())
    MonitorStack(app, HUB, config=config, asset_dir=stage_lambda_asset(config, work / "asset"), layer_dir=stub_layer,
                 env=cdk.Environment(region=config.region))
    MemberStack(app, MEMBER, config=config, read_actions=declared_read_actions())
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # raises when cdk-nag reports a violation
    return {name: json.loads((work / "cdk.out" / f"{name}.template.json").read_text()) for name in (HUB, MEMBER)}


def _template(synth, name):
    return Template.from_json(copy.deepcopy(synth[name]))


def test_member_role_trusts_only_the_worker_inside_the_organisation(org_synth):
    member = org_synth[MEMBER]
    assert member["Parameters"]["OrganizationId"]["Default"] == ORG_ID
    assert "BootstrapVersion" not in member.get("Parameters", {})  # StackSet targets are not CDK-bootstrapped
    assert "Rules" not in member
    (role,) = [r for r in member["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    props = role["Properties"]
    assert props["RoleName"] == "connector-health-member"
    (statement,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"AWS": {"Ref": "HubWorkerRoleArn"}}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}
    assert [r["Type"] for r in member["Resources"].values()] == ["AWS::IAM::Role"]  # no assets, nothing else


def test_member_role_has_exactly_the_declared_reads(org_synth):
    (role,) = [r for r in org_synth[MEMBER]["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    (policy,) = role["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Sid"] == MEMBER_READS_SID and statement["Resource"] == "*"
    assert sorted(statement["Action"]) == declared_read_actions()
    # cloudtrail:LookupEvents (EXCHANGE_LIVE_*) is a Read action too (tests/infra/test_least_privilege.py checks levels).
    assert all(a.split(":")[1].startswith(("Get", "List", "Describe", "Detect", "Lookup")) for a in statement["Action"])


def test_worker_consumes_the_queue_with_partial_batch_responses_and_bounded_concurrency(org_synth):
    hub = _template(org_synth, HUB)
    hub.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "BatchSize": 5, "FunctionResponseTypes": ["ReportBatchItemFailures"], "ScalingConfig": {"MaximumConcurrency": 4}})
    hub.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "handlers.worker.handler", "ReservedConcurrentExecutions": 4, "Timeout": 300,
        "TracingConfig": {"Mode": "Active"},
        "Environment": {"Variables": Match.object_like({"POWERTOOLS_METRICS_NAMESPACE": metrics.NAMESPACE})}})
    hub.has_resource_properties("AWS::Lambda::Function", {"Handler": "handlers.fanout.handler",
                                                          "ReservedConcurrentExecutions": 1})
    hub.has_resource_properties("AWS::SQS::Queue", {
        "VisibilityTimeout": 1800, "RedrivePolicy": {"deadLetterTargetArn": Match.any_value(), "maxReceiveCount": 3}})


def test_worker_may_assume_only_member_roles_and_fanout_only_reads_the_organisation(org_synth):
    policies = [r["Properties"] for r in org_synth[HUB]["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    statements = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    assume = [s for s in statements if s.get("Sid") == "AssumeMemberRoles"]
    (stmt,) = assume
    assert stmt["Action"] == "sts:AssumeRole"
    assert stmt["Resource"] in ("arn:aws:iam::*:role/connector-health-member",
                                {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::*:role/connector-health-member"]]})
    (orgs,) = [s for s in statements if s.get("Sid") == "ListOrganization"]
    assert all(a.startswith("organizations:") and a.split(":")[1].startswith(("List", "Describe"))
               for a in orgs["Action"])
    outputs = org_synth[HUB]["Outputs"]
    assert "WorkerRoleArn" in outputs


def test_dashboard_shows_the_account_counts(org_synth):
    (dashboard,) = [r for r in org_synth[HUB]["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for defn in (metrics.ACCOUNTS_SCANNED, metrics.ACCOUNTS_FAILED, metrics.ACCOUNTS_SKIPPED):
        assert defn.name in body


@pytest.mark.parametrize("name", [HUB, MEMBER])
def test_cfn_lint_passes_on_the_hub_and_member_templates(org_synth, name):
    from cfnlint.api import lint

    matches = lint(json.dumps(org_synth[name]), regions=["eu-west-1"])
    assert not matches, "\n".join(f"{m.rule.id} {m.message} ({m.path})" for m in matches)
