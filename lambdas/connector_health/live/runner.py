"""The live-exchange phase of a scan: read the window's AssumeRoleWithWebIdentity events, attribute each to the
connectors it belongs to, and summarise successes and failures per connector (EXCHANGE_LIVE_* read the result).

Window, per region: from where the previous run stopped (`LiveState.read_until`, kept in the state table by the
pipeline) or, without state (first run, `check`), `lookback_hours` back and at least the longest
`expected_activity_hours`; it ends `settle_minutes` before now, since CloudTrail delivers events minutes late.

Attribution: an event belongs to a connector when its provider (the identityProvider ARN or URL) is the
connector's issuer and its role is one of the connector's roles; when only one of the two matches, it belongs to
the connector whose role it names, or, for a role no connector names, to the only connector of that provider.
The monitor's own calls (the forged probes and real test exchanges, recognisable by the user agent every client of
the monitor sends) are left out: they must neither raise failures nor pass for the connector's activity.

Silence: a connector is silent when no success is known within its `expected_activity_hours` before the window's
end, and the monitor has read every region continuously for at least that long; when it has not, silence is not
judged (no finding either way).
"""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..checks.base import connector_roles
from ..collect.aws import BOTO_CONFIG, AccountSnapshot, ReadError, SerializedSession, provider_key
from ..collect.cloudtrail import LOOKUP_ACTION, RETENTION, CloudTrailReader, LookupWindow
from ..config import Config, Connector
from .activity import ConnectorActivity, Diagnoser
from .diagnosis import AccountView, ExpectedCaller
from .events import WebIdentityCall, parse_record

# Every AWS client of the monitor sends this in its user agent (collect.aws.BOTO_CONFIG): CloudTrail shows it.
MONITOR_USER_AGENT = BOTO_CONFIG.user_agent_extra or "connector-health"
_ISO = "%Y-%m-%dT%H:%M:%SZ"


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.timezone.utc).strftime(_ISO) if moment else None


def _parse(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return dt.datetime.strptime(text, _ISO).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


@dataclass
class LiveState:
    """What the pipeline keeps between runs: per region where reading stopped and since when it has read without a
    gap; per connector the last successful exchange seen."""

    read_until: dict[str, str] = field(default_factory=dict)
    covered_since: dict[str, str] = field(default_factory=dict)
    last_success: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"read_until": self.read_until, "covered_since": self.covered_since, "last_success": self.last_success}

    @classmethod
    def from_dict(cls, data: Any) -> "LiveState":
        data = data if isinstance(data, dict) else {}

        def times(name: str) -> dict[str, str]:
            value = data.get(name)
            return {str(k): v for k, v in value.items() if _parse(v)} if isinstance(value, dict) else {}

        return cls(times("read_until"), times("covered_since"), times("last_success"))


class ConnectorMatcher:
    """Which connectors an event belongs to (module docstring, "Attribution")."""

    def __init__(self, connectors: list[Connector], snapshot: AccountSnapshot) -> None:
        self.account = snapshot.account_id if snapshot.account_id != "unknown" else None
        self.by_provider: dict[str, list[Connector]] = {}
        self.by_role: dict[str, list[Connector]] = {}
        for conn in connectors:
            key = provider_key(conn.issuer)
            self.by_provider.setdefault(key, []).append(conn)
            names = {spec.name.rsplit("/", 1)[-1] for spec in conn.roles}
            if snapshot.roles_complete:
                existing = snapshot.provider_for(conn.issuer)
                arn = existing.arn if existing else (
                    f"arn:{snapshot.partition}:iam::{snapshot.account_id}:oidc-provider/{key}")
                names.update(connector_roles(conn, snapshot, arn))
            for name in names:
                self.by_role.setdefault(name, []).append(conn)

    def match(self, call: WebIdentityCall) -> list[Connector]:
        if self.account and call.account and call.account != self.account:
            return []
        by_provider = self.by_provider.get(call.provider_key or "", [])
        by_role = self.by_role.get(call.role_name, []) if call.role_arn else []
        both = [c for c in by_provider if c in by_role]
        if both:
            return both
        if by_role:
            return list(by_role)
        return list(by_provider) if len(by_provider) == 1 else []


@dataclass
class LiveResults:
    end: dt.datetime
    windows: list[LookupWindow]
    activity: dict[str, ConnectorActivity]
    expected_hours: dict[str, float]
    previous: LiveState | None = None
    own_calls: int = 0
    unattributed: int = 0
    other_events: int = 0
    evaluations: int = 0

    @property
    def available(self) -> bool:
        """Every region was read (a truncated window counts: its newest part was)."""
        return all(w.read for w in self.windows)

    def _continuous_since(self, window: LookupWindow) -> dt.datetime:
        if window.truncated:
            return window.covered_from
        previous = self.previous
        until = _parse(previous.read_until.get(window.region)) if previous else None
        if until is not None and until + dt.timedelta(seconds=1) >= window.start:
            return _parse(previous.covered_since.get(window.region)) or window.start
        return window.start

    def covered_from(self) -> dt.datetime:
        """Since when every region's events are known without a gap."""
        return max((self._continuous_since(w) for w in self.windows), default=self.end)

    def last_success(self, connector: str) -> dt.datetime | None:
        seen = self.activity[connector].last_success if connector in self.activity else None
        before = _parse(self.previous.last_success.get(connector)) if self.previous else None
        return max((t for t in (seen, before) if t), default=None)

    def silence(self, connector: str) -> dict[str, Any] | None:
        """None when not judged (no expectation, a region unread, or not watched long enough); else whether the
        connector is silent and the evidence."""
        hours = self.expected_hours.get(connector)
        if not hours or not self.available:
            return None
        since = self.end - dt.timedelta(hours=hours)
        last = self.last_success(connector)
        if last is not None and last >= since:
            return {"silent": False, "last_success": _iso(last)}
        covered = self.covered_from()
        if covered > since:
            return None
        activity = self.activity.get(connector)
        return {"silent": True, "expected_activity_hours": hours, "last_success": _iso(last),
                "window_end": _iso(self.end), "watched_since": _iso(covered),
                "failures_in_window": activity.failures if activity else 0}

    def next_state(self) -> LiveState:
        state = LiveState()
        for window in self.windows:
            state.read_until[window.region] = _iso(window.end) or ""
            state.covered_since[window.region] = _iso(self._continuous_since(window)) or ""
        for name in self.activity:
            last = self.last_success(name)
            if last:
                state.last_success[name] = _iso(last) or ""
        return state

    def summary(self) -> dict[str, Any]:
        return {
            "windows": [w.summary() for w in self.windows],
            "connectors": {name: a.summary() for name, a in self.activity.items()},
            "monitor_own_calls": self.own_calls,
            "unattributed": self.unattributed,
            "policy_evaluations": self.evaluations,
        }


def window_resource(snapshot: AccountSnapshot, region: str) -> str:
    """What MONITOR_* findings about a region's CloudTrail window name as their resource."""
    return f"arn:{snapshot.partition}:cloudtrail:{region}:{snapshot.account_id}:*"


def live_window_start(config: Config, connectors: list[Connector], region: str, end: dt.datetime, now: dt.datetime,
                      state: LiveState | None) -> dt.datetime:
    settings = config.live_exchanges
    floor = now - RETENTION + dt.timedelta(minutes=5)
    start = _parse(state.read_until.get(region)) if state else None
    if start is not None:
        # LookupEvents' StartTime and EndTime are both inclusive and events carry whole seconds: the second the
        # previous window ended in was read then.
        start += dt.timedelta(seconds=1)
    else:
        hours = max([settings.lookback_hours, *(c.expected_activity_hours or 0 for c in connectors)])
        start = end - dt.timedelta(hours=hours)
    return min(max(start, floor), end)


def collect_live_exchanges(config: Config, session: Any, snapshot: AccountSnapshot, connectors: list[Connector], *,
                           now: dt.datetime, state: LiveState | None = None,
                           reader: CloudTrailReader | None = None) -> LiveResults:
    settings = config.live_exchanges
    end = (now - dt.timedelta(minutes=settings.settle_minutes)).replace(microsecond=0)
    usable = [c for c in connectors if c.issuer and "{" not in c.issuer]
    # One reader thread per region, each creating its client from the session.
    reader = reader or CloudTrailReader(SerializedSession.of(session), rate=settings.requests_per_second,
                                        max_events=settings.max_events_per_region)
    results = LiveResults(end=end, windows=[], activity={c.name: ConnectorActivity(c.name) for c in usable},
                          expected_hours={c.name: c.expected_activity_hours for c in usable if c.expected_activity_hours},
                          previous=state)
    matcher = ConnectorMatcher(usable, snapshot)
    diagnoser = Diagnoser(AccountView.of_snapshot(snapshot))
    expected = {c.name: ExpectedCaller.of_connector(c) for c in usable}
    lock = threading.Lock()

    def ingest(record: dict[str, Any]) -> None:
        call = parse_record(record)
        with lock:
            if call is None:
                results.other_events += 1
                return
            if MONITOR_USER_AGENT in (call.user_agent or ""):
                results.own_calls += 1
                return
            targets = matcher.match(call)
            if not targets:
                results.unattributed += 1
                return
            for conn in targets:
                activity = results.activity[conn.name]
                if call.ok:
                    activity.add_success(call)
                else:
                    activity.add_failure(call, diagnoser(call, expected[conn.name]))

    def read(region: str) -> LookupWindow:
        start = live_window_start(config, usable, region, end, now, state)
        return reader.read(region, start, end, ingest, error_resource=window_resource(snapshot, region))

    regions = settings.region_list(config.region)
    with ThreadPoolExecutor(max_workers=len(regions), thread_name_prefix="cloudtrail") as pool:
        results.windows = list(pool.map(read, regions))
    results.evaluations = diagnoser.evaluations
    for window in results.windows:
        snapshot.api_calls["cloudtrail:LookupEvents"] = snapshot.api_calls.get("cloudtrail:LookupEvents", 0) + \
            window.api_calls
        if window.error is not None:
            snapshot.read_errors.append(window.error)
        elif window.truncated:
            # Read, but only its newest part: the monitor is partly blind (MONITOR_CHECK_ERROR), the checks still run.
            snapshot.read_errors.append(ReadError(
                LOOKUP_ACTION, "WindowTruncated",
                f"in {window.region}: more than {settings.max_events_per_region} events since "
                f"{_iso(window.start)}; the newest were read (back to {_iso(window.covered_from)}); raise "
                f"live_exchanges.max_events_per_region or scan more often", window_resource(snapshot, window.region)))
    return results
