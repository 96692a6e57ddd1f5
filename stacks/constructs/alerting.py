"""The alert topic: KMS-encrypted, TLS-only, with the configured e-mail subscriptions.

The scan handler publishes findings to it; the CloudWatch alarms (dashboard.py) publish to it too, which is why
the key is customer-managed: the AWS-managed SNS key's policy cannot admit CloudWatch alarms.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

CLOUDWATCH = "cloudwatch.amazonaws.com"


class Alerting(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, emails: Sequence[str]) -> None:
        super().__init__(scope, construct_id)
        self.key = self._key()
        self.topic = self._topic()
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

    def _key(self) -> kms.Key:
        key = kms.Key(
            self,
            "TopicKey",
            description="connector-health: encrypts the alert topic",
            enable_key_rotation=True,
            pending_window=Duration.days(30),
            removal_policy=RemovalPolicy.DESTROY,  # only encrypts in-flight messages; nothing to decrypt later
        )
        # Alarm actions publish to the topic as the CloudWatch service, which needs the data key (AWS docs:
        # "configure a CloudWatch alarm with an encrypted SNS topic"). Resource "*" in a key policy is this key.
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToUseTheKey",
            principals=[iam.ServicePrincipal(CLOUDWATCH)],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
        ))
        return key

    def _topic(self) -> sns.Topic:
        topic = sns.Topic(
            self,
            "Topic",
            display_name="connector-health",
            master_key=self.key,
            enforce_ssl=True,  # topic policy: Deny every action when aws:SecureTransport is false
        )
        # A topic policy replaces SNS's default one, which is what lets same-account alarms publish; say it again,
        # limited to this account's alarms.
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowThisAccountsAlarmsToPublish",
            principals=[iam.ServicePrincipal(CLOUDWATCH)],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"},
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
            },
        ))
        return topic
