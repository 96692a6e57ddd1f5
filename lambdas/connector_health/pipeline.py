"""What the scheduled handler runs (and `connector-health run` runs locally): scan, baseline, lifecycle, alerts.

1. Who am I (sts:GetCallerIdentity) -> load each connector's accepted baseline.
2. Scan the account (drift checks compare with the baselines). A connector without a baseline gets one now
   (first run: recorded, nothing alerted for drift).
3. Per connector: record what this run observed, derive the changes (new, escalated, resolved, reminder), claim
   them with conditional writes, publish the connector's claimed changes at or above the minimum severity (one
   message, or several when they do not fit SNS's limit: `alerts.compose_all`), and record each message's
   changes as notified once that message is published. A failed publish releases its message's claims (the next
   run alerts them again) and never blocks the connector's other messages; a Lambda retry of the same run (same
   run id) finds the run markers of the messages it published and does not publish those changes twice.
4. The opt-in integrations (integrations/): Security Hub mirrors the lifecycle the run recorded, the chat topic and
   EventBridge get the changes the run told people about. What they could not deliver is in `delivery_errors`
   (the run fails, so it alarms) and goes out with the next run.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .alerts import AlertMessage, compose_all, compose_summary
from .checks.monitor import ACCOUNT_WIDE, state_problem_finding
from .collect.aws import BOTO_CONFIG, AccountSnapshot
from .config import Config
from .engine import Coverage, ScanResult, scan_account
from .findings import Finding, Severity
from .integrations import ConnectorOutcome, DeliveryReport, deliver, enabled as integrations_enabled
from .state.baseline import capture
from .state.lifecycle import Change, plan
from .state.live import LiveStateStore
from .state.store import StateStore

log = logging.getLogger(__name__)


class PipelineError(Exception):
    """The pipeline cannot run at all (no state table configured, ...): one line for a person."""


@dataclass
class PublishedAlert:
    connector: str
    message: AlertMessage
    message_id: str


@dataclass
class PipelineResult:
    scan: ScanResult
    changes: dict[str, list[Change]] = field(default_factory=dict)
    published: list[PublishedAlert] = field(default_factory=list)
    publish_errors: list[str] = field(default_factory=list)
    baselines_recorded: list[str] = field(default_factory=list)
    retried_runs: list[str] = field(default_factory=list)
    # Changes settled as told this run, per connector (what the chat topic and EventBridge follow).
    told: dict[str, list[Change]] = field(default_factory=dict)
    deliveries: list[DeliveryReport] = field(default_factory=list)

    @property
    def delivery_errors(self) -> list[str]:
        """Items an integration could not deliver (after its retries); the next run delivers them."""
        return [line for report in self.deliveries for line in report.refused]

    def summary(self) -> dict[str, Any]:
        return {
            **self.scan.summary(),
            "alerts_published": len(self.published),
            "publish_errors": self.publish_errors,
            **({"integrations": {r.channel: r.as_dict() for r in self.deliveries},
                "delivery_errors": self.delivery_errors[:20]} if self.deliveries else {}),
            "baselines_recorded": self.baselines_recorded,
            "changes": {c: [f"{x.kind}:{x.record.check_id}" for x in ch] for c, ch in self.changes.items() if ch},
        }


def _targets(config: Config) -> tuple[str, str]:
    table = os.environ.get("STATE_TABLE") or config.state.table_name
    topic = os.environ.get("ALERT_TOPIC_ARN") or config.state.topic_arn
    if not table:
        raise PipelineError("no state table: set state.table_name in the config or STATE_TABLE in the environment")
    if not topic:
        raise PipelineError("no alert topic: set state.topic_arn in the config or ALERT_TOPIC_ARN in the environment")
    return table, topic


def _state_and_topic(config: Config, session: boto3.session.Session, sns) -> tuple[StateStore, Any, str]:
    """(state store, SNS client, topic ARN) reached with `session`, the monitor's own credentials."""
    table, topic = _targets(config)
    sns = sns or session.client("sns", region_name=config.region, config=BOTO_CONFIG)
    return StateStore(table, session, config.region), sns, topic


def run_pipeline(config: Config, *, run_id: str, session: boto3.session.Session | None = None,
                 now: dt.datetime | None = None, sns=None, scan_session: boto3.session.Session | None = None,
                 account_id: str | None = None, exchanges: bool = True, inspector=None) -> PipelineResult:
    """`session` reaches the state table, the topic and the token-source secrets; `scan_session` (default: the
    same) the scanned account, e.g. a member account's role in hub mode (then pass its `account_id` to save the
    GetCallerIdentity call)."""
    session = session or boto3.session.Session()
    scan_session = scan_session or session
    now = now or dt.datetime.now(dt.timezone.utc)
    store, sns, topic = _state_and_topic(config, session, sns)
    account = account_id or scan_session.client("sts", region_name=config.region,
                                                config=BOTO_CONFIG).get_caller_identity()["Account"]

    connectors = config.resolved_connectors()
    baselines = {c.name: store.get_baseline(account, c.name) for c in connectors}
    live_store = LiveStateStore(store.table_name, session, config.region)
    live_state = live_store.load(account) if config.live_exchanges.enabled else None
    scan = scan_account(config, session=scan_session, account_id=account, now=now, exchanges=exchanges,
                        inspector=inspector, baselines={k: v for k, v in baselines.items() if v},
                        secrets_session=session, live_state=live_state)
    result = PipelineResult(scan=scan)

    for conn in connectors:
        if baselines[conn.name] is None:
            current = capture(conn, scan.snapshot, scan.issuers.get(conn.issuer))
            if scan.snapshot.roles_complete and scan.snapshot.providers_complete:
                if store.put_baseline(account, conn.name, current, now, only_if_absent=True):
                    result.baselines_recorded.append(conn.name)

    by_connector: dict[str, list[Finding]] = {c.name: [] for c in connectors}
    for finding in scan.findings:
        by_connector.setdefault(finding.connector, []).append(finding)
    # Account-wide monitor findings ("*") have their own lifecycle, even when there are none this run; they are
    # settled last, with a finding for every state write that did not fit.
    account_wide = by_connector.pop(ACCOUNT_WIDE, [])
    outcomes = [_settle_connector(config, store, sns, topic, account, name, findings, run_id, now, result,
                                  scan.coverage) for name, findings in by_connector.items()]
    account_wide += [state_problem_finding(config, account, scan.snapshot.partition, p) for p in store.problems]
    outcomes.append(_settle_connector(config, store, sns, topic, account, ACCOUNT_WIDE, account_wide, run_id, now,
                                      result, scan.coverage))
    if integrations_enabled(config):
        result.deliveries = deliver(config, outcomes, account=account, partition=scan.snapshot.partition,
                                    store=store, session=session, scan_session=scan_session, now=now)
    # The next run's CloudTrail window starts where this one ended, once this run's changes went out (a retried run
    # reads the same window again).
    if scan.live is not None and scan.live.available and not result.publish_errors:
        live_store.save(account, scan.live.next_state(), now)
    return result


def settle_account_findings(config: Config, *, run_id: str, account: str, findings: list[Finding],
                            session: boto3.session.Session | None = None, now: dt.datetime | None = None,
                            sns=None) -> PipelineResult:
    """The state and alert step for account-wide findings (connector "*") of an account that could not be scanned
    (hub mode: its member role is missing or refuses). Per-connector state is left as it was: unknown, not resolved."""
    session = session or boto3.session.Session()
    now = now or dt.datetime.now(dt.timezone.utc)
    store, sns, topic = _state_and_topic(config, session, sns)
    scan = ScanResult(account_id=account, findings=list(findings), snapshot=AccountSnapshot(account_id=account),
                      issuers={}, connectors=[], duration_seconds=0.0)
    result = PipelineResult(scan=scan)
    # Nothing ran in the account: no earlier finding of it may be resolved (Coverage() lets none resolve).
    outcome = _settle_connector(config, store, sns, topic, account, "*", [f for f in findings if f.connector == "*"],
                                run_id, now, result, Coverage())
    if integrations_enabled(config):  # Security Hub is in the account that could not be reached: not mirrored
        partition = findings[0].resource_arn.split(":")[1] if findings and findings[0].resource_arn.startswith("arn:") \
            else "aws"
        result.deliveries = deliver(config, [outcome], account=account, partition=partition, store=store,
                                    session=session, scan_session=None, now=now)
    return result


def _settle_connector(config: Config, store: StateStore, sns, topic: str, account: str, connector: str,
                      findings: list[Finding], run_id: str, now: dt.datetime, result: PipelineResult,
                      coverage: Coverage) -> ConnectorOutcome:
    records = store.load_findings(account, connector)
    observed, changes = plan(findings, records, now, reminder_hours=config.alerts.reminder_hours,
                             retention_days=config.state.retention_days,
                             may_resolve=lambda rec: coverage.may_resolve(connector, rec.check_id,
                                                                          rec.finding.get("details")))
    for rec in observed:
        store.observe(account, connector, rec)
    minimum = Severity(config.alerts.min_severity)
    claimed = [c for c in changes if store.claim(account, connector, c.record, run_id)]
    loud = [c for c in claimed if c.severity.at_least(minimum)]
    quiet = [c for c in claimed if not c.severity.at_least(minimum)]
    outcome = ConnectorOutcome(connector, records, observed, told=result.told.setdefault(connector, []))
    for change in quiet:  # below the minimum: recorded as handled, never sent
        store.settle(account, connector, change.record, run_id, notified=True, now=now)
        outcome.told.append(change)
    result.changes[connector] = loud
    if not loud:
        return outcome
    already = store.published_fingerprints(run_id, account, connector)
    done = loud if already is None else [c for c in loud if c.record.fingerprint in already]
    if done:
        result.retried_runs.append(connector)  # a retry of a run that already published: finish its bookkeeping
        for change in done:
            store.settle(account, connector, change.record, run_id, notified=True, now=now)
        outcome.told.extend(done)
    settled = {id(c) for c in done}
    pending = [c for c in loud if id(c) not in settled]
    for message in compose_all(account, connector, pending):
        _publish(config, store, sns, topic, account, connector, message, run_id, now, result)
    return outcome


def _publish(config: Config, store: StateStore, sns, topic: str, account: str, connector: str, message: AlertMessage,
             run_id: str, now: dt.datetime, result: PipelineResult) -> None:
    """Publish one message and settle exactly its changes; a failure releases them and stops nothing else."""
    try:
        response = _send(sns, topic, message)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("InvalidParameter", "InvalidParameterValue"):
            return _release(store, account, connector, message, run_id, now, result, exc)
        # SNS refused this message as it was: tell people what changed in the plainest form instead.
        message = compose_summary(account, connector, message.changes,
                                  reason=f"SNS refused the full alert ({str(exc)[:200]}); the changes, listed:")
        try:
            response = _send(sns, topic, message)
        except (ClientError, BotoCoreError) as again:
            return _release(store, account, connector, message, run_id, now, result, again)
    except BotoCoreError as exc:
        return _release(store, account, connector, message, run_id, now, result, exc)
    message_id = response.get("MessageId", "")
    store.mark_published(run_id, account, connector, message_id, now, config.state.retention_days,
                         [c.record.fingerprint for c in message.changes])
    result.published.append(PublishedAlert(connector, message, message_id))
    for change in message.changes:
        store.settle(account, connector, change.record, run_id, notified=True, now=now)
    result.told.setdefault(connector, []).extend(message.changes)


def _send(sns, topic: str, message: AlertMessage) -> dict[str, Any]:
    return sns.publish(TopicArn=topic, Subject=message.subject, Message=message.body,
                       MessageAttributes=message.attributes)


def _release(store: StateStore, account: str, connector: str, message: AlertMessage, run_id: str, now: dt.datetime,
             result: PipelineResult, exc: Exception) -> None:
    for change in message.changes:
        store.settle(account, connector, change.record, run_id, notified=False, now=now)
    result.publish_errors.append(f"{connector}: {exc.__class__.__name__}: {str(exc)[:200]}")
    log.warning("alert publish failed; the next run retries", extra={"connector": connector})


def accept_baseline(config: Config, *, connector: str | None = None, session: boto3.session.Session | None = None,
                    now: dt.datetime | None = None) -> list[str]:
    """`baseline accept`: adopt the current state as the baseline (all connectors, or one)."""
    session = session or boto3.session.Session()
    now = now or dt.datetime.now(dt.timezone.utc)
    table, _ = _targets(config)
    names = [c.name for c in config.resolved_connectors()]
    if connector is not None and connector not in names:
        raise PipelineError(f"--connector {connector!r}: no enabled connector of that name; the config has {', '.join(names)}")
    store = StateStore(table, session, config.region)
    scan = scan_account(config, session=session, now=now, exchanges=False, live=False)
    if not (scan.snapshot.roles_complete and scan.snapshot.providers_complete):
        raise PipelineError("the account could not be read completely (see MONITOR_* findings of `check`); baseline not changed")
    accepted = []
    for conn in scan.connectors:
        if connector is None or conn.name == connector:
            store.put_baseline(scan.account_id, conn.name, capture(conn, scan.snapshot, scan.issuers.get(conn.issuer)), now)
            accepted.append(conn.name)
    return accepted
