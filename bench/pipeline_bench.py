"""Measure the scheduled pipeline (scan, state, alerts) run after run on an account with many open findings.

    .venv/bin/python bench/pipeline_bench.py [--roles 1000] [--runs 3] [--passes 3] [--code DIR]

What the scheduled Lambda does every hour (`run_pipeline`, as `connector-health run`): the first run of an account
records the baseline and alerts every new finding; the next ones find the same findings open, and the state table
is where their cost goes (each finding's item is read, and written when it changes). Seed: the sandbox (in this
process, as in scan_bench.py) with `--roles` roles carrying a trust flaw each (bench/scan_bench.py's seed: about 1.5
findings per role) over 5 providers. Each of `--runs` fresh child processes runs the pipeline `--passes` times
against a state table of its own (created empty for it), one simulated hour apart; the emulated CloudTrail is put
back as seeded first. Measured per pass: wall and CPU time, and the DynamoDB calls by operation (a botocore
`before-call` hook: one count per call, retries not counted); the first pass and the later ones are reported apart.
moto answers in the same machine (about 2-3 ms per UpdateItem, against 5-10 ms on AWS within a region), so the
calls, not the seconds, carry over to AWS.

`--code DIR` runs another checkout's engine (its `lambdas/` on the children's PYTHONPATH) against the same seed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.environ.get("BENCH_LAMBDAS") or str(ROOT / "lambdas"))
sys.path.insert(0, str(ROOT / "bench"))


def passes(config_path: str, count: int) -> list[dict]:
    """In a fresh process: `count` pipeline runs one simulated hour apart."""
    import boto3

    from connector_health.config import load_config
    from connector_health.pipeline import run_pipeline

    config = load_config(config_path)
    session = boto3.session.Session()
    calls: Counter[str] = Counter()
    session.events.register("before-call", lambda model, **_: calls.update(
        [f"{model.service_model.service_name}:{model.name}"]))
    start = dt.datetime.now(dt.timezone.utc)
    out = []
    for number in range(count):
        calls.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        result = run_pipeline(config, run_id=f"bench-{number}", session=session,
                              now=start + dt.timedelta(hours=number))
        out.append({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                    "findings": len(result.scan.findings), "alerts": len(result.published),
                    "dynamodb": {k.split(":", 1)[1]: v for k, v in calls.items() if k.startswith("dynamodb:")}})
    return out


def spread(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--passes-child":
        print(json.dumps(passes(sys.argv[2], int(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3, help="fresh child processes (each with its own table)")
    parser.add_argument("--passes", type=int, default=3, help="pipeline runs per child, an hour apart")
    parser.add_argument("--code", type=Path, default=ROOT)
    args = parser.parse_args()
    args.code = args.code.resolve()
    load_before = os.getloadavg()

    import boto3
    import yaml

    import scan_bench
    from connector_health.sandbox import Sandbox

    workdir = Path(tempfile.mkdtemp(prefix="connector-health-pipeline-bench-"))
    sandbox = Sandbox(workdir / "sandbox").start()
    env = sandbox.env()
    os.environ.update(env)
    issuers_proc = None
    results = []
    try:
        issuers_proc, extra = scan_bench.start_issuers(Path(env["CONNECTOR_HEALTH_CA_BUNDLE"]).parent, 4, workdir)
        iam = boto3.client("iam")
        providers, shared = scan_bench.seed_providers(iam, env, extra)
        scan_bench.seed_roles(iam, providers, shared, 0, args.roles, flawed=True)
        base = yaml.safe_load(Path(env["CONNECTOR_HEALTH_CONFIG"]).read_text())
        dynamodb = boto3.client("dynamodb")
        child_env = dict(os.environ, PYTHONPATH=str(args.code / "lambdas"), BENCH_LAMBDAS=str(args.code / "lambdas"))
        for run in range(args.runs):
            table = f"bench-state-{run}"
            dynamodb.create_table(
                TableName=table, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
            config = scan_bench.bench_config(base, extra)
            config["state"]["table_name"] = table
            config_path = workdir / f"pipeline-{run}.yaml"
            config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            scan_bench.fresh_trail(sandbox)
            out = subprocess.run([sys.executable, __file__, "--passes-child", str(config_path), str(args.passes)],
                                 env=child_env, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-3000:])
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            sandbox.read_alerts()  # empty the inbox
    finally:
        if issuers_proc:
            issuers_proc.terminate()
            issuers_proc.wait(10)
        sandbox.stop()

    first = [r[0] for r in results]
    later = [p for r in results for p in r[1:]]
    print(f"connector-health pipeline bench: {args.roles} roles with trust flaws, {args.runs} fresh processes x "
          f"{args.passes} runs an hour apart; code: {args.code}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}, after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for label, group in (("first run", first), ("later runs", later)):
        if not group:
            continue
        ops = Counter()
        for p in group:
            ops.update(p["dynamodb"])
        per_run = {k: round(v / len(group)) for k, v in sorted(ops.items())}
        print(f"{label}: wall {spread([p['wall_s'] for p in group])} s, cpu {spread([p['cpu_s'] for p in group])} s, "
              f"{group[0]['findings']} findings, alerts {statistics.median(p['alerts'] for p in group):.0f}; "
              f"DynamoDB calls per run: {per_run}")


if __name__ == "__main__":
    main()
