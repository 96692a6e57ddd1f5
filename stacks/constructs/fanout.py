"""Hub mode: the scheduled fan-out function, the account queue with its dead-letter queue, the worker function.

The fan-out lists the organisation's accounts and sends one SQS message per selected account; the worker (SQS
event source, partial batch responses, bounded reserved concurrency) assumes each account's member role and runs
the pipeline. A message that fails `max_receive_count` times moves to the dead-letter queue. AWS's services carry
the distribution; nothing here schedules work itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, Stack, Token, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from connector_health import metrics
from connector_health.config import OrgConfig

from .dashboard import LAMBDA_ALARM_PERIOD, account_search, alarm_to_topic, metric
from .function import FunctionCode, MonitorFunction
from .scanner import grant_state_and_alerts, grant_token_secrets

FANOUT_HANDLER = "handlers.fanout.handler"
WORKER_HANDLER = "handlers.worker.handler"
FANOUT_MEMORY_MB = 256  # lists the organisation and sends messages: no scan happens here
ORGANIZATIONS_READS = (
    "organizations:DescribeOrganization", "organizations:ListAccounts", "organizations:ListRoots",
    "organizations:ListOrganizationalUnitsForParent", "organizations:ListAccountsForParent",
)


@dataclass(frozen=True)
class OrgFanoutProps:
    org: OrgConfig
    schedule: str
    code: FunctionCode
    memory_mb: int  # the worker's (config `function_memory_mb`: it scans one account at a time, as the scan does)
    secret_arns: Sequence[str]  # token-source secrets: read by the hub (the worker), never a member account


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
        self.alarms = self._alarms(topic)

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
    def _role(self, name: str, description: str) -> iam.Role:
        return iam.Role(self, name, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description)

    def _worker(self, table: dynamodb.ITable, topic: sns.ITopic, key: kms.IKey) -> lambda_.Function:
        org = self._props.org
        role = self._role("WorkerRole", "connector-health worker: assumes the member roles, writes its own state")
        partition = Stack.of(self).partition
        role.add_to_policy(iam.PolicyStatement(
            sid="AssumeMemberRoles", actions=["sts:AssumeRole"],
            resources=[f"arn:{partition}:iam::*:role/{org.member_role_name}"]))
        grant_state_and_alerts(role, table, topic, key)
        grant_token_secrets(role, self._props.secret_arns)
        function = MonitorFunction(
            self, "Worker", code=self._props.code, handler=WORKER_HANDLER,
            description="connector-health: scan one member account per message (hub mode)", role=role,
            memory_mb=self._props.memory_mb, timeout=Duration.seconds(org.worker_timeout_seconds),
            environment={"STATE_TABLE": table.table_name, "ALERT_TOPIC_ARN": topic.topic_arn,
                         "AWS_STS_REGIONAL_ENDPOINTS": "regional"},
            reserved_concurrent_executions=org.worker_concurrency,
        ).function
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
        function = MonitorFunction(
            self, "Fanout", code=self._props.code, handler=FANOUT_HANDLER,
            description="connector-health: queue one scan per selected organisation account", role=role,
            memory_mb=FANOUT_MEMORY_MB, timeout=Duration.minutes(5),
            environment={"ACCOUNT_QUEUE_URL": self.queue.queue_url},
            reserved_concurrent_executions=1,
        ).function
        self._acknowledge_wildcards(role, "The Organizations reads (" + ", ".join(ORGANIZATIONS_READS) + ") list the "
                                          "organisation, roots and OUs discovered at run time; ListAccounts, "
                                          "ListRoots and DescribeOrganization support no resource scoping. X-Ray's "
                                          "write actions accept only `*`.")
        return function

    # ------------------------------------------------------------------ operations
    def _alarms(self, topic: sns.ITopic) -> list[cloudwatch.Alarm]:
        """Worker errors, fan-out errors and messages in the dead-letter queue page through the alert topic."""
        stack_name = Stack.of(self).stack_name

        def on(construct_id: str, name: str, description: str, metric_: cloudwatch.IMetric) -> cloudwatch.Alarm:
            return alarm_to_topic(cloudwatch.Alarm(
                self, construct_id, alarm_name=f"{stack_name}-{name}", alarm_description=description, metric=metric_,
                threshold=1, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING), topic)

        return [
            on("WorkerErrorsAlarm", "worker-errors",
               "The organisation worker failed an invocation (every account of a batch failed, or it timed out): "
               "see its log group; SQS redelivers the accounts, and after max_receive_count they go to the "
               "dead-letter queue.",
               self.worker.metric_errors(period=LAMBDA_ALARM_PERIOD, statistic="Sum")),
            on("FanoutErrorsAlarm", "fanout-errors",
               "The organisation fan-out failed: this run's accounts may not be queued (listing the organisation "
               "failed, or SQS refused messages). EventBridge retries it twice; see its log group.",
               self.fanout.metric_errors(period=LAMBDA_ALARM_PERIOD, statistic="Sum")),
            on("DeadLetterAlarm", "accounts-dead-letter",
               "Accounts whose scan failed max_receive_count times wait in the dead-letter queue: they are not "
               "being monitored. Read the worker's log for them, fix the cause, then redrive the queue.",
               self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                   period=LAMBDA_ALARM_PERIOD, statistic="Maximum")),
        ]

    def add_dashboard_widgets(self, dashboard: cloudwatch.Dashboard, period: Duration) -> None:
        """The run summary (accounts scanned, failed, skipped), every account's health, the dead-letter queue and
        the hub's alarms; metrics from the metrics.py definitions."""
        accounts = [metric(m, period, label=m.name)
                    for m in (metrics.ACCOUNTS_SCANNED, metrics.ACCOUNTS_FAILED, metrics.ACCOUNTS_SKIPPED)]
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Organisation: accounts per run", left=accounts, width=8),
            cloudwatch.GraphWidget(
                title="Organisation: account healthy (1 = no open finding at medium or above; one line per account)",
                left=[account_search(metrics.ACCOUNT_HEALTHY, period)],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=1, show_units=False), width=8),
            cloudwatch.GraphWidget(
                title="Organisation: findings at medium or above, per account",
                left=[account_search(metrics.ACCOUNT_FINDINGS, period)],
                left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False), width=8),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Organisation: accounts in the dead-letter queue", width=12,
                                   left=[self.dead_letter_queue.metric_approximate_number_of_messages_visible()]),
            cloudwatch.AlarmStatusWidget(title="Organisation alarms", alarms=self.alarms, width=12, height=3),
        )

    @staticmethod
    def _acknowledge_wildcards(role: iam.Role, reason: str) -> None:
        policy = role.node.find_child("DefaultPolicy")
        Validations.of(policy.node.default_child).acknowledge(Acknowledgment(id="AwsSolutions-IAM5[Resource::*]",
                                                                             reason=reason))
