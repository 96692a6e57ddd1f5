"""Alert messages always fit SNS: packing, summaries, subjects and bodies (pure: no AWS)."""

from __future__ import annotations

import json

import pytest

from connector_health.alerts import MAX_MESSAGES, SNS_MESSAGE_BYTES, compose_all, compose_summary
from connector_health.state.lifecycle import Change
from connector_health.state.store import FindingRecord

SEVERITIES = ["critical", "high", "medium", "low"]


def _change(n: int, *, severity: str = "high", kind: str = "new", message: str = "m", diff=None,
            resource: str | None = None) -> Change:
    finding = {"check_id": "TRUST_WILDCARD_PRINCIPAL", "title": "t", "message": message, "remediation": "fix it",
               "details": {"diff": diff} if diff is not None else {}}
    record = FindingRecord(fingerprint=f"{n:032x}", check_id=f"CHECK_{n % 7}", severity=severity,
                           resource_arn=resource or f"arn:aws:iam::123456789012:role/role-{n:05d}", status="open",
                           first_seen="2026-01-01T00:00:00Z", last_seen="2026-01-01T00:00:00Z", finding=finding)
    return Change(kind, record)


def _sns_size(message) -> int:
    attributes = sum(len(k.encode()) + len(v["DataType"].encode()) + len(v["StringValue"].encode())
                     for k, v in message.attributes.items())
    return len(message.body.encode()) + attributes


def _check(messages, changes) -> None:
    carried = [c.record.fingerprint for m in messages for c in m.changes]
    assert sorted(carried) == sorted(c.record.fingerprint for c in changes)  # each change in exactly one message
    for message in messages:
        assert _sns_size(message) <= SNS_MESSAGE_BYTES and message.size <= SNS_MESSAGE_BYTES
        assert len(message.subject) <= 100 and message.subject.isascii() and message.subject.startswith("[")
        assert not any(ord(c) < 32 for c in message.subject)
        assert len(message.attributes) <= 10
        assert json.loads(message.attributes["check_ids"]["StringValue"]) == sorted({c.record.check_id for c in message.changes})


def test_a_few_changes_are_one_message():
    changes = [_change(n) for n in range(3)]
    [message] = compose_all("123456789012", "defender", changes)
    _check([message], changes)
    assert message.subject == "[HIGH] connector-health: defender in 123456789012: 3 new"


def test_hundreds_of_changes_are_split_most_severe_first():
    changes = [_change(n, severity=SEVERITIES[n % 4], message="x" * 1500) for n in range(600)]
    messages = compose_all("123456789012", "defender", changes)
    assert 1 < len(messages) <= MAX_MESSAGES
    _check(messages, changes)
    assert messages[0].severity.value == "critical"
    assert all(m.subject.endswith(f"({i}/{len(messages)})") for i, m in enumerate(messages, 1))


def test_thousands_of_changes_end_in_a_summary_that_names_or_points():
    changes = [_change(n, message="y" * 4000) for n in range(3000)]
    messages = compose_all("123456789012", "defender", changes)
    assert len(messages) == MAX_MESSAGES
    _check(messages, changes)
    summary = messages[-1].body
    assert "Changes per check (most severe first):" in summary and "CHECK_6:" in summary
    assert f"(message {MAX_MESSAGES} of {MAX_MESSAGES})" in summary
    named = sum(1 for c in messages[-1].changes if c.record.resource_arn in summary)
    assert named == len(messages[-1].changes) or "more change(s), not listed" in summary


def test_one_change_with_a_huge_diff_and_message_fits():
    change = _change(1, message="m" * 500_000, diff=["- " + "a" * 300_000, *(f"+ line {i}" for i in range(5000))])
    [message] = compose_all("123456789012", "defender", [change])
    _check([message], [change])
    assert "characters in all" in message.body and "more line(s) of diff" in message.body


def test_hostile_text_never_breaks_the_message():
    change = _change(1, message="bad \ud800 surrogate \x00 nul \x1b[31m escape", resource="arn:\u202e\u0000x")
    [message] = compose_all("123456789012", "défense – ünïcode\n", [change])
    message.body.encode("utf-8")  # valid UTF-8
    assert "\x00" not in message.body and "\x1b" not in message.body
    assert message.subject.isascii() and "\n" not in message.subject


def test_resolutions_come_after_open_changes():
    changes = [_change(1, kind="resolved", severity="critical"), _change(2, severity="low")]
    [message] = compose_all("123456789012", "defender", changes)
    assert message.body.index("NEW LOW") < message.body.index("RESOLVED CRITICAL")
    assert message.subject.startswith("[LOW]")


@pytest.mark.parametrize("count", [1, 2500])
def test_the_plain_summary_fits_too(count):
    changes = [_change(n) for n in range(count)]
    message = compose_summary("123456789012", "defender", changes, reason="SNS refused the full alert")
    _check([message], changes)
