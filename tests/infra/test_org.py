"""Hub mode in CDK: the member stack (StackSet template) and the hub's fan-out, queue, worker and alarms.

The hub and member templates come from the shared synthesis (conftest.py: the full configuration with
`org.enabled`, and the member stack built from it), cdk-nag included.
"""

from __future__ import annotations

import copy
import json

import pytest
from aws_cdk.assertions import Match, Template

from connector_health import metrics
from stacks.member_stack import MEMBER_READS_SID
from stacks.monitor_stack import declared_read_actions

from .conftest import HUB, MEMBER, ORG_ID


@pytest.fixture
def org_synth(synth):
    return synth.templates


def _template(templates, name):
    return Template.from_json(copy.deepcopy(templates[name]))


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
    (policy,) = [p for p in role["Properties"]["Policies"] if p["PolicyName"] == "ConnectorHealthReads"]
    # Beside the reads, only the Security Hub import of the enabled integration (tests/infra/test_integrations_infra.py).
    others = [s for p in role["Properties"]["Policies"] if p is not policy for s in p["PolicyDocument"]["Statement"]]
    assert [s["Action"] for s in others] == ["securityhub:BatchImportFindings"]
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


def test_worker_fanout_and_dead_letter_alarms_notify_the_alert_topic(org_synth):
    resources = org_synth[HUB]["Resources"]
    topic = {"Ref": next(k for k, r in resources.items() if r["Type"] == "AWS::SNS::Topic")}
    functions = {r["Properties"]["Handler"]: k for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    [dead_letter] = [k for k, r in resources.items()
                     if r["Type"] == "AWS::SQS::Queue" and k.startswith("OrgFailedAccounts")]
    alarms = {r["Properties"]["AlarmName"]: r["Properties"] for r in resources.values()
              if r["Type"] == "AWS::CloudWatch::Alarm"}
    hub = {name.removeprefix(f"{HUB}-"): props for name, props in alarms.items()
           if name.removeprefix(f"{HUB}-") in ("worker-errors", "fanout-errors", "accounts-dead-letter")}
    assert set(hub) == {"worker-errors", "fanout-errors", "accounts-dead-letter"}
    for props in hub.values():
        assert props["AlarmActions"] == [topic] and props["OKActions"] == [topic]
        assert props["Threshold"] == 1 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    for name, handler in (("worker-errors", "handlers.worker.handler"), ("fanout-errors", "handlers.fanout.handler")):
        assert (hub[name]["Namespace"], hub[name]["MetricName"], hub[name]["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
        assert hub[name]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": functions[handler]}}]
    depth = hub["accounts-dead-letter"]
    assert (depth["Namespace"], depth["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert depth["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dead_letter, "QueueName"]}}]


def test_hub_reads_the_token_secrets_itself_and_member_roles_cannot(org_synth, synth):
    """Token-source secrets live in the hub account: the worker's role may read exactly them; the member role,
    built from the declared reads, has no Secrets Manager action at all."""
    from .conftest import SECRET_ARN

    statements = [s for r in org_synth[HUB]["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]
    secrets = [s for s in statements if "secretsmanager:GetSecretValue" in json.dumps(s["Action"])]
    assert len(secrets) == 2  # the scan function's role and the worker's
    assert all(s["Resource"] == SECRET_ARN and s["Action"] == "secretsmanager:GetSecretValue" for s in secrets)
    member = json.dumps(org_synth[MEMBER])
    assert "secretsmanager" not in member


def test_functions_share_one_layer_and_size_memory_from_the_config(org_synth, synth):
    resources = org_synth[HUB]["Resources"]
    functions = {r["Properties"]["Handler"]: r["Properties"] for r in resources.values()
                 if r["Type"] == "AWS::Lambda::Function"}
    assert set(functions) == {"handlers.scan.handler", "handlers.fanout.handler", "handlers.worker.handler"}
    [layer] = [k for k, r in resources.items() if r["Type"] == "AWS::Lambda::LayerVersion"]
    memory = synth.configs[HUB].function_memory_mb
    for handler, props in functions.items():
        assert props["Layers"] == [{"Ref": layer}] and props["Runtime"] == "python3.12"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == metrics.SERVICE
        assert props["MemorySize"] == (256 if handler == "handlers.fanout.handler" else memory)
        log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[log_group]["Properties"]["RetentionInDays"] == 90


def test_member_and_execution_roles_may_read_what_drift_detection_reads(org_synth, synth):
    """CloudFormation reads the onboarding stack's roles and policies with the monitor's own permissions."""
    from connector_health.collect.stacks import DRIFT_READS

    (role,) = [r for r in org_synth[MEMBER]["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    (statement,) = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    needed = {a for reads in DRIFT_READS.values() for a in reads} | {
        "cloudformation:DetectStackDrift", "cloudformation:DetectStackResourceDrift",
        "cloudformation:DescribeStackDriftDetectionStatus", "cloudformation:DescribeStackResourceDrifts"}
    assert needed <= set(statement["Action"])
    assert needed <= set(declared_read_actions())  # the scan function's execution role is built from the same list
