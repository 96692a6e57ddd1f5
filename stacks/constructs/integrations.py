"""The opt-in integrations' resources and permissions (lambdas/connector_health/integrations/).

Each grant exists only when its integration is enabled in the configuration, and each is scoped to exactly one
resource: these are the monitor's only writes outside its own stack, and they write nothing but its own findings.
- Security Hub: `securityhub:BatchImportFindings` on the account's default product
  (`arn:PARTITION:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`), for the role that scans the account (the
  scan function's, or in hub mode the member role: the worker imports with the member session);
- the chat topic: `sns:Publish` on it (the configured `alerts.chat_topic_arn`, or one created here, encrypted with
  the alert topic's key and TLS-only; its ARN reaches the functions as CHAT_TOPIC_ARN and is an output);
- EventBridge: `events:PutEvents` on the configured bus, only for the configured `source`.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from connector_health.config import Config
from connector_health.integrations import CHAT_TOPIC_ENV

SECURITY_HUB_SID = "SecurityHubImportOwnFindings"
CHAT_SID = "PublishChatCards"
EVENTS_SID = "PutFindingChangeEvents"
SECURITY_HUB_ACTION = "securityhub:BatchImportFindings"


def security_hub_statement(region: str) -> iam.PolicyStatement:
    """Import findings into this account's default product in `region` (the scanned account and region)."""
    product = f"arn:{Aws.PARTITION}:securityhub:{region}:{Aws.ACCOUNT_ID}:product/{Aws.ACCOUNT_ID}/default"
    return iam.PolicyStatement(sid=SECURITY_HUB_SID, actions=[SECURITY_HUB_ACTION], resources=[product])


def event_bus_arn(bus: str, region: str) -> str:
    return bus if bus.startswith("arn:") else f"arn:{Aws.PARTITION}:events:{region}:{Aws.ACCOUNT_ID}:event-bus/{bus}"


def integration_writes(config: Config, *, security_hub: bool) -> list[str]:
    """The write actions outside the stack that a role gets from the enabled integrations (for the cdk-nag
    acknowledgements and the README's promise that there are no others)."""
    writes = []
    if security_hub and config.integrations.security_hub.enabled:
        writes.append(SECURITY_HUB_ACTION + " (its own findings, the account's default product)")
    if config.alerts.chat_topic_arn or config.alerts.create_chat_topic:
        writes.append("sns:Publish (the chat topic)")
    if config.integrations.eventbridge.enabled:
        writes.append(f"events:PutEvents (bus {config.integrations.eventbridge.bus}, source "
                      f"{config.integrations.eventbridge.source})")
    return writes


class Integrations(Construct):
    """The chat topic when the stack creates it, and the integrations' grants and environment for a role."""

    def __init__(self, scope: Construct, construct_id: str, *, config: Config, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self.chat_topic: sns.Topic | None = self._chat_topic(key) if config.alerts.create_chat_topic else None
        if self.chat_topic is not None:
            CfnOutput(scope, "ChatTopicArn", value=self.chat_topic.topic_arn,
                      description="SNS topic of the chat cards: add it to an Amazon Q Developer in chat applications "
                                  "channel configuration (Slack or Microsoft Teams)")

    def _chat_topic(self, key: kms.IKey) -> sns.Topic:
        return sns.Topic(self, "ChatTopic", display_name="connector-health chat", master_key=key, enforce_ssl=True)

    @property
    def chat_topic_arn(self) -> str | None:
        return self.chat_topic.topic_arn if self.chat_topic is not None else self._config.alerts.chat_topic_arn

    def grant(self, role: iam.IRole, function: lambda_.Function, *, security_hub: bool) -> None:
        """What `role` needs for the enabled integrations. `security_hub`: whether this role imports (the scan
        function's role does; the hub worker's does not, it imports with each member account's role)."""
        config = self._config
        if security_hub and config.integrations.security_hub.enabled:
            role.add_to_principal_policy(security_hub_statement(config.region))
        topic = self.chat_topic_arn
        if topic:
            role.add_to_principal_policy(iam.PolicyStatement(sid=CHAT_SID, actions=["sns:Publish"], resources=[topic]))
            if self.chat_topic is not None:
                function.add_environment(CHAT_TOPIC_ENV, self.chat_topic.topic_arn)
        eb = config.integrations.eventbridge
        if eb.enabled:
            role.add_to_principal_policy(iam.PolicyStatement(
                sid=EVENTS_SID, actions=["events:PutEvents"], resources=[event_bus_arn(eb.bus, config.region)],
                conditions={"StringEquals": {"events:source": eb.source}}))
