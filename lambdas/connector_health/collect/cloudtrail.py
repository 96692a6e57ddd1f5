"""Reading the account's `AssumeRoleWithWebIdentity` events from CloudTrail (`LookupEvents`).

FACTS.md "CloudTrail records of web-identity exchanges": management events of the last 90 days, one region per
call, `LookupAttributes` on one key, at most 50 events per page (newest first), 2 requests per second per account
and region; events arrive about 5 (up to 15) minutes after the call. The action is `cloudtrail:LookupEvents`.

- Pacing: one `RequestPacer` per region (a token bucket with an injectable clock and sleep, so tests do not wait)
  keeps the reader under the quota; botocore's retries still absorb a `ThrottlingException`.
- Streaming: every record (the `CloudTrailEvent` JSON) is handed to a callback as its page arrives and nothing is
  kept here, so a window of 100,000 events costs the memory of one page.
- Budget: at most `max_events` per region and run; a window with more is read newest first and marked truncated
  (the part read, from `oldest_read` to the end, is what the run knows).
- Failures never raise: AccessDenied or throttling past the retries end the window with a `ReadError`, which the
  MONITOR_* checks report; the EXCHANGE_LIVE_* checks then do not run (a window that could not be read proves
  neither silence nor recovery).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config as BotoConfig

from .aws import AWS_ERRORS, BOTO_CONFIG, ReadError, _error_of

LOOKUP_ACTION = "cloudtrail:LookupEvents"
EVENT_NAME = "AssumeRoleWithWebIdentity"
PAGE_SIZE = 50  # LookupEvents' maximum MaxResults
RETENTION = dt.timedelta(days=90)  # how far back LookupEvents can see
QUOTA_PER_SECOND = 2.0  # per account and region

# Throttling is retried by botocore (standard mode: exponential back-off with jitter). The pacer keeps the reader
# itself under the quota, so throttling means someone else uses it: two retries, then the window is reported as not
# read and the next run reads it again (its start does not move).
CLOUDTRAIL_BOTO_CONFIG = BOTO_CONFIG.merge(BotoConfig(retries={"mode": "standard", "max_attempts": 3}))


class RequestPacer:
    """A token bucket: `rate` requests per second on average, `burst` at once. With burst 1 and a rate under 2, no
    one-second interval ever holds more than two requests, which is LookupEvents' quota."""

    def __init__(self, rate: float, *, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate, self.burst = rate, burst
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()
        self.requests = 0
        self.waited_seconds = 0.0

    def wait(self) -> float:
        """Block until a request may be sent; returns how long it waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now
            waited = 0.0
            if self._tokens < 1:
                waited = (1 - self._tokens) / self.rate
                self._sleep(waited)
                self._tokens, self._last = 1.0, self._clock()
            self._tokens -= 1
            self.requests += 1
            self.waited_seconds += waited
            return waited


@dataclass
class LookupWindow:
    """What one region's read covered. `start`..`end` is what was asked; when `truncated`, only `oldest_read`..`end`
    was read (LookupEvents pages newest first)."""

    region: str
    start: dt.datetime
    end: dt.datetime
    pages: int = 0
    records: int = 0
    unreadable: int = 0  # CloudTrailEvent members that were not a JSON object
    truncated: bool = False
    oldest_read: dt.datetime | None = None
    waited_seconds: float = 0.0
    error: ReadError | None = None
    api_calls: int = 0

    @property
    def read(self) -> bool:
        """The window (or its newest part, when truncated) was read without an error."""
        return self.error is None

    @property
    def covered_from(self) -> dt.datetime:
        """From when on this region's events are known (the window start unless the budget cut it short)."""
        if self.truncated:
            return self.oldest_read or self.end
        return self.start

    def summary(self) -> dict[str, Any]:
        return {
            "region": self.region, "start": _iso(self.start), "end": _iso(self.end), "pages": self.pages,
            "records": self.records, "truncated": self.truncated, "covered_from": _iso(self.covered_from),
            "waited_seconds": round(self.waited_seconds, 3),
            "error": f"{self.error.code}: {self.error.message}"[:300] if self.error else None,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _utc(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return None


def read_web_identity_events(
    client: Any,
    region: str,
    start: dt.datetime,
    end: dt.datetime,
    on_record: Callable[[dict[str, Any]], None],
    *,
    pacer: RequestPacer,
    max_events: int,
    error_resource: str = "*",
) -> LookupWindow:
    """Read every `AssumeRoleWithWebIdentity` event of `region` between `start` and `end` (newest first), handing
    each record to `on_record`. Never raises for an AWS error: the window's `error` says what failed."""
    window = LookupWindow(region=region, start=start, end=end)
    if start >= end:
        return window
    max_pages = max(1, math.ceil(max_events / PAGE_SIZE))
    request: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": EVENT_NAME}],
        "StartTime": start, "EndTime": end, "MaxResults": PAGE_SIZE,
    }
    while True:
        if window.pages >= max_pages:
            window.truncated = True
            break
        window.waited_seconds += pacer.wait()
        window.api_calls += 1
        try:
            page = client.lookup_events(**request)
        except AWS_ERRORS as exc:
            err = _error_of(exc, LOOKUP_ACTION, error_resource)
            window.error = ReadError(err.action, err.code, f"in {region}: {err.message}"[:500], err.resource)
            break
        window.pages += 1
        for event in page.get("Events") or ():
            raw = event.get("CloudTrailEvent") if isinstance(event, dict) else None
            try:
                record = json.loads(raw) if isinstance(raw, str) else None
            except ValueError:
                record = None
            when = _utc(event.get("EventTime")) if isinstance(event, dict) else None
            if when and (window.oldest_read is None or when < window.oldest_read):
                window.oldest_read = when
            if not isinstance(record, dict):
                window.unreadable += 1
                continue
            window.records += 1
            on_record(record)
        token = page.get("NextToken")
        if not token:
            break
        request["NextToken"] = token
    return window


@dataclass
class CloudTrailReader:
    """Reads several regions of one account concurrently (each region has its own quota and pacer)."""

    session: Any
    rate: float = 1.8
    max_events: int = 10_000
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    pacers: dict[str, RequestPacer] = field(default_factory=dict)

    def pacer(self, region: str) -> RequestPacer:
        if region not in self.pacers:
            self.pacers[region] = RequestPacer(self.rate, clock=self.clock, sleep=self.sleep)
        return self.pacers[region]

    def client(self, region: str) -> Any:
        return self.session.client("cloudtrail", region_name=region, config=CLOUDTRAIL_BOTO_CONFIG)

    def read(self, region: str, start: dt.datetime, end: dt.datetime, on_record: Callable[[dict[str, Any]], None],
             *, error_resource: str = "*") -> LookupWindow:
        try:
            client = self.client(region)
        except Exception as exc:  # noqa: BLE001 - a client that cannot be built is a failed read, not a failed run
            return LookupWindow(region, start, end, error=ReadError(LOOKUP_ACTION, exc.__class__.__name__,
                                                                    f"in {region}: {exc}"[:500], error_resource))
        return read_web_identity_events(client, region, start, end, on_record, pacer=self.pacer(region),
                                        max_events=self.max_events, error_resource=error_resource)
