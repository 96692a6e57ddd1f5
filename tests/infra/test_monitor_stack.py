"""The monitor stack, one behaviour per test (aws_cdk.assertions on the shared synthesis)."""

from __future__ import annotations

import json

from aws_cdk.assertions import Capture, Match

from connector_health import metrics
from connector_health.config import load_config

from .conftest import EMAILS, MAIN, MINIMAL


def only(resources: dict) -> dict:
    assert len(resources) == 1, list(resources)
    return next(iter(resources.values()))


def test_scan_function_runtime_size_tracing_and_concurrency(synth):
    synth.template().has_resource_properties("AWS::Lambda::Function", {
        "Runtime": "python3.12",
        "Handler": "handlers.scan.handler",
        "MemorySize": 512,  # config function_memory_mb (default)
        "Timeout": 300,
        "TracingConfig": {"Mode": "Active"},
        "ReservedConcurrentExecutions": 1,
        "Architectures": ["x86_64"],
        "Layers": [{"Ref": Match.string_like_regexp("^Dependencies")}],
    })


def test_scan_function_environment_is_the_handler_contract(synth):
    env = Capture()
    synth.template().has_resource_properties("AWS::Lambda::Function", {"Environment": {"Variables": env}})
    variables = env.as_object()
    assert variables["CONNECTOR_HEALTH_CONFIG"] == "connector-health.json"
    assert variables["STATE_TABLE"] == {"Ref": next(iter(synth.resources("AWS::DynamoDB::Table")))}
    assert variables["ALERT_TOPIC_ARN"] == {"Ref": next(iter(synth.resources("AWS::SNS::Topic")))}
    assert variables["POWERTOOLS_SERVICE_NAME"] == metrics.SERVICE
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == metrics.NAMESPACE
    assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert variables["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"


def test_code_asset_is_the_lambdas_tree_plus_the_validated_config_as_json(synth):
    asset = synth.asset_dirs[MAIN]
    assert (asset / "connector_health" / "engine.py").is_file()
    assert (asset / "connector_health" / "presets" / "defender-for-cloud.yaml").is_file()
    assert (asset / "handlers" / "__init__.py").is_file()
    assert not list(asset.rglob("__pycache__")) and not list(asset.rglob("*.egg-info"))
    staged = load_config(asset / "connector-health.json")  # what the handler loads at cold start
    assert staged == synth.configs[MAIN]
    assert json.loads((asset / "connector-health.json").read_text())["alerts"]["emails"] == EMAILS


def test_explicit_log_group_with_retention_is_the_functions(synth):
    [(log_id, log_group)] = synth.resources("AWS::Logs::LogGroup").items()
    assert log_group["Properties"]["RetentionInDays"] == 90
    assert log_group["DeletionPolicy"] == "Retain"
    synth.template().has_resource_properties("AWS::Lambda::Function", {"LoggingConfig": {"LogGroup": {"Ref": log_id}}})


def test_failed_scans_go_to_an_encrypted_tls_only_queue(synth):
    [(queue_id, queue)] = synth.resources("AWS::SQS::Queue").items()
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    queue_arn = {"Fn::GetAtt": [queue_id, "Arn"]}
    synth.template().has_resource_properties("AWS::Lambda::EventInvokeConfig", {
        "DestinationConfig": {"OnFailure": {"Destination": queue_arn}},
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 3600,
    })
    synth.template().has_resource_properties("AWS::SQS::QueuePolicy", {"PolicyDocument": {"Statement": Match.array_with([
        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
    ])}})


def test_schedule_comes_from_the_config_and_targets_the_function(synth):
    for name, expression in ((MAIN, "rate(1 hour)"), (MINIMAL, "cron(0/15 * * * ? *)")):
        [(function_id, _)] = synth.resources("AWS::Lambda::Function", name).items()
        synth.template(name).has_resource_properties("AWS::Events::Rule", {
            "ScheduleExpression": expression,
            "State": "ENABLED",
            "Targets": [Match.object_like({
                "Arn": {"Fn::GetAtt": [function_id, "Arn"]},
                "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [Match.string_like_regexp("ScannerFailedScans"), "Arn"]}},
            })],
        })


def test_state_table_keys_ttl_billing_recovery_encryption_and_retention(synth):
    table = only(synth.resources("AWS::DynamoDB::Table"))
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    synth.template().has_resource_properties("AWS::DynamoDB::Table", {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": Match.array_with([{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}]),
        "BillingMode": "PAY_PER_REQUEST",
        "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    })


def test_topic_is_encrypted_with_a_rotating_key_cloudwatch_may_use(synth):
    [(key_id, _)] = synth.resources("AWS::KMS::Key").items()
    synth.template().has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}})
    synth.template().has_resource_properties("AWS::KMS::Key", {
        "EnableKeyRotation": True,
        "KeyPolicy": {"Statement": Match.array_with([Match.object_like({
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        })])},
    })


def test_topic_policy_denies_publishing_without_tls_and_admits_this_accounts_alarms(synth):
    statements = Capture()
    synth.template().has_resource_properties("AWS::SNS::TopicPolicy", {"PolicyDocument": {"Statement": statements}})
    by_effect = {s["Effect"]: s for s in statements.as_array()}
    assert by_effect["Deny"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert by_effect["Deny"]["Principal"] == "*" and by_effect["Deny"]["Action"] == "sns:Publish"
    assert by_effect["Allow"]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert "aws:SourceAccount" in by_effect["Allow"]["Condition"]["StringEquals"]


def test_email_subscriptions_are_the_configs(synth):
    subscriptions = synth.resources("AWS::SNS::Subscription")
    assert sorted(s["Properties"]["Endpoint"] for s in subscriptions.values()) == sorted(EMAILS)
    assert {s["Properties"]["Protocol"] for s in subscriptions.values()} == {"email"}
    assert synth.resources("AWS::SNS::Subscription", MINIMAL) == {}


def test_alarms_errors_throttles_and_missing_heartbeat_notify_the_topic(synth):
    topic = {"Ref": next(iter(synth.resources("AWS::SNS::Topic")))}
    alarms = {a["Properties"]["MetricName"]: a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()}
    assert set(alarms) == {"Errors", "Throttles", metrics.HEARTBEAT.name}
    for props in alarms.values():
        assert props["AlarmActions"] == [topic] and props["OKActions"] == [topic]
    heartbeat = alarms[metrics.HEARTBEAT.name]
    assert heartbeat["Namespace"] == metrics.NAMESPACE
    assert heartbeat["Statistic"] == "Sum" and heartbeat["Threshold"] == 1
    assert heartbeat["ComparisonOperator"] == "LessThanThreshold"
    assert heartbeat["TreatMissingData"] == "breaching"
    # Two schedule periods of rate(1 hour), every one of them without a heartbeat.
    assert (heartbeat["Period"], heartbeat["EvaluationPeriods"], heartbeat["DatapointsToAlarm"]) == (3600, 2, 2)
    for name in ("Errors", "Throttles"):
        assert alarms[name]["Namespace"] == "AWS/Lambda" and alarms[name]["TreatMissingData"] == "notBreaching"


def test_heartbeat_alarm_follows_a_cron_schedule(synth):
    [alarm] = [a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm", MINIMAL).values()
               if a["Properties"]["MetricName"] == metrics.HEARTBEAT.name]
    assert (alarm["Period"], alarm["EvaluationPeriods"]) == (900, 2)


def test_outputs_dashboard_url_and_topic_arn(synth):
    outputs = synth.templates[MAIN]["Outputs"]
    assert outputs["DashboardUrl"]["Value"] == ("https://eu-west-1.console.aws.amazon.com/cloudwatch/home"
                                                "?region=eu-west-1#dashboards:name=ConnectorHealth")
    assert outputs["AlertTopicArn"]["Value"] == {"Ref": next(iter(synth.resources("AWS::SNS::Topic")))}
    synth.template().has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardName": "ConnectorHealth"})
