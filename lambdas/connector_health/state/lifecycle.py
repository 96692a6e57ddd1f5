"""Finding lifecycle: new -> ongoing -> resolved, with escalations and reminders, derived per run.

Pure functions over the stored records and the run's findings; the pipeline writes and claims what they return.
A finding absent from this run is resolved only when the check that made it completed this run (`may_resolve`,
from the scan's `Coverage`): a check that could not read what it needs, or raised, proves nothing, so its findings
stay open.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..findings import Finding, Severity
from .store import FindingRecord, _now_iso

# Evidence that changes from run to run without changing what the finding is about: clocks and latencies, the
# claims of the token a run fetched (iat, exp, ...), STS's and issuers' free text (it carries times and request
# ids), ids of one request, and explanations that depend on the monitor's own version.
VOLATILE_DETAILS = frozenset({
    "days_left", "not_after", "error", "caller", "latency_ms", "raw_message", "live_subject", "live_thumbprint",
    "client_ids", "request_id", "elapsed_ms", "token_claims", "claims", "sts_message", "message", "http_status",
    "checks_not_run", "action_data", "published_at", "trace_id", "correlation_id", "timestamp",
    "observed",  # EXCHANGE_LIVE_*: counts, times and callers of the run's window
})


def fingerprint(finding: Finding) -> str:
    """Stable identity of a finding: account, connector, check, resource and what distinguishes it (never a
    per-run value: see `VOLATILE_DETAILS`)."""
    stable = {k: v for k, v in sorted(finding.details.items()) if k not in VOLATILE_DETAILS}
    text = json.dumps([finding.account, finding.connector, finding.check_id, finding.resource_arn, stable],
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class Change:
    kind: str  # "new" | "escalated" | "resolved" | "reminder"
    record: FindingRecord
    previous_severity: str | None = None

    @property
    def severity(self) -> Severity:
        return Severity(self.record.severity)


def plan(findings: list[Finding], records: dict[str, FindingRecord], now: dt.datetime, *, reminder_hours: float,
         retention_days: int, may_resolve: Callable[[FindingRecord], bool] | None = None
         ) -> tuple[list[FindingRecord], list[Change]]:
    """(records as observed by this run, the changes people should hear about). An open record this run did not
    report is resolved only if `may_resolve(record)` (default: always); otherwise it is left as it was."""
    stamp = _now_iso(now)
    observed: list[FindingRecord] = []
    changes: list[Change] = []
    current: set[str] = set()
    for finding in findings:
        fp = fingerprint(finding)
        if fp in current:
            continue
        current.add(fp)
        old = records.get(fp)
        rec = FindingRecord(
            fingerprint=fp, check_id=finding.check_id, severity=finding.severity.value, resource_arn=finding.resource_arn,
            status="open", first_seen=old.first_seen if old and old.status == "open" else stamp, last_seen=stamp,
            finding=finding.to_dict(),
            notified_status=old.notified_status if old else None,
            notified_severity=old.notified_severity if old else None,
            last_alerted=old.last_alerted if old else None,
        )
        observed.append(rec)
        if rec.notified_status != "open":
            changes.append(Change("new", rec))
        elif Severity(rec.severity).rank > Severity(rec.notified_severity or "info").rank:
            changes.append(Change("escalated", rec, rec.notified_severity))
        elif _due(rec.last_alerted, now, reminder_hours):
            changes.append(Change("reminder", rec))
    for fp, old in records.items():
        if fp in current or old.status != "open":
            continue
        if may_resolve is not None and not may_resolve(old):
            continue  # its check did not complete this run: still open, as far as anyone knows
        rec = FindingRecord(
            fingerprint=fp, check_id=old.check_id, severity=old.severity, resource_arn=old.resource_arn,
            status="resolved", first_seen=old.first_seen, last_seen=old.last_seen, finding=old.finding,
            notified_status=old.notified_status, notified_severity=old.notified_severity,
            last_alerted=old.last_alerted, resolved_at=stamp,
            expires_at=int(now.timestamp()) + 86400 * retention_days,
        )
        observed.append(rec)
        if old.notified_status == "open":
            changes.append(Change("resolved", rec))
    return observed, changes


def _due(last_alerted: str | None, now: dt.datetime, hours: float) -> bool:
    if not last_alerted:
        return False
    try:
        then = dt.datetime.strptime(last_alerted, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return True
    return (now - then).total_seconds() >= hours * 3600


def summary_counts(changes: list[Change]) -> dict[str, Any]:
    out: dict[str, int] = {}
    for change in changes:
        out[change.kind] = out.get(change.kind, 0) + 1
    return out
