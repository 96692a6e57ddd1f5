"""Benchmark: what the integrations cost (issue 16).

1. Building what is sent, pure: ASFF findings, OCSF events, one chat card and EventBridge entries for N findings
   (time per finding).
2. A stateful run on the sandbox (`run_pipeline`, exchanges off) of the seeded account with a backdoor finding,
   integrations off, then Security Hub + chat + EventBridge on (steady state: every open finding re-imported):
   wall time per run and the extra API calls.

    .venv/bin/python bench/integrations_bench.py [--runs 7] [--findings 1000]

Medians of --runs runs (min-max).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambdas"))

from connector_health.findings import Finding, Severity  # noqa: E402
from connector_health.integrations.chat import card  # noqa: E402
from connector_health.integrations.events import entry  # noqa: E402
from connector_health.integrations.feed import FeedChange  # noqa: E402
from connector_health.integrations.ocsf import detection_finding  # noqa: E402
from connector_health.integrations.securityhub import asff_finding  # noqa: E402
from connector_health.state.lifecycle import Change, plan  # noqa: E402

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)


def _findings(n: int) -> list[Finding]:
    return [Finding(check_id="TRUST_UNEXPECTED_PRINCIPAL", severity=list(Severity)[i % 5], connector="defender",
                    account="123456789012", resource_arn=f"arn:aws:iam::123456789012:role/role-{i}",
                    message="Statement 2 admits arn:aws:iam::999999999999:root. " * 4, remediation="Remove it.",
                    title="Trust policy admits an unexpected principal",
                    details={"statement": 2, "principals": [f"arn:aws:iam::{i:012d}:root" for i in range(20)]})
            for i in range(n)]


def _stats(samples: list[float]) -> str:
    return f"{statistics.median(samples):.3f} ({min(samples):.3f}-{max(samples):.3f})"


def pure(runs: int, n: int) -> None:
    findings = _findings(n)
    records, _ = plan(findings, {}, NOW, reminder_hours=24, retention_days=30)
    changes = [FeedChange("defender", Change("new", r), "t") for r in records]
    cases = {
        "ASFF finding": lambda: [asff_finding(r, "defender", account="123456789012", region="eu-west-1",
                                              partition="aws", now=NOW) for r in records],
        "OCSF event": lambda: [detection_finding(f, region="eu-west-1", now=NOW) for f in findings],
        "EventBridge entry": lambda: [entry(c, account="123456789012", region="eu-west-1", bus="default",
                                            source="connector-health", now=NOW) for c in changes],
        "chat card (all in one)": lambda: [card("123456789012", "defender", changes)],
    }
    print(f"1. building what is sent, {n} findings: microseconds per finding, median (min-max) of {runs} runs")
    for label, build in cases.items():
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            build()
            samples.append((time.perf_counter() - started) / n * 1e6)
        print(f"   {label:24s} {_stats(samples)}")


def sandbox_runs(runs: int) -> None:
    from connector_health.config import parse_config
    from connector_health.pipeline import run_pipeline
    from connector_health.sandbox import Sandbox

    with Sandbox() as sandbox:
        import os

        os.environ.update(sandbox.env())
        iam = sandbox.client("iam")
        doc = iam.get_role(RoleName="CspmMonitorAws")["Role"]["AssumeRolePolicyDocument"]
        doc["Statement"].append({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                                 "Action": "sts:AssumeRole"})
        iam.update_assume_role_policy(RoleName="CspmMonitorAws", PolicyDocument=json.dumps(doc))
        plain = parse_config(sandbox.config_dict())
        data = sandbox.config_dict()
        data["alerts"] = {"chat_topic_arn": sandbox.seeded["chat_topic_arn"]}
        data["integrations"] = {"security_hub": {"enabled": True}, "eventbridge": {"enabled": True}}
        integrated = parse_config(data)
        print(f"2. run_pipeline on the sandbox (exchanges off): seconds per run, median (min-max) of {runs} runs")
        for label, config in (("integrations off", plain), ("Security Hub + chat + EventBridge", integrated)):
            run_pipeline(config, run_id=f"warm-{label}", exchanges=False)  # first run: baseline, first import
            samples, delivered = [], None
            for i in range(runs):
                started = time.perf_counter()
                result = run_pipeline(config, run_id=f"{label}-{i}", exchanges=False)
                samples.append(time.perf_counter() - started)
                delivered = {r.channel: r.as_dict() for r in result.deliveries}
            print(f"   {label:36s} {_stats(samples)}   steady-state deliveries per run: {delivered or '-'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--findings", type=int, default=1000)
    args = parser.parse_args()
    pure(args.runs, args.findings)
    sandbox_runs(args.runs)


if __name__ == "__main__":
    main()
