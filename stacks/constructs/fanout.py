"""Hub mode: the scheduled fan-out function, the account queue with its dead-letter queue, the worker function.

The fan-out lists the organisation's accounts and sends one SQS message per selected account; the worker (SQS
event source, partial batch responses, bounded reserved concurrency) assumes each account's member role and runs
the pipeline. A message that fails `max_receive_count` times moves to the dead-letter queue. AWS's services carry
the distribution; nothing here schedules work itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Token, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from connector_health import metrics
from connector_health.config import OrgConfig

from ..assets import CONFIG_FILE
from .scanner import LOG_RETENTION, RUNTIME, STATE_TABLE_ACTIONS

FANOUT_HANDLER = "handlers.fanout.handler"
WORKER_HANDLER = "handlers.worker.handler"
ORGANIZATIONS_READS = (
    "organizations:DescribeOrganization", "organizations:ListAccounts", "organizations:ListRoots",
    "organizations:ListOrganizationalUnitsForParent", "organizations:ListAccountsForParent",
)


@dataclass(frozen=True)
class OrgFanoutProps:
    org: OrgConfig
    schedule: str
    asset_dir: Path
    layer: lambda_.ILayerVersion


class OrgFanout(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, props: OrgFanoutProps, table: dynamodb.ITable,
                 topic: sns.ITopic, topic_key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self._props = props
        self.dead_letter_queue = self._dead_letter_queue()
        self.queue = self._queue()
        self.worker = self._worker(table, topic, topic_key)
        self.fanout = self._fanout()
        self.rule = events.Rule(self, "Schedule", description="connector-health: fan the organisation's scans out",
                                schedule=events.Schedule.expression(props.schedule))
        self.rule.add_target(targets.LambdaFunction(self.fanout, retry_attempts=2))

    # ------------------------------------------------------------------ queues
    def _dead_letter_queue(self) -> sqs.Queue:
        queue = sqs.Queue(self, "FailedAccounts", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
                          retention_period=Duration.days(14))
        Validations.of(queue.node.default_child).acknowledge(Acknowledgment(
            id="AwsSolutions-SQS3",
            reason="This queue is the dead-letter queue of the account queue; a queue behind it would only move "
                   "the same messages one hop further.",
        ))
        return queue

    def _queue(self) -> sqs.Queue:
        return sqs.Queue(
            self, "Accounts", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            # AWS's advice for Lambda event sources: at least six times the function timeout.
            visibility_timeout=Duration.seconds(6 * self._props.org.worker_timeout_seconds),
            retention_period=Duration.days(1),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue,
                                                  max_receive_count=self._props.org.max_receive_count),
        )

    # ------------------------------------------------------------------ functions
    def _function(self, name: str, handler: str, description: str, role: iam.Role, timeout: Duration,
                  environment: dict[str, str], **kwargs) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"{name}Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN)
        log_group.grant_write(role)
        function = lambda_.Function(
            self, name, description=description, runtime=RUNTIME, architecture=lambda_.Architecture.X86_64,
            handler=handler, code=lambda_.Code.from_asset(str(self._props.asset_dir)), layers=[self._props.layer],
            memory_size=512, timeout=timeout, role=role, log_group=log_group, tracing=lambda_.Tracing.ACTIVE,
            environment={"CONNECTOR_HEALTH_CONFIG": CONFIG_FILE, "POWERTOOLS_SERVICE_NAME": metrics.SERVICE,
                         "POWERTOOLS_METRICS_NAMESPACE": metrics.NAMESPACE, "POWERTOOLS_LOG_LEVEL": "INFO",
                         **environment},
            **kwargs,
        )
        policy = role.node.find_child("DefaultPolicy").node.default_child
        function.node.default_child.add_override("DependsOn", [Stack.of(self).get_logical_id(policy)])
        Validations.of(function.node.default_child).acknowledge(Acknowledgment(
            id="AwsSolutions-L1",
            reason="python3.12 is pinned on purpose: the shared layer's binary wheels are built for cp312.",
        ))
        return function

    def _role(self, name: str, description: str) -> iam.Role:
        return iam.Role(self, name, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description)

    def _worker(self, table: dynamodb.ITable, topic: sns.ITopic, key: kms.IKey) -> lambda_.Function:
        org = self._props.org
        role = self._role("WorkerRole", "connector-health worker: assumes the member roles, writes its own state")
        partition = Stack.of(self).partition
        role.add_to_policy(iam.PolicyStatement(
            sid="AssumeMemberRoles", actions=["sts:AssumeRole"],
            resources=[f"arn:{partition}:iam::*:role/{org.member_role_name}"]))
        table.grant(role, *STATE_TABLE_ACTIONS)
        role.add_to_policy(iam.PolicyStatement(sid="PublishAlerts", actions=["sns:Publish"],
                                               resources=[topic.topic_arn]))
        role.add_to_policy(iam.PolicyStatement(sid="EncryptAlerts", actions=["kms:GenerateDataKey", "kms:Decrypt"],
                                               resources=[key.key_arn]))
        function = self._function(
            "Worker", WORKER_HANDLER, "connector-health: scan one member account per message (hub mode)", role,
            Duration.seconds(org.worker_timeout_seconds),
            {"STATE_TABLE": table.table_name, "ALERT_TOPIC_ARN": topic.topic_arn,
             "AWS_STS_REGIONAL_ENDPOINTS": "regional"},
            reserved_concurrent_executions=org.worker_concurrency,
        )
        function.add_event_source(sources.SqsEventSource(
            self.queue, batch_size=org.worker_batch_size, report_batch_item_failures=True,
            max_concurrency=max(2, org.worker_concurrency)))
        shown = "<AWS::Partition>" if Token.is_unresolved(partition) else partition
        Validations.of(role.node.find_child("DefaultPolicy").node.default_child).acknowledge(Acknowledgment(
            id=f"AwsSolutions-IAM5[Resource::arn:{shown}:iam::*:role/{org.member_role_name}]",
            reason="The worker assumes the member role in every member account, and the accounts are discovered at "
                   "run time; the role name is fixed and each member role trusts only this role inside the "
                   "organisation (aws:PrincipalOrgID).",
        ))
        self._acknowledge_wildcards(role, "The member role exists in every member account, discovered at run time: "
                                          f"sts:AssumeRole is limited to roles named {org.member_role_name} (the "
                                          "member roles' trust policy also requires this role and the organisation); "
                                          "X-Ray's write actions accept only `*`.")
        return function

    def _fanout(self) -> lambda_.Function:
        role = self._role("FanoutRole", "connector-health fan-out: lists the organisation's accounts, queues them")
        role.add_to_policy(iam.PolicyStatement(sid="ListOrganization", actions=list(ORGANIZATIONS_READS),
                                               resources=["*"]))
        self.queue.grant_send_messages(role)
        function = self._function(
            "Fanout", FANOUT_HANDLER, "connector-health: queue one scan per selected organisation account", role,
            Duration.minutes(5), {"ACCOUNT_QUEUE_URL": self.queue.queue_url},
            reserved_concurrent_executions=1,
        )
        self._acknowledge_wildcards(role, "The Organizations reads (" + ", ".join(ORGANIZATIONS_READS) + ") list the "
                                          "organisation, roots and OUs discovered at run time; ListAccounts, "
                                          "ListRoots and DescribeOrganization support no resource scoping. X-Ray's "
                                          "write actions accept only `*`.")
        return function

    def add_dashboard_widgets(self, dashboard: cloudwatch.Dashboard) -> None:
        """The run summary: accounts scanned, failed and skipped per period (metrics.py definitions), and the
        messages waiting in the dead-letter queue."""
        accounts = [cloudwatch.Metric(namespace=metrics.NAMESPACE, metric_name=m.name, statistic=m.statistic,
                                      dimensions_map={"service": metrics.SERVICE}, label=m.name)
                    for m in (metrics.ACCOUNTS_SCANNED, metrics.ACCOUNTS_FAILED, metrics.ACCOUNTS_SKIPPED)]
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Organisation: accounts per run", left=accounts, width=12),
            cloudwatch.GraphWidget(title="Organisation: accounts in the dead-letter queue", width=12,
                                   left=[self.dead_letter_queue.metric_approximate_number_of_messages_visible()]),
        )

    @staticmethod
    def _acknowledge_wildcards(role: iam.Role, reason: str) -> None:
        policy = role.node.find_child("DefaultPolicy")
        Validations.of(policy.node.default_child).acknowledge(Acknowledgment(id="AwsSolutions-IAM5[Resource::*]",
                                                                             reason=reason))
