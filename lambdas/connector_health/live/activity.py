"""A connector's real exchanges in one window, summarised in bounded space.

Failures are grouped by role, error code and cause (`Diagnosis.cause`), each group keeping its count, first and
last time, regions, a few distinct callers with their counts and one diagnosis. However many events a window
holds (100,000 or more), a connector keeps at most `MAX_GROUPS` groups of bounded size; events beyond them are
counted, not kept. Diagnoses are cached per distinct caller, so a window costs one policy evaluation per distinct
(role, provider, audience, subject, session name, source, error) and not one per event (a trust condition on
`aws:CurrentTime` is therefore judged at the first call of each caller).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .diagnosis import AccountView, Diagnosis, ExpectedCaller, diagnose
from .events import WebIdentityCall, display

MAX_GROUPS = 200  # failure groups per connector and window
MAX_CALLERS = 5  # distinct callers kept per group
MAX_REGIONS = 20
MAX_CACHE = 4096  # diagnoses cached per window


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@dataclass
class FailureGroup:
    role_arn: str
    error_code: str
    diagnosis: Diagnosis
    count: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    regions: set[str] = field(default_factory=set)
    callers: Counter = field(default_factory=Counter)
    other_callers: int = 0  # calls of callers beyond MAX_CALLERS
    error_message: str | None = None
    sample_event_id: str | None = None

    def add(self, call: WebIdentityCall) -> None:
        self.count += 1
        if call.time:
            self.first = call.time if self.first is None or call.time < self.first else self.first
            self.last = call.time if self.last is None or call.time > self.last else self.last
        if call.region and len(self.regions) < MAX_REGIONS:
            self.regions.add(call.region)
        caller = (display(call.audience), display(call.subject), display(call.session_name))
        if caller in self.callers or len(self.callers) < MAX_CALLERS:
            self.callers[caller] += 1
        else:
            self.other_callers += 1
        if self.error_message is None:
            self.error_message = display(call.error_message, 300)
            self.sample_event_id = call.event_id or None

    def observed(self) -> dict[str, Any]:
        """The evidence that changes from run to run (kept out of the finding's identity)."""
        return {
            "count": self.count,
            "first": _iso(self.first),
            "last": _iso(self.last),
            "regions": sorted(self.regions),
            "callers": [{"aud": a, "sub": s, "session_name": n, "count": c}
                        for (a, s, n), c in self.callers.most_common()],
            "other_callers_calls": self.other_callers,
            "error_message": self.error_message,
            "sample_event_id": self.sample_event_id,
        }


@dataclass
class ConnectorActivity:
    """One connector's calls in the window: successes per role, failure groups, the last success."""

    name: str
    successes: int = 0
    failures: int = 0
    success_by_role: Counter = field(default_factory=Counter)
    last_success: dt.datetime | None = None
    groups: dict[tuple[str, str, str], FailureGroup] = field(default_factory=dict)
    overflow_events: int = 0  # failures beyond MAX_GROUPS groups (counted, not grouped)

    def add_success(self, call: WebIdentityCall) -> None:
        self.successes += 1
        self.success_by_role[call.role_arn] += 1
        if call.time and (self.last_success is None or call.time > self.last_success):
            self.last_success = call.time

    def add_failure(self, call: WebIdentityCall, diagnosis: Diagnosis) -> None:
        self.failures += 1
        key = (call.role_arn, call.error_code or "", diagnosis.cause)
        group = self.groups.get(key)
        if group is None:
            if len(self.groups) >= MAX_GROUPS:
                self.overflow_events += 1
                return
            group = self.groups[key] = FailureGroup(call.role_arn, call.error_code or "", diagnosis)
        group.add(call)

    def top(self, n: int) -> list[FailureGroup]:
        return sorted(self.groups.values(), key=lambda g: (-g.count, g.role_arn, g.error_code, g.diagnosis.cause))[:n]

    def summary(self) -> dict[str, Any]:
        return {"successes": self.successes, "failures": self.failures, "failure_groups": len(self.groups),
                "last_success": _iso(self.last_success)}


class Diagnoser:
    """`diagnose` with a bounded cache per distinct caller."""

    def __init__(self, view: AccountView) -> None:
        self.view = view
        self._cache: dict[tuple, Diagnosis] = {}
        self.evaluations = 0

    def __call__(self, call: WebIdentityCall, expected: ExpectedCaller | None = None) -> Diagnosis:
        key = (call.role_arn, call.provider, call.audience, call.subject, call.session_name, call.error_code,
               call.error_message, call.source_ip, call.user_agent, call.region, call.source_identity,
               call.principal_tags, expected)
        found = self._cache.get(key)
        if found is None:
            self.evaluations += 1
            found = diagnose(call, self.view, expected)
            if len(self._cache) < MAX_CACHE:
                self._cache[key] = found
        return found
