"""Chat cards match the documented custom-notification format and stay short and inert; EventBridge entries
stay within PutEvents' limits; the change feed catches up what a channel missed (pure)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest

from connector_health.integrations.chat import CARD_BYTES, card
from connector_health.integrations.events import BATCH_ENTRIES, REQUEST_BYTES, entry, entry_size, put_events
from connector_health.integrations.feed import FeedChange, feed, told_token
from connector_health.state.lifecycle import Change
from connector_health.state.store import FindingRecord

SCHEMA = json.loads((Path(__file__).parent / "chatbot_custom_notification.schema.json").read_text(encoding="utf-8"))
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
ACCOUNT = "123456789012"


def rec(n: int, *, severity="high", status="open", notified=None, notified_severity=None, last_alerted=None,
        marker=None, title="Trust policy admits an unexpected principal", resource=None, message="m",
        remediation="Remove the statement.") -> FindingRecord:
    r = FindingRecord(fingerprint=f"{n:032x}", check_id=f"TRUST_CHECK_{n % 3}", severity=severity,
                      resource_arn=resource or f"arn:aws:iam::{ACCOUNT}:role/role-{n}", status=status,
                      first_seen="2026-02-01T00:00:00Z", last_seen="2026-03-01T12:00:00Z",
                      finding={"title": title, "message": message, "remediation": remediation,
                               "details": {"n": n}},
                      notified_status=notified, notified_severity=notified_severity, last_alerted=last_alerted)
    if marker is not None:
        r.extra["sync_chat"] = marker
    return r


def fc(n: int, kind="new", **kw) -> FeedChange:
    return FeedChange("defender", Change(kind, rec(n, **kw)), "open:high:x")


def test_a_card_matches_the_documented_format():
    changes = [fc(1, severity="critical"), fc(2, "resolved", status="resolved"), fc(3, "escalated")]
    changes[2] = FeedChange("defender", Change("escalated", rec(3), "medium"), "t")
    body = card(ACCOUNT, "defender", changes)
    jsonschema.validate(body, SCHEMA)
    assert body["version"] == "1.0" and body["source"] == "custom"
    assert body["content"]["textType"] == "client-markdown"
    assert body["content"]["title"].startswith(":red_circle: CRITICAL connector-health: defender in 123456789012: ")
    lines = body["content"]["description"].split("\n")
    assert lines[0].startswith("*NEW CRITICAL*") and "(was MEDIUM)" in body["content"]["description"]
    assert "*RESOLVED HIGH*" in lines[-2]  # resolutions last
    assert body["content"]["nextSteps"][0].startswith("TRUST_CHECK_1: Remove")
    assert body["metadata"]["threadId"] == "connector-health-123456789012-defender"


def test_only_resolutions_make_a_resolved_card():
    body = card(ACCOUNT, "defender", [fc(1, "resolved", status="resolved")])
    jsonschema.validate(body, SCHEMA)
    assert body["content"]["title"].startswith(":white_check_mark: RESOLVED")
    assert "nextSteps" not in body["content"]


def test_many_and_huge_changes_make_one_short_card():
    changes = [fc(n, title="t" * 5000, message="x" * 100_000, remediation="r" * 10_000,
                  resource="arn:aws:iam::123456789012:role/" + "n" * 3000) for n in range(500)]
    body = card(ACCOUNT, "c" * 63, changes)
    jsonschema.validate(body, SCHEMA)
    assert len(json.dumps(body).encode()) < CARD_BYTES
    assert "… and " in body["content"]["description"] and "more change(s)" in body["content"]["description"]
    assert body["metadata"]["additionalContext"]["changes"] == "500"


def test_hostile_text_cannot_mention_link_or_break_out_of_code():
    hostile = "<!channel> <https://evil.example|click> `x` @here\nline2 \x1b[31m"
    body = card(ACCOUNT, "defender", [fc(1, title=hostile, resource=f"arn:aws:iam::{ACCOUNT}:role/{hostile}",
                                         remediation=hostile)])
    jsonschema.validate(body, SCHEMA)
    text = json.dumps(body, ensure_ascii=False)
    for raw in ("<!channel>", "<https://", "@here", "\x1b"):
        assert raw not in text
    assert body["content"]["description"].count("`") % 2 == 0


def test_event_entries_and_batches_fit_put_events():
    changes = [fc(n, message="x" * 200_000, title="t" * 5000) for n in range(25)]
    entries = [entry(c, account=ACCOUNT, region="us-east-1", bus="default", source="connector-health", now=NOW)
               for c in changes]
    assert all(entry_size(e) < 64 * 1024 for e in entries)
    detail = json.loads(entries[0]["Detail"])
    assert detail["kind"] == "new" and detail["fingerprint"] == f"{0:032x}" and detail["account"] == ACCOUNT
    assert entries[0]["Resources"] == [changes[0].change.record.resource_arn]

    class Events:
        def __init__(self):
            self.batches = []

        def put_events(self, Entries):
            self.batches.append(Entries)
            assert len(Entries) <= BATCH_ENTRIES and sum(entry_size(e) for e in Entries) < REQUEST_BYTES
            return {"FailedEntryCount": 0, "Entries": [{"EventId": "e"} for _ in Entries]}

    class Store:
        marks = []

        def mark_synced(self, *args):
            self.marks.append(args)

    client = Events()
    report = put_events(client, changes, account=ACCOUNT, region="us-east-1", bus="default",
                        source="connector-health", now=NOW, store=Store())
    assert report.delivered == 25 and [len(b) for b in client.batches] == [10, 10, 5]


@pytest.mark.parametrize("marker,notified,severity,expected", [
    (None, "open", "high", "new"),  # the channel never heard of it
    ("resolved:high:t0", "open", "high", "new"),  # reopened while the channel still had it resolved
    ("open:medium:t0", "open", "high", "escalated"),
    ("open:high:t0", "open", "high", "reminder"),  # a reminder the channel missed
    ("open:high:t0", "resolved", "high", "resolved"),
    (None, "resolved", "high", None),  # never heard of it while open: nothing to say
    ("resolved:high:t0", "resolved", "high", None),
])
def test_the_feed_catches_up_what_a_channel_missed(marker, notified, severity, expected):
    before = {f"{1:032x}": rec(1, severity=severity, notified=notified, notified_severity=severity,
                               last_alerted="t1", marker=marker)}
    changes = feed("chat", "defender", before, [], NOW)
    assert [c.change.kind for c in changes] == ([expected] if expected else [])
    if expected:
        assert changes[0].token == told_token(notified, severity, "t1")


def test_the_feed_skips_what_the_channel_has_and_prefers_this_runs_change():
    held = rec(1, notified="open", notified_severity="high", last_alerted="t1", marker=told_token("open", "high", "t1"))
    untold = rec(2, notified=None)  # the e-mail has not told it yet (its publish failed): the channel waits
    now_told = Change("escalated", rec(3, severity="critical"), "high")
    before = {r.fingerprint: r for r in (held, untold, rec(3, notified="open", notified_severity="high",
                                                             last_alerted="t0"))}
    changes = feed("chat", "defender", before, [now_told], NOW)
    assert [(c.change.kind, c.change.record.fingerprint) for c in changes] == [("escalated", f"{3:032x}")]
    assert changes[0].token == told_token("open", "critical", "2026-03-01T12:00:00Z")
