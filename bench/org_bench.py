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

    .venv/bin/python bench/org_bench.py --worker-batch [--accounts 200] [--passes 2] [--no-exchanges]

Worker mode: what the hub's worker Lambda does, in this process: the SQS handler (`handlers.worker.handler`, with
Powertools logging and metrics) is given batches of `org.worker_batch_size` account messages, one batch after the
other as SQS delivers them to one warm execution environment (the process-wide caches carry over, the issuer
inspector is new per invocation), for every member account; `--passes` runs of the whole organisation (the second
finds the first's state: the steady hourly case). Measured per account: CPU time of this process (user+sys, every
thread: `time.process_time`) and wall time of the handler's per-record step, split into the first record of a batch
and the others; the machine's load average; peak RSS; the evaluator's cache statistics.
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
# BENCH_LAMBDAS: measure the engine of another checkout (e.g. a `git archive` of an older commit)
sys.path.insert(0, os.environ.get("BENCH_LAMBDAS") or str(ROOT / "lambdas"))

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


def _spread(values: list[float]) -> str:
    import statistics

    if not values:
        return "-"
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


class _Context:
    """The Lambda context the handler reads (remaining time, request id)."""

    function_name = "connector-health-org-worker"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:connector-health-org-worker"

    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def worker_batches(args: argparse.Namespace, env: dict[str, str], data: dict) -> dict:
    """Every member account through the worker handler, in batches (module docstring, worker mode)."""
    import contextlib
    import io
    import statistics

    from connector_health.org import AccountMessage

    try:
        from connector_health.policy.cache import all_caches
    except ImportError:  # an engine without the content caches (before issue 18)
        all_caches = dict

    config_path = Path(tempfile.mkdtemp(prefix="connector-health-worker-")) / "hub.json"
    config_path.write_text(json.dumps(data))
    os.environ.update({"CONNECTOR_HEALTH_CONFIG": str(config_path), "POWERTOOLS_SERVICE_NAME": "connector-health",
                       "POWERTOOLS_METRICS_NAMESPACE": "ConnectorHealth", "POWERTOOLS_TRACE_DISABLED": "true"})
    from handlers import worker

    quiet = open(os.devnull, "w")  # noqa: SIM115 - Powertools' log lines, for the whole run
    for handler in worker.logger.handlers:
        handler.stream = quiet
    org = json.loads(Path(env["CONNECTOR_HEALTH_SANDBOX_ORG"]).read_text())
    accounts = sorted(org["members"], key=lambda a: org["members"][a]["number"])
    size = data["org"].get("worker_batch_size", 5)
    samples: list[dict] = []
    original = worker._Batch.handle

    def timed(self, record):  # the handler's per-record step: the account's pipeline, metrics and log line
        first = position_in_batch[0] == 0
        position_in_batch[0] += 1
        c0, w0 = time.process_time(), time.perf_counter()
        try:
            return original(self, record)
        finally:
            samples.append({"cpu": time.process_time() - c0, "wall": time.perf_counter() - w0, "first": first})

    position_in_batch = [0]
    worker._Batch.handle = timed
    passes = []
    try:
        for number in range(1, args.passes + 1):
            run_id = f"bench-worker-{number}"
            start = len(samples)
            for i in range(0, len(accounts), size):
                records = [{"messageId": f"{run_id}-{a}", "receiptHandle": "r", "md5OfBody": "",
                            "body": AccountMessage(run_id=run_id, account_id=a).to_json(),
                            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                            "awsRegion": "us-east-1"} for a in accounts[i:i + size]]
                position_in_batch[0] = 0
                with contextlib.redirect_stdout(io.StringIO()):  # Powertools' log and metric lines
                    worker.handler({"Records": records}, _Context(f"{run_id}-{i}"))
            got = samples[start:]
            first = [s for s in got if s["first"]]
            rest = [s for s in got if not s["first"]]
            passes.append({
                "pass": number, "accounts": len(got),
                "cpu_first_in_batch": _spread([s["cpu"] for s in first]),
                "cpu_after_first": _spread([s["cpu"] for s in rest]),
                "cpu_after_first_mean": round(statistics.fmean(s["cpu"] for s in rest), 3) if rest else None,
                "wall_first_in_batch": _spread([s["wall"] for s in first]),
                "wall_after_first": _spread([s["wall"] for s in rest]),
            })
    finally:
        worker._Batch.handle = original
    return {"mode": "worker-batch", "accounts": args.accounts, "batch_size": size,
            "exchanges": data["org"]["exchanges"], "passes": passes,
            "caches": all_caches(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--plans", default="all", help="comma-separated Defender plans in the member accounts (default all)")
    parser.add_argument("--no-exchanges", action="store_true", help="leave out the test exchanges (EXCHANGE_*)")
    parser.add_argument("--worker-batch", action="store_true", help="the worker handler on batches (worker mode)")
    parser.add_argument("--passes", type=int, default=2, help="worker mode: runs over the whole organisation")
    parser.add_argument("--profile", type=int, default=0, metavar="K",
                        help="worker mode: print the K functions with the most time of a cProfile of the run")
    parser.add_argument("--profile-sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    args = parser.parse_args()
    load_before = os.getloadavg()

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
        if args.worker_batch:
            if args.profile:  # one cProfile over the whole worker run; the top functions go to stderr
                import cProfile
                import pstats

                profile = cProfile.Profile()
                report = profile.runcall(worker_batches, args, env, data)
                pstats.Stats(profile, stream=sys.stderr).sort_stats(args.profile_sort).print_stats(args.profile)
            else:
                report = worker_batches(args, env, data)
            report["seed_seconds"] = round(seed_seconds, 1)
            report["load_average_before_after"] = [load_before, os.getloadavg()]
            print(json.dumps(report, indent=1))
            return 0
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
