#!/usr/bin/env python3
"""lint-trust on infrastructure as code: wall time per input, median of several runs, in this process.

    .venv/bin/python bench/lint_iac_bench.py [--runs 5]

Inputs: the test artefacts (tests/iac: published templates, a CDK assembly extract, Terraform plans) and generated
sizes — a CloudFormation template with N GitHub roles on one provider (every role with an Fn::If, so two variants
each) and a Terraform plan with N roles in child modules, to show how time grows with the number of roles.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lambdas"))

from connector_health.trust.iac import lint_paths  # noqa: E402

IAC = ROOT / "tests" / "iac"
ARTEFACTS = ["cloudformation/configure-aws-credentials-federation-and-role.yml", "cloudformation/oidc-github-gitlab-eks.yaml",
             "cloudformation/sentinel", "cdk-eks-service-account", "terraform/defender-onboarding-awsonboarding-tf.plan.json",
             "terraform/eks-irsa-module-deferred-document.plan.json"]


def template(roles: int) -> dict:
    resources: dict = {"Provider": {"Type": "AWS::IAM::OIDCProvider", "Properties": {
        "Url": "https://token.actions.githubusercontent.com", "ClientIdList": ["sts.amazonaws.com"]}}}
    for i in range(roles):
        resources[f"Role{i}"] = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", "Principal": {"Federated": {"Ref": "Provider"}},
                "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                              "StringLike": {"token.actions.githubusercontent.com:sub": {"Fn::If": [
                                  "Strict", f"repo:octo-org/app{i}:ref:refs/heads/main", f"repo:octo-org/app{i}:*"]}}}}]}}}
    return {"Parameters": {"Mode": {"Type": "String"}}, "Conditions": {"Strict": {"Fn::Equals": [{"Ref": "Mode"}, "strict"]}},
            "Resources": resources}


def plan(roles: int) -> dict:
    child = []
    for i in range(roles):
        policy = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.com"},
            "Condition": {"StringEquals": {"gitlab.com:aud": "https://gitlab.com",
                                           "gitlab.com:sub": f"project_path:group/p{i}:ref_type:branch:ref:main"}}}]})
        child.append({"address": f'module.ci["p{i}"]', "resources": [{
            "address": f'module.ci["p{i}"].aws_iam_role.this', "mode": "managed", "type": "aws_iam_role", "name": "this",
            "values": {"name": f"ci-p{i}", "assume_role_policy": policy}}]})
    return {"format_version": "1.2", "planned_values": {"root_module": {"resources": [{
        "address": "aws_iam_openid_connect_provider.gitlab", "mode": "managed", "type": "aws_iam_openid_connect_provider",
        "name": "gitlab", "values": {"url": "https://gitlab.com", "client_id_list": ["https://gitlab.com"]}}],
        "child_modules": child}}}


def measure(path: Path, runs: int) -> tuple[float, float, float, int, int]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = lint_paths([path])
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times), len(result.roles), len(result.findings)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"lint-trust IaC bench: median of {args.runs} runs (in-process lint_paths), {Path('/proc/cpuinfo').read_text().count('processor')} cores")
    print(f"{'input':58} {'roles':>6} {'findings':>8} {'median s':>9} {'min-max s':>13}")
    rows = [(name, IAC / name) for name in ARTEFACTS]
    with tempfile.TemporaryDirectory() as tmp:
        for size in (100, 500):
            path = Path(tmp) / f"github-{size}-roles.template.json"
            path.write_text(json.dumps(template(size), indent=1))
            rows.append((f"generated: template, {size} roles x 2 Fn::If variants", path))
        for size in (500, 2000):
            path = Path(tmp) / f"gitlab-{size}-roles.plan.json"
            path.write_text(json.dumps(plan(size)))
            rows.append((f"generated: plan, {size} roles in modules", path))
        for name, path in rows:
            median, low, high, roles, findings = measure(path, args.runs)
            print(f"{name:58} {roles:6d} {findings:8d} {median:9.3f} {low:6.3f}-{high:6.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
