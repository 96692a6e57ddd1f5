"""EventBridge: one event per finding change on a configured bus, so teams route changes to ticketing or SOAR
with a rule instead of another integration.

`source` is the configured one (default "connector-health"), `detail-type` "connector-health finding change",
`resources` the finding's resource ARN, and `detail` the change: kind (new, escalated, resolved, reminder),
severity (and the previous one), check, connector, account, region, status, times, the message, the fix, the
documentation URL and the finding's bounded evidence. Sizes (EventBridge user guide "Calculating PutEvents event
entry size"): at most 10 entries per PutEvents and 256 KB per entry and per request; an entry here keeps its
evidence within `DETAIL_BYTES`. Entries EventBridge refuses (FailedEntryCount, an ErrorCode per entry) are sent
again with a pause (integrations/delivery.py); what is still refused is reported and delivered by the next run.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ..bounds import clip, fit, utf8_len
from .delivery import DeliveryReport, Refusal, send_in_batches
from .feed import FeedChange
from .references import doc_url

CHANNEL = "events"
DETAIL_TYPE = "connector-health finding change"
BATCH_ENTRIES = 10
REQUEST_BYTES = 256 * 1024
DETAIL_BYTES = 32 * 1024
TEXT_CHARS = 4000
# Entry error codes that waiting cannot change.
FINAL_CODES = frozenset({"AccessDeniedException", "MalformedDetail", "InvalidArgument", "ValidationException",
                         "NotAuthorizedForSourceException", "InvalidEventPatternException"})


def detail(f: FeedChange, *, account: str, region: str) -> dict[str, Any]:
    c = f.change
    rec = c.record
    finding = rec.finding
    evidence, _ = fit(finding.get("details") or {}, DETAIL_BYTES // 2)
    return {
        "kind": c.kind,
        "severity": rec.severity,
        "previous_severity": c.previous_severity,
        "check_id": rec.check_id,
        "title": clip(finding.get("title") or "", 512),
        "connector": f.connector,
        "account": account,
        "region": region,
        "resource_arn": clip(rec.resource_arn, 2048),
        "fingerprint": rec.fingerprint,
        "status": rec.status,
        "first_seen": rec.first_seen,
        "last_seen": rec.last_seen,
        "resolved_at": rec.resolved_at,
        "message": clip(finding.get("message") or "", TEXT_CHARS),
        "remediation": clip(finding.get("remediation") or "", TEXT_CHARS),
        "documentation": doc_url(rec.check_id),
        "details": evidence,
    }


def entry(f: FeedChange, *, account: str, region: str, bus: str, source: str, now: dt.datetime) -> dict[str, Any]:
    """One PutEvents entry for one change."""
    out = {"Time": now, "Source": source, "DetailType": DETAIL_TYPE, "EventBusName": bus,
           "Detail": json.dumps(detail(f, account=account, region=region), default=str, sort_keys=True)}
    if str(f.change.record.resource_arn).startswith("arn:"):
        out["Resources"] = [clip(f.change.record.resource_arn, 1600)]
    return out


def entry_size(e: dict[str, Any]) -> int:
    """EventBridge's count: 14 bytes for Time, then Source, DetailType, Detail and each resource as UTF-8."""
    return 14 + sum(utf8_len(e[k]) for k in ("Source", "DetailType", "Detail")) \
        + sum(utf8_len(r) for r in e.get("Resources", ()))


def put_events(client, changes: list[FeedChange], *, account: str, region: str, bus: str, source: str,
               now: dt.datetime, store, sleep=None) -> DeliveryReport:
    """Send one event per change, batches of 10; record each delivered change's marker."""
    report = DeliveryReport("eventbridge")
    entries = {id(f): entry(f, account=account, region=region, bus=bus, source=source, now=now) for f in changes}

    def send(batch: list[FeedChange]) -> list[Refusal[FeedChange]]:
        answer = client.put_events(Entries=[entries[id(f)] for f in batch])
        refused = []
        if answer.get("FailedEntryCount"):
            for f, result in zip(batch, answer.get("Entries") or []):
                code = result.get("ErrorCode")
                if code:
                    refused.append(Refusal(f, str(code), str(result.get("ErrorMessage") or ""),
                                           final=code in FINAL_CODES))
        return refused

    failed = send_in_batches(send, changes, lambda f: entry_size(entries[id(f)]), max_items=BATCH_ENTRIES,
                             max_bytes=REQUEST_BYTES - 1024, sleep=sleep)
    for f in changes:
        if id(f) in failed:
            r = failed[id(f)]
            report.refuse(f"EventBridge event {f.change.kind} {f.change.record.check_id} {f.change.record.fingerprint} "
                          f"(bus {bus})", r.code, r.message)
            continue
        report.delivered += 1
        store.mark_synced(account, f.connector, f.change.record.fingerprint, CHANNEL, f.token)
    return report
