"""Benchmark: PERMS_REQUIRED_MISSING for 1,000 roles that each carry ReadOnlyAccess plus an inline policy.

The ReadOnlyAccess document is the real one moto ships (AWS's current version, ~3,000 action patterns). Each run
builds a fresh snapshot (so ReadOnlyAccess is parsed once per run, shared by the 1,000 roles) and runs the check,
which evaluates the CSPM plan's required actions for every role, parsing its inline policy and building its
effective permissions. Prints the median wall time of the runs and the peak memory (tracemalloc, measured in a
separate run because tracing slows Python down; plus the process's max RSS).

    .venv/bin/python bench/perms_bench.py [--roles 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambdas"))

from moto.iam.aws_managed_policies import aws_managed_policies_data  # noqa: E402

from connector_health.checks import CheckContext, get_check  # noqa: E402
from connector_health.collect.aws import AccountSnapshot, AttachedPolicy, ManagedPolicy, Role  # noqa: E402
from connector_health.config import parse_config  # noqa: E402
from connector_health.permissions import policy_library  # noqa: E402
from connector_health.presets import load_preset  # noqa: E402

ACCOUNT = "123456789012"
READ_ONLY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def build(roles: int):
    """(context, required actions): a generic connector naming `roles` roles with the CSPM plan's required actions."""
    managed = json.loads(aws_managed_policies_data)["ReadOnlyAccess"]
    required = load_preset("defender-for-cloud").plans["cspm"][0].required_actions
    names = [f"connector-role-{i:04d}" for i in range(roles)]
    config = parse_config({"connectors": [{
        "name": "bench", "preset": "generic", "issuer": "https://issuer.example.com", "audiences": ["bench"],
        "roles": [{"name": n, "required_actions": required + ["kms:Decrypt"]} for n in names],
    }]})
    [connector] = config.resolved_connectors()
    snapshot = AccountSnapshot(account_id=ACCOUNT, roles_complete=True, providers_complete=True)
    snapshot.managed_policies[READ_ONLY_ARN] = ManagedPolicy(
        READ_ONLY_ARN, "ReadOnlyAccess", managed["DefaultVersionId"], managed["Document"], True)
    for i, name in enumerate(names):
        inline = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
             "Resource": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{i:08d}-0000-4000-8000-000000000000"},
            {"Effect": "Deny", "Action": ["billing:*", "cur:*"], "Resource": "*"},
        ]}
        snapshot.roles[name] = Role(name=name, arn=f"arn:aws:iam::{ACCOUNT}:role/{name}", path="/",
                                    trust_policy={}, inline_policies={"extra": inline},
                                    attached_policies=[AttachedPolicy("ReadOnlyAccess", READ_ONLY_ARN)])
    ctx = CheckContext(config=config, connector=connector, snapshot=snapshot, issuer=None,
                       now=dt.datetime.now(dt.timezone.utc))
    return ctx, required


def run_once(roles: int) -> tuple[float, int, int]:
    ctx, _ = build(roles)
    check = get_check("PERMS_REQUIRED_MISSING")
    started = time.perf_counter()
    findings = list(check.run(ctx))
    elapsed = time.perf_counter() - started
    return elapsed, len(findings), policy_library(ctx.snapshot).parse_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    _, required = build(1)
    get_check("PERMS_REQUIRED_MISSING")  # import and register outside the timing
    times = []
    for _ in range(max(3, args.runs)):
        elapsed, findings, parses = run_once(args.roles)
        assert findings == 0 and parses == 1, (findings, parses)
        times.append(elapsed)
    tracemalloc.start()
    run_once(args.roles)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    median = statistics.median(times)
    print(f"roles: {args.roles}, each ReadOnlyAccess (real document, parsed once per run) + one inline policy")
    print(f"required actions per role: {len(required) + 1} (CSPM plan + kms:Decrypt)")
    print(f"runs: {len(times)}; median {median:.3f} s ({median / args.roles * 1e3:.2f} ms per role); "
          f"min {min(times):.3f} s, max {max(times):.3f} s")
    print(f"peak traced memory during one run: {peak / 2**20:.1f} MiB; process max RSS: {rss_mib:.0f} MiB")


if __name__ == "__main__":
    main()
