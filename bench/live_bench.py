"""Measure the live-exchange phase: a window of CloudTrail events read under LookupEvents' quota, then the CPU cost
and the memory of diagnosing a large hostile window.

    .venv/bin/python bench/live_bench.py [--events 10000] [--runs 3] [--cpu-events 100000]

A. Paced read, real clock, real HTTP: the sandbox's STS stand-in holds `--events` AssumeRoleWithWebIdentity records
   of the Defender connector's roles in the last hour (80% successes; refusals by session name, audience, expiry),
   and enforces the quota itself (a third LookupEvents within one second is answered ThrottlingException). The
   monitor's phase (`collect_live_exchanges`, default settings: 1.8 requests/s, 10,000 events per region and run)
   reads and diagnoses them. Reported per run: wall time, pages, throttled requests, the most requests the stand-in
   saw in any one-second interval, the time spent waiting for the pacer, and the rest (HTTP + parsing + diagnosis).
B. CPU and memory, no pacing: `--cpu-events` records as LookupEvents returns them (JSON text), every fifth a success
   with a new subject, the rest refusals with a new session name, audience or message each time and 500 error codes
   nobody documented, read from memory by the same reader and diagnosed. Reported: time per event, trust-policy
   evaluations, Python peak allocation (tracemalloc), findings and the largest finding, state item and alert.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lambdas"))

from connector_health.alerts import compose  # noqa: E402
from connector_health.checks import CheckContext, get_check  # noqa: E402
from connector_health.collect.aws import SnapshotCollector  # noqa: E402
from connector_health.collect.cloudtrail import CloudTrailReader  # noqa: E402
from connector_health.config import parse_config  # noqa: E402
from connector_health.live.runner import collect_live_exchanges  # noqa: E402
from connector_health.sandbox import Sandbox  # noqa: E402
from connector_health.sandbox.account import CUSTOMER_TENANT  # noqa: E402
from connector_health.sandbox.cloudtrail import web_identity_record  # noqa: E402
from connector_health.state.lifecycle import plan  # noqa: E402

CSPM_AUD = "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479"
SESSION = f"MicrosoftDefenderForClouds_{CUSTOMER_TENANT}"


def seed(sandbox: Sandbox, count: int, now: dt.datetime) -> None:
    account, provider = sandbox.seeded["account"], sandbox.seeded["provider_arn"]
    roles = sandbox.seeded["roles"]
    sandbox.sts.trail.reset()
    for i in range(count):
        kind = i % 10
        error, session, aud = None, SESSION, CSPM_AUD
        if kind == 7:
            error, session = ("AccessDenied", "x"), f"MicrosoftSentinel_{CUSTOMER_TENANT}"
        elif kind == 8:
            error, aud = ("InvalidIdentityToken", "Incorrect token audience"), "api://not-listed"
        elif kind == 9:
            error = ("ExpiredTokenException", f"Token expired: current date/time {i}")
        sandbox.sts.trail.record(web_identity_record(
            role_arn=f"arn:aws:iam::{account}:role/{roles[i % len(roles)]}", session_name=session,
            claims={"iss": sandbox.issuer.url, "aud": aud, "sub": f"app-{i % 50}"}, provider_arn=provider,
            region="us-east-1", error=error, when=now - dt.timedelta(seconds=5 + i * 3600 // count)))


def most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def paced_runs(events: int, runs: int) -> list[dict]:
    out = []
    with Sandbox(issuer_timeout=2.0) as sandbox:
        os.environ.update(sandbox.env())
        data = sandbox.config_dict()
        data["live_exchanges"] = {"settle_minutes": 0, "lookback_hours": 1}
        config = parse_config(data)
        session = sandbox.boto_session()
        snapshot = SnapshotCollector(session, config.region).collect()
        for run in range(runs):
            now = dt.datetime.now(dt.timezone.utc)
            seed(sandbox, events, now)
            started = time.perf_counter()
            live = collect_live_exchanges(config, session, snapshot, config.resolved_connectors(), now=now)
            wall = time.perf_counter() - started
            [window] = live.windows
            activity = live.activity["defender"]
            out.append({
                "run": run + 1, "wall_s": wall, "pages": window.pages, "records": window.records,
                "throttled": sandbox.sts.trail.throttles, "max_per_second": most_in_one_second(
                    list(sandbox.sts.trail.lookup_times)),
                "waited_s": window.waited_seconds, "work_s": wall - window.waited_seconds,
                "successes": activity.successes, "failures": activity.failures, "groups": len(activity.groups),
                "evaluations": live.evaluations, "truncated": window.truncated,
            })
            print(f"  run {run + 1}: {wall:.1f} s, {window.pages} pages, {window.records} events, "
                  f"{sandbox.sts.trail.throttles} throttled, waited {window.waited_seconds:.1f} s", file=sys.stderr)
    return out


class MemoryLookup:
    def __init__(self, records: list[str], when: dt.datetime) -> None:
        self.records, self.when = records, when

    def lookup_events(self, **request):
        start = int(request.get("NextToken") or 0)
        page = self.records[start: start + request["MaxResults"]]
        out = {"Events": [{"EventTime": self.when, "CloudTrailEvent": r} for r in page]}
        if start + len(page) < len(self.records):
            out["NextToken"] = str(start + len(page))
        return out


def hostile(count: int, now: dt.datetime, issuer: str, provider: str, account: str) -> list[str]:
    rnd = random.Random(7)
    role = f"arn:aws:iam::{account}:role/CspmMonitorAws"

    def one(**kw):
        base = dict(role_arn=role, session_name=SESSION, claims={"iss": issuer, "aud": CSPM_AUD, "sub": "SUB"},
                    provider_arn=provider, region="us-east-1", when=now - dt.timedelta(minutes=10))
        return json.dumps(web_identity_record(**(base | kw)))

    kinds = [one(), one(session_name="MicrosoftSentinel_SESSION", error=("AccessDenied", "x")),
             one(claims={"iss": issuer, "aud": "api://" + "x" * 150 + "SUB", "sub": "SUB"},
                 error=("InvalidIdentityToken", "Incorrect token audience")),
             one(error=("WeirdCODE", "y" * 1500)),
             one(error=("ExpiredTokenException", "Token expired: current date/time SUB"))]
    return [kinds[i % 5].replace("SUB", str(i)).replace("SESSION", f"{i:08d}").replace("CODE", str(rnd.randrange(500)))
            for i in range(count)]


def cpu_run(count: int) -> dict:
    from connector_health.collect.aws import AccountSnapshot, OidcProvider, Role
    from connector_health.presets import load_preset
    from connector_health.sandbox.account import trust_policy

    account, issuer = "123456789012", "https://sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
    key = issuer.removeprefix("https://")
    provider = f"arn:aws:iam::{account}:oidc-provider/{key}"
    preset = load_preset("defender-for-cloud")
    snapshot = AccountSnapshot(account_id=account, roles_complete=True, providers_complete=True)
    snapshot.providers.append(OidcProvider(provider, issuer, list(preset.audiences), []))
    for specs in preset.plans.values():
        for spec in specs:
            doc = trust_policy(provider, key, spec.audience or "")
            snapshot.roles[spec.name] = Role(spec.name, f"arn:aws:iam::{account}:role/{spec.name}", "/", doc,
                                             json.dumps(doc))
    config = parse_config({"connectors": [{"name": "defender", "preset": "defender-for-cloud",
                                           "customer_tenant_id": CUSTOMER_TENANT}],
                           "live_exchanges": {"settle_minutes": 0, "max_events_per_region": 100_000,
                                              "lookback_hours": 24}})
    now = dt.datetime.now(dt.timezone.utc)
    records = hostile(count, now, issuer, provider, account)

    class Reader(CloudTrailReader):
        def client(self, region):
            return MemoryLookup(records, now)

    connector = config.resolved_connectors()[0]

    def once():
        reader = Reader(session=None, rate=1e9, max_events=100_000)
        live = collect_live_exchanges(config, None, snapshot, [connector], now=now, reader=reader)
        ctx = CheckContext(config=config, connector=connector, snapshot=snapshot, issuer=None, now=now,
                           extras={"live": live})
        return live, list(get_check("EXCHANGE_LIVE_FAILURES").run(ctx))

    started = time.perf_counter()
    live, findings = once()
    wall = time.perf_counter() - started
    tracemalloc.start()  # a second pass for memory: tracing slows Python down several times
    once()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    observed, changes = plan(findings, {}, now, reminder_hours=24, retention_days=30)
    return {
        "events": live.windows[0].records, "wall_s": wall, "us_per_event": wall / count * 1e6,
        "evaluations": live.evaluations, "groups": len(live.activity["defender"].groups),
        "findings": len(findings), "largest_finding_bytes": max(len(json.dumps(f.to_dict())) for f in findings),
        "largest_state_item_bytes": max(len(json.dumps(r.item("pk"))) for r in observed),
        "alert_bytes": len(compose(account, "defender", changes).body.encode()),
        "peak_python_mb": peak / 2**20,
        "input_mb": sum(len(r) for r in records) / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cpu-events", type=int, default=100_000)
    args = parser.parse_args()
    cores = os.cpu_count()
    print(f"connector-health live-exchange bench: {cores} cores, {args.events} events per paced run, "
          f"{args.runs} runs", file=sys.stderr)
    paced = paced_runs(args.events, args.runs)
    walls = [r["wall_s"] for r in paced]
    works = [r["work_s"] for r in paced]
    print(f"\nA. paced read of {args.events} events through LookupEvents (real clock, stand-in enforcing 2 req/s)")
    print(f"   wall: median {statistics.median(walls):.1f} s (min {min(walls):.1f}, max {max(walls):.1f}) over "
          f"{len(walls)} runs; pages {paced[0]['pages']}; events read {paced[0]['records']}")
    print(f"   throttled requests: {sum(r['throttled'] for r in paced)}; most requests in any 1 s: "
          f"{max(r['max_per_second'] for r in paced)}; pacer wait median "
          f"{statistics.median(r['waited_s'] for r in paced):.1f} s; everything else (HTTP, parsing, diagnosis) "
          f"median {statistics.median(works):.1f} s (min {min(works):.1f}, max {max(works):.1f})")
    print(f"   per run: {paced[0]['successes']} successes, {paced[0]['failures']} refusals in "
          f"{paced[0]['groups']} groups, {paced[0]['evaluations']} trust evaluations")
    cpu = cpu_run(args.cpu_events)
    print(f"\nB. {cpu['events']} hostile events from memory (no pacing)")
    print(f"   {cpu['wall_s']:.1f} s ({cpu['us_per_event']:.0f} us per event), {cpu['evaluations']} trust evaluations, "
          f"{cpu['groups']} groups -> {cpu['findings']} findings")
    print(f"   largest finding {cpu['largest_finding_bytes']} B, state item {cpu['largest_state_item_bytes']} B "
          f"(DynamoDB limit 400 KB), alert {cpu['alert_bytes']} B (SNS limit 256 KB)")
    print(f"   Python peak allocation while reading and diagnosing: {cpu['peak_python_mb']:.1f} MB (the {cpu['input_mb']:.0f} MB "
          f"of input pages, held by this bench before it starts, not counted)")


if __name__ == "__main__":
    main()
