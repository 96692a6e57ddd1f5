"""Measure a full `check` run against the sandbox with N extra roles.

    .venv/bin/python bench/scan_bench.py [--roles 100 1000] [--runs 3]

The sandbox (moto server + local TLS issuer) runs in a separate background process, so the peak RSS printed is
the monitor's own. For each N: seeds N roles that trust the Defender provider (each with an inline policy),
runs the engine `--runs` times and prints the median wall time, the AWS API calls by operation (counted with a
botocore event hook), TLS handshakes, the number of findings and the peak RSS of this process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambdas"))

import boto3  # noqa: E402

from connector_health.config import load_config  # noqa: E402
from connector_health.engine import scan_account  # noqa: E402
from connector_health.sandbox import daemon  # noqa: E402


def seed_roles(iam, provider_arn: str, issuer_key: str, start: int, count: int) -> None:
    for i in range(start, start + count):
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{issuer_key}:aud": "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479",
                                           "sts:RoleSessionName": "MicrosoftDefenderForClouds_0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"}}}]}
        iam.create_role(RoleName=f"bench-role-{i:05d}", AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName=f"bench-role-{i:05d}", PolicyName="inline", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "ec2:Describe*"], "Resource": "*"}]}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="connector-health-bench-"))
    env = daemon.up(directory)
    os.environ.update(env)
    try:
        config = load_config(env["CONNECTOR_HEALTH_CONFIG"])
        iam = boto3.client("iam")
        provider_arn = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"][0]["Arn"]
        issuer_key = env["CONNECTOR_HEALTH_ISSUER_URL"].removeprefix("https://")
        calls: Counter[str] = Counter()
        boto3.DEFAULT_SESSION = None
        session = boto3.session.Session()
        session.events.register("before-call", lambda model, **_: calls.update([f"{model.service_model.service_name}:{model.name}"]))
        seeded = 0
        rows = []
        for n in sorted(args.roles):
            seed_roles(iam, provider_arn, issuer_key, seeded, n - seeded)
            seeded = n
            times, last = [], None
            for _ in range(args.runs):
                calls.clear()
                t0 = time.perf_counter()
                last = scan_account(config, session=session)
                times.append(time.perf_counter() - t0)
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rows.append((n, statistics.median(times), min(times), max(times), dict(calls), last.stats.get("tls_handshakes"),
                         len(last.findings), peak_mb))
        print(f"cores: {os.cpu_count()}  runs per size: {args.runs}  (sandbox in a separate process)")
        print(f"{'extra roles':>11} {'median s':>9} {'min s':>7} {'max s':>7} {'TLS':>4} {'findings':>8} {'peak RSS MB':>11}  API calls")
        for n, med, lo, hi, c, tls, nf, rss in rows:
            api = ", ".join(f"{k}={v}" for k, v in sorted(c.items()))
            print(f"{n:>11} {med:>9.3f} {lo:>7.3f} {hi:>7.3f} {tls:>4} {nf:>8} {rss:>11.1f}  {api}")
    finally:
        daemon.down(directory)


if __name__ == "__main__":
    main()
