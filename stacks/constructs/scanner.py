"""The scheduled scan: the function (stacks/constructs/function.py), its read-only execution role, schedule and
failure queue.

The role is derived, not written: the monitored-account reads are exactly the IAM actions the checks and the
collector declare (`connector_health.checks.required_permissions()` + `engine.COLLECTOR_PERMISSIONS`), on `*`
since they are account-level reads; everything else is scoped to this stack's own table, topic, key, log group and
queue, plus `secretsmanager:GetSecretValue` on exactly the secrets the configured token sources name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .function import FunctionCode, MonitorFunction

HANDLER = "handlers.scan.handler"
TIMEOUT = Duration.minutes(5)
STATE_TABLE_ACTIONS = (
    "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable",
    "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
)
MONITORED_ACCOUNT_SID = "MonitoredAccountReads"
TOKEN_SECRETS_SID = "TokenSourceSecrets"


def grant_state_and_alerts(role: iam.Role, table: dynamodb.ITable, topic: sns.ITopic, key: kms.IKey) -> None:
    """What the pipeline writes: items of its own table, messages to its own (encrypted) topic."""
    # Item reads and writes on its own table (grant_read_write_data would add the stream reads too).
    table.grant(role, *STATE_TABLE_ACTIONS)
    # Not topic.grant_publish: it grants kms:GenerateDataKey*; publishing to an encrypted topic needs these two.
    role.add_to_policy(iam.PolicyStatement(sid="PublishAlerts", actions=["sns:Publish"], resources=[topic.topic_arn]))
    role.add_to_policy(iam.PolicyStatement(sid="EncryptAlerts", actions=["kms:GenerateDataKey", "kms:Decrypt"],
                                           resources=[key.key_arn]))


def grant_token_secrets(role: iam.Role, secret_arns) -> None:
    """secretsmanager:GetSecretValue on exactly the secrets the configured token sources name (in hub mode the
    hub reads them with its own credentials, never a member account's)."""
    if secret_arns:
        role.add_to_policy(iam.PolicyStatement(sid=TOKEN_SECRETS_SID, actions=["secretsmanager:GetSecretValue"],
                                               resources=sorted(set(secret_arns))))


@dataclass(frozen=True)
class ScannerProps:
    code: FunctionCode  # the code asset and the dependency layer
    schedule: str  # EventBridge expression from the config
    schedule_period: Duration  # longest interval between two runs (stacks.schedule)
    read_actions: Sequence[str]  # monitored-account reads declared by the engine
    secret_arns: Sequence[str]  # token-source secrets of enabled connectors
    memory_mb: int  # config `function_memory_mb`
    integration_writes: Sequence[str] = ()  # writes outside the stack the enabled integrations add (integrations.py)


class Scanner(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, props: ScannerProps, table: dynamodb.ITable,
                 topic: sns.ITopic, topic_key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self._props = props
        self.dead_letter_queue = self._dead_letter_queue()
        self.role = self._role()
        built = self._function(table, topic)
        self.function, self.log_group = built.function, built.log_group
        grant_state_and_alerts(self.role, table, topic, topic_key)
        self._acknowledge_wildcards()
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
        grant_token_secrets(role, self._props.secret_arns)
        return role

    def _acknowledge_wildcards(self) -> None:
        policy = self.role.node.find_child("DefaultPolicy")
        Validations.of(policy.node.default_child).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="The monitored-account reads (" + ", ".join(sorted(set(self._props.read_actions)))
                       + ") are the checks' declared Read/List actions (the infra tests check their access level in "
                         "the Service Authorization Reference). The providers, roles and stacks they read are "
                         "discovered at run time, and GetAccountAuthorizationDetails, ListOpenIDConnectProviders and "
                         "GetCallerIdentity support no resource scoping; X-Ray's PutTraceSegments and "
                         "PutTelemetryRecords accept only `*`." + self._integration_note(),
            ),
        )

    def _integration_note(self) -> str:
        writes = self._props.integration_writes
        if not writes:
            return ""
        return (" The only writes outside this stack are those of the enabled integrations, each on one resource and "
                "writing only the monitor's own findings: " + "; ".join(writes) + ".")

    def _function(self, table: dynamodb.ITable, topic: sns.ITopic) -> MonitorFunction:
        return MonitorFunction(
            self,
            "Function",
            code=self._props.code,
            handler=HANDLER,
            description="connector-health: scheduled scan of the OIDC web-identity connectors",
            role=self.role,
            memory_mb=self._props.memory_mb,
            timeout=TIMEOUT,
            environment={
                "STATE_TABLE": table.table_name,
                "ALERT_TOPIC_ARN": topic.topic_arn,
                # Web-identity exchanges must reach the region's STS endpoint (Azure/Azure-Sentinel #10933).
                "AWS_STS_REGIONAL_ENDPOINTS": "regional",
            },
            # Two scans of one account at once would race on the state table and double the alerts.
            reserved_concurrent_executions=1,
            retry_attempts=2,
            max_event_age=self._max_event_age(),
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
        )

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
