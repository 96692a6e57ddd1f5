"""The monitor's own resources in the sandbox: the state table, the alert topic, and a queue subscribed to the
topic so tests and the demo can read the alert e-mails back (the table has the schema the CDK stack deploys)."""

from __future__ import annotations

import json
from typing import Any

STATE_TABLE = "connector-health-state"
ALERT_TOPIC = "connector-health-alerts"
ALERT_QUEUE = "connector-health-alerts-inbox"


def create_monitor_resources(dynamodb, sns, sqs) -> dict[str, str]:
    dynamodb.create_table(
        TableName=STATE_TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    dynamodb.update_time_to_live(TableName=STATE_TABLE,
                                 TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    topic_arn = sns.create_topic(Name=ALERT_TOPIC)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=ALERT_QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return {"state_table": STATE_TABLE, "alert_topic_arn": topic_arn, "alert_queue_url": queue_url}


def read_alerts(sqs, queue_url: str, wait: float = 0.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        resp = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=int(wait))
        messages = resp.get("Messages", [])
        if not messages:
            return out
        for msg in messages:
            envelope = json.loads(msg["Body"])
            attrs = {k: v.get("Value") for k, v in (envelope.get("MessageAttributes") or {}).items()}
            out.append({"subject": envelope.get("Subject"), "body": envelope.get("Message"), "attributes": attrs})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
        wait = 0
