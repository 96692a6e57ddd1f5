"""The state table: accepted baselines per connector and the lifecycle of each finding (written by the scan handler)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"


class StateTable(Construct):
    """On-demand DynamoDB table with point-in-time recovery, kept when the stack is deleted.

    Encrypted with the AWS-managed key: the table holds findings and baselines (no secrets), and a customer-managed
    key would add a monthly key charge without changing who can read it (the IAM policies decide that).
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # The baseline is what a user accepted; deleting the stack must not lose it.
            removal_policy=RemovalPolicy.RETAIN,
        )
