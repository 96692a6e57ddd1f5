"""The LookupEvents reader (pacing, paging, budget, errors), attribution, silence, and the bounds that keep a window of
100,000 events inside findings, state items and alerts. A fake clock paces: nothing here sleeps."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from botocore.exceptions import ClientError

from connector_health.alerts import compose
from connector_health.checks import CheckContext, get_check
from connector_health.collect.cloudtrail import PAGE_SIZE, CloudTrailReader, RequestPacer, read_web_identity_events
from connector_health.config import parse_config
from connector_health.live.runner import LiveState, collect_live_exchanges
from connector_health.sandbox.cloudtrail import web_identity_record
from connector_health.state.lifecycle import plan

from .conftest import ACCOUNT, CSPM_ARN, CSPM_AUD, ISSUER, PROVIDER_ARN, SESSION, defender_snapshot

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
SQS_LIMIT, DYNAMODB_ITEM_LIMIT = 262_144, 400_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sent: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeLookup:
    """LookupEvents over a list of records (newest first), 50 per page; records when each page was asked for."""

    def __init__(self, records: list[dict], clock: FakeClock | None = None, fail: ClientError | None = None) -> None:
        self.records, self.clock, self.fail = records, clock, fail
        self.requests: list[dict] = []

    def lookup_events(self, **request):
        self.requests.append(request)
        if self.clock:
            self.clock.sent.append(self.clock.now)
        if self.fail is not None:
            raise self.fail
        start = int(request.get("NextToken") or 0)
        page = self.records[start: start + request["MaxResults"]]
        out = {"Events": [{"EventTime": NOW, "CloudTrailEvent": r} if isinstance(r, str) else
                          {"EventTime": dt.datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(
                              tzinfo=dt.timezone.utc), "CloudTrailEvent": json.dumps(r)} for r in page]}
        if start + len(page) < len(self.records):
            out["NextToken"] = str(start + len(page))
        return out


class FakeReader(CloudTrailReader):
    def __init__(self, records, clock, **kwargs):
        super().__init__(session=None, clock=clock, sleep=clock.sleep, **kwargs)
        self.fake = FakeLookup(records, clock)

    def client(self, region):
        return self.fake


def record(i: int, *, role=CSPM_ARN, session=SESSION, aud=CSPM_AUD, sub="app-1", error=None, when=None):
    return web_identity_record(role_arn=role, session_name=session, claims={"iss": ISSUER, "aud": aud, "sub": sub},
                               provider_arn=PROVIDER_ARN, region="us-east-1", error=error,
                               when=when or NOW - dt.timedelta(minutes=20, seconds=i))


def config(**live):
    return parse_config({"connectors": [{"name": "defender", "preset": "defender-for-cloud",
                                         "customer_tenant_id": "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"}],
                         "live_exchanges": live})


# ------------------------------------------------------------------ pacing and paging

def test_the_pacer_never_puts_more_than_two_requests_in_one_second():
    clock = FakeClock()
    pacer = RequestPacer(1.8, clock=clock, sleep=clock.sleep)
    for _ in range(200):
        pacer.wait()
        clock.sent.append(clock.now)
    worst = max(sum(1 for t in clock.sent if start <= t < start + 1.0) for start in clock.sent)
    assert worst <= 2
    assert clock.sent[-1] - clock.sent[0] == pytest.approx(199 / 1.8)  # 200 pages at 1.8 per second


def test_a_window_is_read_page_by_page_newest_first_within_the_quota():
    clock = FakeClock()
    records = [record(i) for i in range(520)]
    pacer = RequestPacer(1.8, clock=clock, sleep=clock.sleep)
    seen = []
    fake = FakeLookup(records, clock)
    window = read_web_identity_events(fake, "us-east-1", NOW - dt.timedelta(hours=1), NOW, seen.append, pacer=pacer,
                                      max_events=10_000)
    assert window.read and not window.truncated and window.pages == 11 and window.records == 520 and len(seen) == 520
    assert fake.requests[0]["LookupAttributes"] == [{"AttributeKey": "EventName",
                                                     "AttributeValue": "AssumeRoleWithWebIdentity"}]
    assert all(r["MaxResults"] == PAGE_SIZE for r in fake.requests)
    assert max(sum(1 for t in clock.sent if s <= t < s + 1) for s in clock.sent) <= 2


def test_a_truncated_window_is_a_monitor_error_and_its_checks_still_run():
    clock = FakeClock()
    cfg = config(settle_minutes=0, max_events_per_region=100)
    snapshot = defender_snapshot()
    live = collect_live_exchanges(cfg, None, snapshot, cfg.resolved_connectors(), now=NOW,
                                  reader=FakeReader([record(i) for i in range(300)], clock, max_events=100))
    assert live.available and live.windows[0].truncated
    [error] = snapshot.read_errors
    assert (error.action, error.code) == ("cloudtrail:LookupEvents", "WindowTruncated") and not error.access_denied


def test_the_budget_truncates_and_says_from_when_the_window_is_known():
    clock = FakeClock()
    records = [record(i) for i in range(300)]
    window = read_web_identity_events(FakeLookup(records), "us-east-1", NOW - dt.timedelta(hours=2), NOW,
                                      lambda r: None, pacer=RequestPacer(1.8, clock=clock, sleep=clock.sleep),
                                      max_events=100)
    assert window.truncated and window.pages == 2 and window.read
    assert window.covered_from == dt.datetime.strptime(records[99]["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.timezone.utc)


def test_a_refused_read_is_an_error_not_an_empty_window():
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "LookupEvents")
    clock = FakeClock()
    window = read_web_identity_events(FakeLookup([], fail=denied), "eu-west-1", NOW - dt.timedelta(hours=1), NOW,
                                      lambda r: None, pacer=RequestPacer(1.8, clock=clock, sleep=clock.sleep),
                                      max_events=100, error_resource="arn:aws:cloudtrail:eu-west-1:1:*")
    assert not window.read and window.error.action == "cloudtrail:LookupEvents"
    assert window.error.access_denied and "eu-west-1" in window.error.message


# ------------------------------------------------------------------ attribution and silence

def test_the_monitors_own_calls_and_other_roles_are_not_the_connectors():
    clock = FakeClock()
    own = record(1, error=("InvalidIdentityToken", "x"))
    own["userAgent"] = "Boto3/1.40 md/Botocore#1.40 cfg/retry-mode#standard connector-health"
    other = web_identity_record(role_arn=f"arn:aws:iam::{ACCOUNT}:role/deploy", session_name="gh",
                                claims={"iss": "https://token.actions.githubusercontent.com", "aud": "sts.amazonaws.com",
                                        "sub": "repo:a/b:ref:refs/heads/main"},
                                provider_arn=f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
                                region="us-east-1", when=NOW - dt.timedelta(minutes=30))
    reader = FakeReader([record(0), own, other], clock)
    cfg = config(settle_minutes=15)
    live = collect_live_exchanges(cfg, None, defender_snapshot(), cfg.resolved_connectors(), now=NOW, reader=reader)
    activity = live.activity["defender"]
    assert (activity.successes, activity.failures, live.own_calls, live.unattributed) == (1, 0, 1, 1)
    request = reader.fake.requests[0]
    assert request["EndTime"] == NOW - dt.timedelta(minutes=15)  # CloudTrail delivers minutes late
    assert request["StartTime"] == request["EndTime"] - dt.timedelta(hours=36)  # the preset's expected activity


def test_the_window_continues_where_the_last_run_stopped_and_silence_needs_coverage():
    clock = FakeClock()
    cfg = config(settle_minutes=0)
    conns = cfg.resolved_connectors()
    last = NOW - dt.timedelta(hours=40)
    state = LiveState(read_until={"us-east-1": "2026-03-01T11:00:00Z"},
                      covered_since={"us-east-1": "2026-02-25T00:00:00Z"},
                      last_success={"defender": last.strftime("%Y-%m-%dT%H:%M:%SZ")})
    reader = FakeReader([], clock)
    live = collect_live_exchanges(cfg, None, defender_snapshot(), conns, now=NOW, state=state, reader=reader)
    assert reader.fake.requests[0]["StartTime"] == NOW - dt.timedelta(hours=1) + dt.timedelta(seconds=1)
    verdict = live.silence("defender")
    assert verdict["silent"] and verdict["last_success"] == "2026-02-27T20:00:00Z"
    # The same run without the earlier coverage (a gap): silence cannot be judged from one hour of reading.
    gap = LiveState(read_until={"us-east-1": "2026-03-01T11:00:00Z"}, covered_since={}, last_success={})
    live = collect_live_exchanges(cfg, None, defender_snapshot(), conns, now=NOW, state=LiveState(
        read_until=gap.read_until), reader=FakeReader([], clock))
    assert live.silence("defender") is None
    assert live.next_state().read_until == {"us-east-1": "2026-03-01T12:00:00Z"}


def test_a_recent_success_is_not_silence():
    clock = FakeClock()
    cfg = config(settle_minutes=0)
    live = collect_live_exchanges(cfg, None, defender_snapshot(), cfg.resolved_connectors(), now=NOW,
                                  reader=FakeReader([record(0)], clock))
    assert live.silence("defender") == {"silent": False, "last_success": "2026-03-01T11:40:00Z"}


# ------------------------------------------------------------------ 100,000 events inside every limit

def _hostile_window(n: int) -> list[str]:
    """n records as LookupEvents returns them (JSON text), built from five kinds of call by substitution (building
    100,000 records one by one would take longer than reading them)."""
    rnd = random.Random(7)
    kinds = [
        json.dumps(record(0, sub="SUB")),  # successes, a new subject every time
        # a changed session name, a new one every time
        json.dumps(record(0, session="MicrosoftSentinel_SESSION", sub="SUB", error=("AccessDenied", "x"))),
        # audiences outside the ClientIDList, every one different and long
        json.dumps(record(0, aud="api://" + "x" * 150 + "SUB", error=("InvalidIdentityToken", "Incorrect token audience"))),
        json.dumps(record(0, error=("WeirdCODE", "y" * 1500))),  # errors nobody documented, hundreds of them
        json.dumps(record(0, error=("ExpiredTokenException", "Token expired: current date/time SUB"))),
    ]
    return [kinds[i % 5].replace("SUB", str(i)).replace("SESSION", f"{i:08d}").replace("CODE", str(rnd.randrange(500)))
            for i in range(n)]


def test_a_window_of_100000_events_stays_inside_findings_state_and_alert_limits():
    clock = FakeClock()
    cfg = config(settle_minutes=0, max_events_per_region=100_000, lookback_hours=2160)
    snapshot = defender_snapshot()
    connector = cfg.resolved_connectors()[0]
    reader = FakeReader(_hostile_window(100_000), clock, max_events=100_000)
    live = collect_live_exchanges(cfg, None, snapshot, [connector], now=NOW, reader=reader)
    assert live.windows[0].records == 100_000 and live.windows[0].pages == 2000
    activity = live.activity["defender"]
    assert activity.successes == 20_000 and activity.failures == 80_000
    assert len(activity.groups) <= 200 and activity.overflow_events > 0
    # The policy tests audience and session name: one evaluation per distinct session name, none per subject.
    assert live.evaluations == 20_000
    ctx = CheckContext(config=cfg, connector=connector, snapshot=snapshot, issuer=None, now=NOW,
                       extras={"live": live})
    findings = list(get_check("EXCHANGE_LIVE_FAILURES").run(ctx))
    assert len(findings) == cfg.live_exchanges.top_causes
    assert "other group(s)" in findings[0].message and findings[0].details["observed"]["other_causes"]["events"] > 0
    for finding in findings:
        assert len(json.dumps(finding.to_dict())) < 8_000
    observed, changes = plan(findings, {}, NOW, reminder_hours=24, retention_days=30)
    for rec in observed:
        assert len(json.dumps(rec.item("pk"))) < DYNAMODB_ITEM_LIMIT
    message = compose(ACCOUNT, "defender", changes)
    assert len(message.body.encode()) < SQS_LIMIT


def test_the_session_token_of_a_success_record_is_never_kept():
    clock = FakeClock()
    success = record(0)
    success["responseElements"]["credentials"] = {"accessKeyId": "ASIATESTKEY", "sessionToken": "SECRET-SESSION-TOKEN"}
    failure = record(1, error=("AccessDenied", "x"), session="MicrosoftSentinel_x")
    cfg = config(settle_minutes=0)
    connector = cfg.resolved_connectors()[0]
    live = collect_live_exchanges(cfg, None, defender_snapshot(), [connector], now=NOW,
                                  reader=FakeReader([success, failure], clock))
    ctx = CheckContext(config=cfg, connector=connector, snapshot=defender_snapshot(), issuer=None, now=NOW,
                       extras={"live": live})
    findings = list(get_check("EXCHANGE_LIVE_FAILURES").run(ctx))
    text = json.dumps([f.to_dict() for f in findings]) + json.dumps(live.summary()) + json.dumps(
        live.next_state().to_dict())
    assert findings and "SECRET-SESSION-TOKEN" not in text and "ASIATESTKEY" not in text


def test_findings_keep_their_identity_across_runs():
    """Counts, times and callers change every run; the fingerprint (role, error, cause) does not."""
    from connector_health.state.lifecycle import fingerprint

    cfg = config(settle_minutes=0)
    connector = cfg.resolved_connectors()[0]
    prints = []
    for run, subs in enumerate((["a"], ["b", "c", "d"])):
        records = [record(i, sub=s, session="MicrosoftSentinel_x", error=("AccessDenied", "x"))
                   for i, s in enumerate(subs)]
        live = collect_live_exchanges(cfg, None, defender_snapshot(), [connector],
                                      now=NOW + dt.timedelta(hours=run), reader=FakeReader(records, FakeClock()))
        ctx = CheckContext(config=cfg, connector=connector, snapshot=defender_snapshot(), issuer=None, now=NOW,
                           extras={"live": live})
        [finding] = get_check("EXCHANGE_LIVE_FAILURES").run(ctx)
        prints.append(fingerprint(finding))
    assert prints[0] == prints[1]
