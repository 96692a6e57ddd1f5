"""The monitor's own resources in the sandbox: the state table, the alert topic, and a queue subscribed to the
topic so tests and the demo can read the alert e-mails back (the table has the schema the CDK stack deploys).
For the integrations: a chat topic with its own inbox queue, and an EventBridge rule on the default bus that
sends connector-health's events to a queue (Security Hub findings are read back with GetFindings)."""

from __future__ import annotations

import json
from typing import Any

STATE_TABLE = "connector-health-state"
ALERT_TOPIC = "connector-health-alerts"
ALERT_QUEUE = "connector-health-alerts-inbox"
CHAT_TOPIC = "connector-health-chat"
CHAT_QUEUE = "connector-health-chat-inbox"
EVENTS_QUEUE = "connector-health-events-inbox"
EVENTS_RULE = "connector-health-finding-changes"
EVENTS_SOURCE = "connector-health"


def _inbox(sns, sqs, topic: str, queue: str) -> tuple[str, str]:
    topic_arn = sns.create_topic(Name=topic)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return topic_arn, queue_url


def create_integration_targets(sns, sqs, events) -> dict[str, str]:
    """The chat topic (and its inbox), and a rule that routes connector-health's events to a queue."""
    chat_topic_arn, chat_queue_url = _inbox(sns, sqs, CHAT_TOPIC, CHAT_QUEUE)
    events_queue_url = sqs.create_queue(QueueName=EVENTS_QUEUE)["QueueUrl"]
    events_queue_arn = sqs.get_queue_attributes(QueueUrl=events_queue_url,
                                                AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=EVENTS_RULE, EventPattern=json.dumps({"source": [EVENTS_SOURCE]}), State="ENABLED")
    events.put_targets(Rule=EVENTS_RULE, Targets=[{"Id": "inbox", "Arn": events_queue_arn}])
    return {"chat_topic_arn": chat_topic_arn, "chat_queue_url": chat_queue_url, "events_queue_url": events_queue_url}


def read_queue(sqs, queue_url: str, wait: float = 0.0) -> list[dict[str, Any]]:
    """Every message body waiting in a queue, parsed as JSON (and deleted)."""
    out: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=int(wait)).get("Messages", [])
        if not messages:
            return out
        for msg in messages:
            out.append(json.loads(msg["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
        wait = 0


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
