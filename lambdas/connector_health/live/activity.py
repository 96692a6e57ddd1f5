"""A connector's real exchanges in one window, summarised in bounded space.

Failures are grouped by role, error code and cause (`Diagnosis.cause`), each group keeping its count, first and
last time, regions, a few distinct callers with their counts and one diagnosis. However many events a window
holds (100,000 or more), a connector keeps at most `MAX_GROUPS` groups of bounded size; events beyond them are
counted, not kept. Diagnoses are cached (`Diagnoser`), so a window costs one policy evaluation per distinct value
of what a role's trust policy tests, not one per event.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..exchange.classify import Outcome, classify
from .diagnosis import AccountView, Diagnosis, ExpectedCaller, diagnose
from .events import WebIdentityCall, display
from .refusal import condition_keys

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
        caller = (call.audience, call.subject, call.session_name)
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
            "callers": [{"aud": display(a), "sub": display(s), "session_name": display(n), "count": c}
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


# What of a call a trust condition can depend on, by condition key (lower case; `<issuer>:` keys by their claim).
_ATTRIBUTES = {
    "aud": ("audience",), "sub": ("subject",), "sts:rolesessionname": ("session_name",),
    "aws:sourceip": ("source_ip",), "aws:useragent": ("user_agent",), "aws:requestedregion": ("region",),
    "aws:currenttime": ("time",), "aws:epochtime": ("time",), "sts:sourceidentity": ("source_identity",),
    "aws:tagkeys": ("principal_tags",),
}


class Diagnoser:
    """`diagnose` with a bounded cache. A refusal by the trust policy is cached per distinct value of what the role's
    policy tests (a Defender policy tests the audience and the session name, so 100,000 calls with 100,000
    subjects cost one evaluation); other errors are cheap and cached per error."""

    def __init__(self, view: AccountView) -> None:
        self.view = view
        self._cache: dict[tuple, Diagnosis] = {}
        self._tested: dict[str, tuple[str, ...]] = {}
        self.evaluations = 0  # trust-policy evaluations (cache misses of AccessDenied calls)

    def _tested_attributes(self, role_arn: str) -> tuple[str, ...]:
        """The call attributes the role's trust policy tests (every one, when the policy cannot be read)."""
        if role_arn not in self._tested:
            policy = self.view.trust_of(role_arn) if self.view.trust_of and role_arn else None
            if policy is None:
                found = set()
            else:
                found = set()
                for key in condition_keys(policy):
                    name = key.lower()
                    claim = name.rsplit(":", 1)[-1] if name.count(":") and not name.startswith(("aws:", "sts:")) else name
                    if name.startswith("aws:requesttag/"):
                        claim = "aws:tagkeys"
                    found.update(_ATTRIBUTES.get(claim, ()))
            self._tested[role_arn] = tuple(sorted(found))
        return self._tested[role_arn]

    def __call__(self, call: WebIdentityCall, expected: ExpectedCaller | None = None) -> Diagnosis:
        # Other errors depend on their kind (not on the times or values an error message quotes) and, for audience
        # errors, on the audience: the first call of a kind stands for the rest of its group.
        outcome = classify(call.error_code, call.error_message)
        kind = call.error_message if outcome is Outcome.INCONCLUSIVE and call.error_code != "ExpiredTokenException" \
            else outcome.value
        key: tuple = (call.role_arn, call.provider, call.error_code, kind, expected,
                      call.audience if outcome is Outcome.AUDIENCE_REJECTED else None)
        if call.error_code == "AccessDenied":
            key = (call.role_arn, call.provider, expected) + tuple(
                getattr(call, name) for name in self._tested_attributes(call.role_arn))
        found = self._cache.get(key)
        if found is None:
            self.evaluations += call.error_code == "AccessDenied"
            found = diagnose(call, self.view, expected)
            if len(self._cache) < MAX_CACHE:
                self._cache[key] = found
        return found
