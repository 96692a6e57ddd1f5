"""Measure `check --org` over an emulated organisation of N member accounts (hub mode, local fan-out).

    .venv/bin/python bench/org_bench.py [--accounts 200] [--workers 8] [--plans all] [--no-exchanges]

Processes: the sandbox runs in the background (`sandbox.daemon`, `sandbox up --accounts N`: moto server, local TLS
issuer, STS stand-in, the organisation seeded as sandbox/org.py describes); this process is the monitor alone, so
its peak RSS (ru_maxrss) is the fan-out's own (imports, one snapshot per account in flight, the findings).

Measured: seeding time (once, not part of the run); wall time of `scan_organization` (accounts selected, scanned,
failed, skipped); AWS API calls by service and operation (a wrapper around botocore's `_make_api_call`: one count
per call, retries not counted); TLS handshakes to the issuer; findings by check; peak RSS.
Everything is local: moto runs in one process, so the numbers measure the monitor's CPU per account (the check
evaluation), not network latency; against AWS the pool overlaps the round trips.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lambdas"))

CALLS: collections.Counter[str] = collections.Counter()
_LOCK = threading.Lock()


def _count_calls() -> None:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def counted(self, operation_name, api_params):
        with _LOCK:
            CALLS[f"{self.meta.service_model.endpoint_prefix}:{operation_name}"] += 1
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = counted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--plans", default="all", help="comma-separated Defender plans in the member accounts (default all)")
    parser.add_argument("--no-exchanges", action="store_true", help="leave out the test exchanges (EXCHANGE_*)")
    args = parser.parse_args()

    from connector_health.sandbox import daemon

    directory = Path(tempfile.mkdtemp(prefix="connector-health-org-bench-"))
    started = time.monotonic()
    env = daemon.up(directory, accounts=args.accounts)
    seed_seconds = time.monotonic() - started
    try:
        os.environ.update(env)
        import yaml

        from connector_health.config import parse_config
        from connector_health.org import scan_organization

        data = yaml.safe_load(Path(env["CONNECTOR_HEALTH_CONFIG"]).read_text())
        if args.plans != "all":
            data["connectors"][0]["plans"] = args.plans.split(",")
        data["org"]["exchanges"] = not args.no_exchanges
        config = parse_config(data)
        _count_calls()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.monotonic()
        result = scan_organization(config, max_workers=args.workers)
        wall = time.monotonic() - started
        summary = result.summary()
        by_check = collections.Counter(f.check_id for f in result.findings)
        per_account = [a["duration_seconds"] for a in summary["accounts"]]
        report = {
            "accounts": args.accounts, "workers": args.workers, "plans": args.plans,
            "exchanges": not args.no_exchanges,
            "seed_seconds": round(seed_seconds, 1),
            "wall_seconds": round(wall, 2),
            "seconds_per_account": round(wall / max(1, len(per_account)), 3),
            "account_seconds_max": max(per_account, default=0),
            "accounts_scanned": summary["accounts_scanned"], "accounts_failed": summary["accounts_failed"],
            "accounts_skipped": summary["accounts_skipped"],
            "api_calls_total": sum(CALLS.values()),
            "api_calls_per_account": round(sum(CALLS.values()) / max(1, len(per_account)), 1),
            "api_calls": dict(sorted(CALLS.items())),
            "findings": dict(sorted(by_check.items())),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_rss_mb_before_run": round(rss_before / 1024, 1),
        }
        print(json.dumps(report, indent=1))
    finally:
        daemon.down(directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
