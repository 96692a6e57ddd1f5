"""The scheduled scan: the function, its read-only execution role, its layer, logs, schedule and failure queue.

The role is derived, not written: the monitored-account reads are exactly the IAM actions the checks and the
collector declare (`connector_health.checks.required_permissions()` + `engine.COLLECTOR_PERMISSIONS`), on `*`
since they are account-level reads; everything else is scoped to this stack's own table, topic, key, log group and
queue, plus `secretsmanager:GetSecretValue` on exactly the secrets the configured token sources name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from connector_health import metrics

from ..assets import CONFIG_FILE, LAYER_STAMP, check_layer

HANDLER = "handlers.scan.handler"
RUNTIME = lambda_.Runtime.PYTHON_3_12
MEMORY_MB = 256
TIMEOUT = Duration.minutes(5)
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
# X-Ray's write actions support no resource scoping (service authorization reference).
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
STATE_TABLE_ACTIONS = (
    "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable",
    "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
)
MONITORED_ACCOUNT_SID = "MonitoredAccountReads"
TOKEN_SECRETS_SID = "TokenSourceSecrets"


@dataclass(frozen=True)
class ScannerProps:
    asset_dir: Path  # stacks.assets.stage_lambda_asset output
    layer_dir: Path  # make layer output (build/layer)
    schedule: str  # EventBridge expression from the config
    schedule_period: Duration  # longest interval between two runs (stacks.schedule)
    read_actions: Sequence[str]  # monitored-account reads declared by the engine
    secret_arns: Sequence[str]  # token-source secrets of enabled connectors


class Scanner(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, props: ScannerProps, table: dynamodb.ITable,
                 topic: sns.ITopic, topic_key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self._props = props
        self.dead_letter_queue = self._dead_letter_queue()
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN)
        self.role = self._role()
        self.layer = self._layer()
        self.function = self._function(table, topic)
        self._grant(table, topic, topic_key)
        self.rule = self._schedule()

    # ------------------------------------------------------------------ resources
    def _dead_letter_queue(self) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            "FailedScans",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        Validations.of(queue.node.default_child).acknowledge(Acknowledgment(
            id="AwsSolutions-SQS3",
            reason="This queue is itself the dead-letter / on-failure destination of the scan function and its "
                   "schedule; a queue behind it would only move the same records one hop further.",
        ))
        return queue

    def _role(self) -> iam.Role:
        role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="connector-health scan: read-only in the monitored account, writes only its own resources",
        )
        role.add_to_policy(iam.PolicyStatement(
            sid=MONITORED_ACCOUNT_SID,
            actions=sorted(set(self._props.read_actions)),
            resources=["*"],
        ))
        if self._props.secret_arns:
            role.add_to_policy(iam.PolicyStatement(
                sid=TOKEN_SECRETS_SID,
                actions=["secretsmanager:GetSecretValue"],
                resources=sorted(set(self._props.secret_arns)),
            ))
        self.log_group.grant_write(role)
        policy = role.node.find_child("DefaultPolicy")
        Validations.of(policy.node.default_child).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="The monitored-account reads (" + ", ".join(sorted(set(self._props.read_actions)))
                       + ") are the checks' declared Read/List actions (the infra tests check their access level in "
                         "the Service Authorization Reference). The providers, roles and stacks they read are "
                         "discovered at run time, and GetAccountAuthorizationDetails, ListOpenIDConnectProviders and "
                         "GetCallerIdentity support no resource scoping; X-Ray's PutTraceSegments and "
                         "PutTelemetryRecords accept only `*`.",
            ),
        )
        return role

    def _layer(self) -> lambda_.LayerVersion:
        layer_dir = check_layer(self._props.layer_dir)
        return lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(layer_dir), exclude=[LAYER_STAMP]),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description="connector-health dependencies beyond boto3 (requirements.txt, manylinux wheels)",
        )

    def _function(self, table: dynamodb.ITable, topic: sns.ITopic) -> lambda_.Function:
        function = lambda_.Function(
            self,
            "Function",
            description="connector-health: scheduled scan of the OIDC web-identity connectors",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,  # the layer's wheels are manylinux x86_64
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(self._props.asset_dir)),
            layers=[self.layer],
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            # Two scans of one account at once would race on the state table and double the alerts.
            reserved_concurrent_executions=1,
            retry_attempts=2,
            max_event_age=self._max_event_age(),
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
            environment={
                "CONNECTOR_HEALTH_CONFIG": CONFIG_FILE,  # relative to the code root (the working directory)
                "STATE_TABLE": table.table_name,
                "ALERT_TOPIC_ARN": topic.topic_arn,
                "POWERTOOLS_SERVICE_NAME": metrics.SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": metrics.NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                # Web-identity exchanges must reach the region's STS endpoint (Azure/Azure-Sentinel #10933).
                "AWS_STS_REGIONAL_ENDPOINTS": "regional",
            },
        )
        # aws-cdk-lib makes the function DependsOn its role *and* the role's policy; the role is already implied by
        # the GetAtt on its ARN (cfn-lint W3005). Keep only the policy: it must exist before the first invocation.
        policy = self.role.node.find_child("DefaultPolicy").node.default_child
        function.node.default_child.add_override("DependsOn", [Stack.of(self).get_logical_id(policy)])
        Validations.of(function.node.default_child).acknowledge(Acknowledgment(
            id="AwsSolutions-L1",
            reason="python3.12 is pinned on purpose: the layer's binary wheels (cryptography, pydantic-core, "
                   "cffi) are built for cp312 by `make layer`; moving the runtime means rebuilding the layer.",
        ))
        return function

    def _grant(self, table: dynamodb.ITable, topic: sns.ITopic, key: kms.IKey) -> None:
        # Item reads and writes on its own table (grant_read_write_data would add the stream reads too).
        table.grant(self.role, *STATE_TABLE_ACTIONS)
        # Not topic.grant_publish: it grants kms:GenerateDataKey*; publishing to an encrypted topic needs these two.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="PublishAlerts", actions=["sns:Publish"], resources=[topic.topic_arn]))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="EncryptAlerts", actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn]))

    def _schedule(self) -> events.Rule:
        rule = events.Rule(
            self,
            "Schedule",
            description="connector-health: run a scan",
            schedule=events.Schedule.expression(self._props.schedule),
        )
        rule.add_target(targets.LambdaFunction(
            self.function,
            dead_letter_queue=self.dead_letter_queue,
            max_event_age=self._max_event_age(),
            retry_attempts=2,
        ))
        return rule

    def _max_event_age(self) -> Duration:
        """A scheduled run older than one period is superseded by the next one: send it to the queue instead."""
        seconds = int(self._props.schedule_period.to_seconds())
        return Duration.seconds(min(max(seconds, 60), 6 * 3600))
