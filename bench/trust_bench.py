"""Trust analysis cost: the real-world corpus, a typical role, and hostile policies built to make the grammar-driven
caller search work hardest (many values, many wildcards, many statements). In-process, no AWS.

    .venv/bin/python bench/trust_bench.py [--runs 5]

Prints the median (min-max) milliseconds per policy for each workload; `check` analyses every role trusting a
monitored provider once per run, so this is the per-role cost the scan pays on top of reading the account.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lambdas"))

import yaml  # noqa: E402

from connector_health.trust.lint import lint_policy  # noqa: E402

GH = "token.actions.githubusercontent.com"
ARN = f"arn:aws:iam::123456789012:oidc-provider/{GH}"


def corpus() -> list[tuple[str, dict]]:
    out = []
    for path in sorted((ROOT / "tests" / "corpus").glob("*/*.yaml")):
        case = yaml.safe_load(path.read_text(encoding="utf-8"))
        out.append((json.dumps(case["policy"]), case.get("lint") or {}))
    return out


def typical() -> list[tuple[str, dict]]:
    doc = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": ARN}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{GH}:aud": "sts.amazonaws.com"}, "StringLike": {f"{GH}:sub": "repo:octo-org/octo-repo:*"}}}]}
    return [(json.dumps(doc), {})]


def hostile() -> list[tuple[str, dict]]:
    """100 Allow statements, each with 40 sub patterns of 12 wildcards and 40 audience patterns."""
    values = [f"repo:o{i}*/?*x*y*z*:*?*?*a*b*c*" for i in range(40)]
    stmt = {"Effect": "Allow", "Principal": {"Federated": ARN}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringLike": {f"{GH}:sub": values, f"{GH}:aud": [f"a{i}*?*" for i in range(40)]},
                          "ForAnyValue:StringLike": {f"{GH}:repository_owner": [f"*{i}*" for i in range(40)]}}}
    return [(json.dumps({"Version": "2012-10-17", "Statement": [stmt] * 100}), {})]


def measure(workload: list[tuple[str, dict]], runs: int) -> tuple[float, float, float]:
    per_policy = []
    for _ in range(runs):
        started = time.perf_counter()
        for text, lint in workload:
            lint_policy(text, preset=lint.get("preset"), issuer=lint.get("issuer"), caller=lint.get("caller"),
                        provider_audiences=lint.get("provider_audiences"))
        per_policy.append((time.perf_counter() - started) * 1000 / len(workload))
    return statistics.median(per_policy), min(per_policy), max(per_policy)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"trust analysis (lint_policy), ms per policy, median of {args.runs} runs (min-max)")
    for name, workload in (("corpus", corpus()), ("typical GitHub role", typical()), ("hostile 100x40 patterns", hostile())):
        lint_policy(*workload[0][:1])  # warm caches (compiled globs, presets)
        med, lo, hi = measure(workload, args.runs)
        print(f"  {name:26} {len(workload):3} policies  {med:8.2f}  ({lo:.2f}-{hi:.2f})")


if __name__ == "__main__":
    main()
