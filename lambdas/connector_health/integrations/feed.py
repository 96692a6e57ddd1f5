"""The changes a change-based integration (the chat topic, EventBridge) delivers in one run.

They follow what the e-mail alerts told people (`notified_status`, `notified_severity`, `last_alerted` of each
finding item): this run's changes that were settled as told, and, for every other finding, whatever the channel
has not received yet (its `sync_<channel>` marker is behind what was told), so a card or an event that could not
be delivered goes out with the next run instead of being lost. The marker is the token of what was told
("status:severity:last_alerted"); a finding the channel never heard of while it was open is not announced when it
resolves. A change delivered by a run that then failed may be delivered again by the next one (at least once).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from ..findings import Severity
from ..state.lifecycle import Change
from ..state.store import FindingRecord, _now_iso


@dataclass(frozen=True)
class FeedChange:
    connector: str
    change: Change
    token: str  # what the channel holds once this change is delivered (its new sync marker)


def told_token(status: str, severity: str, last_alerted: str | None) -> str:
    return f"{status}:{severity}:{last_alerted or ''}"


def _as_told(rec: FindingRecord) -> FindingRecord:
    return dataclasses.replace(rec, status=rec.notified_status or rec.status,
                               severity=rec.notified_severity or rec.severity)


def _catch_up(rec: FindingRecord, marker: str | None) -> Change | None:
    """The change a channel missed for a finding whose marker is behind what the e-mails told, if any."""
    told, sev = rec.notified_status, rec.notified_severity or rec.severity
    if told is None:
        return None  # nobody was told anything yet: the channel follows when the e-mail does
    had_status, _, rest = (marker or "").partition(":")
    had_severity = rest.partition(":")[0]
    record = _as_told(rec)
    if told == "resolved":
        return Change("resolved", record) if had_status == "open" else None
    if had_status != "open":
        return Change("new", record)
    if had_severity in Severity._value2member_map_ and Severity(sev).rank > Severity(had_severity).rank:
        return Change("escalated", record, had_severity)
    return Change("reminder", record)


def feed(channel: str, connector: str, before: dict[str, FindingRecord], told: Iterable[Change],
         now: dt.datetime) -> list[FeedChange]:
    """This run's told changes of one connector, then what the channel missed of its other findings."""
    stamp = _now_iso(now)
    out = [FeedChange(connector, c, told_token(c.record.status, c.record.severity, stamp)) for c in told]
    done = {f.change.record.fingerprint for f in out}
    for fp, rec in before.items():
        if fp in done or rec.notified_status is None:
            continue
        token = told_token(rec.notified_status, rec.notified_severity or rec.severity, rec.last_alerted)
        marker = rec.synced(channel)
        if marker == token:
            continue
        change = _catch_up(rec, marker)
        if change is not None:
            out.append(FeedChange(connector, change, token))
    return out


def at_least(changes: Iterable[FeedChange], minimum: str) -> list[FeedChange]:
    return [c for c in changes if c.change.severity.at_least(Severity(minimum))]
