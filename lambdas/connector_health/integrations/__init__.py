"""Opt-in integrations: the monitor's own findings published where security teams already work.

- Security Hub CSPM (`integrations.security_hub`): the finding lifecycle mirrored as ASFF findings in the scanned
  account (securityhub.py);
- a chat topic (`alerts.chat_topic_arn` or `alerts.create_chat_topic`): the e-mails' changes as Amazon Q
  Developer in chat applications cards (chat.py);
- EventBridge (`integrations.eventbridge`): one event per change (events.py);
- OCSF (`check --format ocsf`): Detection Finding objects (ocsf.py; output only, nothing is sent).

They run after the state and alert step of a run, from what it recorded: each connector's records as they were
before the run, the records the run observed, and the changes it told people about (`ConnectorOutcome`). These
are the monitor's only writes outside its own stack, and only when enabled. What a service refused is retried,
then reported in `DeliveryReport.refused` (the pipeline fails the run on it, so it alarms) and delivered by the
next run, through each finding item's `sync_<channel>` marker.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ..collect.aws import BOTO_CONFIG
from ..config import Config
from ..state.lifecycle import Change
from ..state.store import FindingRecord
from . import chat, events, securityhub
from .delivery import DeliveryReport
from .feed import at_least, feed

CHAT_TOPIC_ENV = "CHAT_TOPIC_ARN"  # set by the stack when it creates the chat topic

__all__ = ["ConnectorOutcome", "DeliveryReport", "chat_topic_arn", "deliver", "enabled"]


@dataclass
class ConnectorOutcome:
    """What the state and alert step of one connector hands to the integrations."""

    connector: str
    before: dict[str, FindingRecord]  # the connector's records as the run found them
    observed: list[FindingRecord]  # what the run recorded (reported findings, and those it resolved)
    told: list[Change] = field(default_factory=list)  # changes settled as told (alerted, or below the minimum)


def chat_topic_arn(config: Config) -> str | None:
    return os.environ.get(CHAT_TOPIC_ENV) or config.alerts.chat_topic_arn


def enabled(config: Config) -> bool:
    return bool(config.integrations.security_hub.enabled or config.integrations.eventbridge.enabled
                or chat_topic_arn(config) or config.alerts.create_chat_topic)


def deliver(config: Config, outcomes: list[ConnectorOutcome], *, account: str, partition: str, store,
            session: boto3.session.Session, scan_session: boto3.session.Session | None, now: dt.datetime,
            sleep: Callable[[float], None] | None = None) -> list[DeliveryReport]:
    """Run every enabled integration for one account's run. Security Hub is reached with `scan_session` (the
    scanned account; None when it could not be reached: nothing to mirror), the chat topic and the event bus with
    `session` (the monitor's own account)."""
    reports: list[DeliveryReport] = []
    if config.integrations.security_hub.enabled and scan_session is not None:
        items = [m for o in outcomes for m in securityhub.to_import(o.connector, o.before, o.observed)]
        client = scan_session.client("securityhub", region_name=config.region, config=BOTO_CONFIG)
        reports.append(securityhub.mirror(client, items, account=account, region=config.region, partition=partition,
                                          now=now, store=store, sleep=sleep))
    if config.alerts.create_chat_topic or config.alerts.chat_topic_arn:
        reports.append(_chat(config, outcomes, account=account, store=store, session=session, now=now))
    if config.integrations.eventbridge.enabled:
        eb = config.integrations.eventbridge
        changes = [c for o in outcomes
                   for c in at_least(feed(events.CHANNEL, o.connector, o.before, o.told, now), eb.min_severity)]
        # PutEvents goes to the bus's own region (a bus ARN may name another one).
        client = session.client("events", region_name=eb.bus.split(":")[3] if eb.bus.startswith("arn:") else config.region,
                                config=BOTO_CONFIG)
        reports.append(events.put_events(client, changes, account=account, region=config.region, bus=eb.bus,
                                         source=eb.source, now=now, store=store, sleep=sleep))
    return reports


def _chat(config: Config, outcomes: list[ConnectorOutcome], *, account: str, store, session, now) -> DeliveryReport:
    report = DeliveryReport("chat")
    topic = chat_topic_arn(config)
    if not topic:
        report.refuse("chat card", "NoTopic", f"alerts.create_chat_topic is set but {CHAT_TOPIC_ENV} is not: run "
                                              "where the stack set it, or give alerts.chat_topic_arn")
        return report
    sns = session.client("sns", region_name=topic.split(":")[3], config=BOTO_CONFIG)
    for o in outcomes:
        changes = at_least(feed("chat", o.connector, o.before, o.told, now), config.alerts.min_severity)
        if not changes:
            continue
        try:
            chat.publish(sns, topic, account, o.connector, changes)
        except (ClientError, BotoCoreError) as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError") if isinstance(exc, ClientError) \
                else exc.__class__.__name__
            report.refuse(f"chat card for {o.connector} in {account} ({len(changes)} change(s))", code, str(exc))
            continue
        report.delivered += len(changes)
        for f in changes:
            store.mark_synced(account, o.connector, f.change.record.fingerprint, "chat", f.token)
    return report
