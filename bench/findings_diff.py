"""Same accounts, two versions of the engine: are the findings identical?

    .venv/bin/python bench/findings_diff.py [--base fdc60ff] [--roles 300] [--accounts 12] [--json FILE]

Runs the engine of `--base` (a commit of this repository, unpacked with `git archive` into a temporary directory; or
`--base-code DIR`, any checkout) and of this checkout (`--code`, default) on the same seeded inputs, each in its own
process (the engine's `lambdas/` first on PYTHONPATH), and compares every finding by (check, severity, connector,
account, resource, fingerprint), and its message. The base runs twice (before and after the new code), so that
anything that differs between two runs of the same code (nothing should) is told apart from a change.

Inputs, all seeded deterministically:
- single: the sandbox's Defender account (every plan; ReadOnlyAccess, the billing deny policy, the template's trust
  policies) plus `--roles` bench roles over 5 providers, as bench/scan_bench.py seeds them (a trust flaw on most,
  every fifth role flawless), plus `PERMS_VARIETY`: roles named in the config with permission setups that exercise
  every PERMS_* check (administrator policies with and without a boundary, NotAction grants, conditional and
  variable-bearing statements, missing and conditional denies, required actions outside a boundary, an unexpected
  policy, a customer policy whose default version is not the first). `scan_account` with every check on.
- org: hub mode, `scan_organization` over `--accounts` member accounts of the emulated organisation (sandbox/org.py:
  its misconfigured members included), test exchanges off.
- corpus: every case of tests/corpus through `lint_policy`, as tests/unit/trust/test_corpus.py runs them.

Exit status 0 when the findings are identical, 1 otherwise (the differences are printed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.environ.get("BENCH_LAMBDAS") or str(ROOT / "lambdas"))
sys.path.insert(0, str(ROOT / "bench"))

ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}

# role name -> (inline policies, AWS managed policy names attached, customer policy names attached, boundary, spec)
PERMS_VARIETY: dict[str, tuple[dict, list[str], list[str], str | None, dict]] = {
    "pv-admin": ({}, ["AdministratorAccess"], [], None, {"read_only": True}),
    "pv-admin-boundary": ({}, ["AdministratorAccess"], [], "ReadOnlyAccess", {}),
    "pv-admin-inline-denied": ({"all": ALLOW_ALL, "deny": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "aws-portal:*", "Resource": "*"}]}}, [], [], None, {}),
    "pv-write-inline": ({"writes": {"Version": "2012-10-17", "Statement": [
        {"Sid": "Objects", "Effect": "Allow", "Action": ["s3:PutObject", "s3:Delete*"],
         "Resource": "arn:aws:s3:::bucket/${aws:username}/*"},
        {"Sid": "FromOffice", "Effect": "Allow", "Action": ["ec2:*", "iam:PassRole"], "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}},
        {"Effect": "Allow", "Action": "lambda:Update*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}}]}},
        [], [], None, {"read_only": True, "required_actions": ["ec2:RunInstances"]}),
    "pv-readonly-nodeny": ({}, ["ReadOnlyAccess"], [], None, {
        "read_only": True, "managed_policies": ["ReadOnlyAccess"],
        "expected_deny": ["aws-portal:*", "iam:Create*", "budgets:ModifyBudget"]}),
    "pv-readonly-conditional-deny": ({"deny": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": ["aws-portal:*", "iam:Create*"], "Resource": "*",
         "Condition": {"StringLike": {"aws:userid": "AIDA*"}}}]}}, ["ReadOnlyAccess"], [], None, {
        "read_only": True, "managed_policies": ["ReadOnlyAccess"], "inline_policies": ["deny"],
        "expected_deny": ["aws-portal:*", "iam:Create*"]}),
    "pv-required-boundary": ({"grants": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "kms:Decrypt", "ec2:Describe*", "iam:Get*"], "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:GetRole", "Resource": "*"}]}}, [], [], "pv-boundary", {
        "required_actions": ["s3:GetObject", "kms:Decrypt", "ec2:DescribeInstances", "iam:Get*", "iam:GetRole",
                             "sqs:SendMessage", "ec2:DescribeNonexistentThing"],
        "required_resources": {"s3:GetObject": "arn:{partition}:s3:::bucket/*"}}),
    "pv-notaction": ({"broad": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"}]}},
        [], [], None, {"read_only": True}),
    "pv-unexpected-policy": ({"extra": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]}}, ["ReadOnlyAccess", "IAMFullAccess"],
        ["pv-versioned"], None, {"managed_policies": ["ReadOnlyAccess"], "read_only": True}),
    "pv-escalation-conditional": ({"pass": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
        {"Effect": "Allow", "Action": ["iam:CreatePolicyVersion", "iam:AttachRolePolicy"],
         "Resource": "arn:aws:iam::123456789012:policy/some-policy"},
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/*"}]}},
        [], ["pv-versioned"], None, {}),
    "pv-missing": ({}, [], [], None, {}),  # named, never created: TRUST_ROLE_MISSING
}
CUSTOMER_POLICIES = {
    "pv-boundary": [{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:*", "ec2:*", "iam:Get*", "sqs:*"], "Resource": "*"}]}],
    # three versions; the default (the last) grants writes the first did not
    "pv-versioned": [
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]},
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]},
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*", "dynamodb:PutItem"],
                                                  "Resource": "*"}]}],
}


# ---------------------------------------------------------------------------------------------- seeding
def seed_single(workdir: Path, roles: int) -> tuple[Path, object, list]:
    """The single-account sandbox with bench roles and PERMS_VARIETY; returns (config path, issuers process, env)."""
    import boto3
    import yaml

    import scan_bench
    from connector_health.sandbox import daemon

    env = daemon.up(workdir / "single")
    os.environ.update(env)
    pki_dir = Path(env["CONNECTOR_HEALTH_CA_BUNDLE"]).parent
    issuers_proc, extra = scan_bench.start_issuers(pki_dir, 4, workdir)
    iam = boto3.client("iam")
    providers, shared = scan_bench.seed_providers(iam, env, extra)
    for i in range(roles):  # most roles flawed, every fifth flawless
        scan_bench.seed_roles(iam, providers, shared, i, 1, flawed=(i // 5) % 5 != 4)
    customer = {}
    for name, versions in CUSTOMER_POLICIES.items():
        arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(versions[0]))["Policy"]["Arn"]
        for document in versions[1:]:
            iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True)
        customer[name] = arn
    variety_arn, variety_url = providers[1]
    key = variety_url.removeprefix("https://")
    specs = []
    for name, (inline, aws_managed, customer_managed, boundary, spec) in PERMS_VARIETY.items():
        specs.append({"name": name, "audience": "bench-aud", **spec})
        if name == "pv-missing":
            continue
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": variety_arn}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{key}:aud": "bench-aud", f"{key}:sub": f"variety-{name}"}}}]}
        kwargs = {}
        if boundary:
            kwargs["PermissionsBoundary"] = customer.get(boundary) or f"arn:aws:iam::aws:policy/{boundary}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), **kwargs)
        for policy_name, document in inline.items():
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
        for policy in aws_managed:
            iam.attach_role_policy(RoleName=name, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
        for policy in customer_managed:
            iam.attach_role_policy(RoleName=name, PolicyArn=customer[policy])
    config = scan_bench.bench_config(yaml.safe_load(Path(env["CONNECTOR_HEALTH_CONFIG"]).read_text()), extra)
    config["connectors"].append({"name": "perms-variety", "preset": "generic", "issuer": variety_url,
                                 "audiences": ["bench-aud"], "roles": specs})
    path = workdir / "single.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, issuers_proc, env


def seed_org(workdir: Path, accounts: int) -> tuple[Path, dict]:
    import yaml

    from connector_health.sandbox import daemon

    env = daemon.up(workdir / "org", accounts=accounts)
    data = yaml.safe_load(Path(env["CONNECTOR_HEALTH_CONFIG"]).read_text())
    data["org"]["exchanges"] = False
    path = workdir / "org.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, env


# ---------------------------------------------------------------------------------------------- child
def collect(kind: str, config_path: str) -> list[dict]:
    """In a child process whose PYTHONPATH holds the engine under test: the findings of one input."""
    from connector_health.state.lifecycle import fingerprint

    findings = []
    if kind == "single":
        from connector_health.config import load_config
        from connector_health.engine import scan_account

        findings = scan_account(load_config(config_path)).findings
    elif kind == "org":
        from connector_health.config import load_config
        from connector_health.org import scan_organization

        findings = scan_organization(load_config(config_path), max_workers=2).findings
    elif kind == "corpus":
        import yaml

        from connector_health.trust.lint import lint_policy

        for path in sorted((ROOT / "tests" / "corpus").glob("*/*.yaml")):
            case = yaml.safe_load(path.read_text(encoding="utf-8"))
            lint = case.get("lint") or {}
            findings += lint_policy(json.dumps(case["policy"]), preset=lint.get("preset"), issuer=lint.get("issuer"),
                                    provider_audiences=lint.get("provider_audiences"), caller=lint.get("caller"),
                                    resource=case["id"])
    return sorted(({"check_id": f.check_id, "severity": f.severity.value, "connector": f.connector,
                    "account": f.account, "resource": f.resource_arn, "fingerprint": fingerprint(f),
                    "message": f.message} for f in findings), key=lambda f: (f["account"], f["connector"],
                                                                             f["check_id"], f["resource"],
                                                                             f["fingerprint"]))


def run_child(code: Path, kind: str, config_path: Path | None, env: dict) -> list[dict]:
    child_env = dict(env, PYTHONPATH=str(code / "lambdas"), BENCH_LAMBDAS=str(code / "lambdas"))
    out = subprocess.run([sys.executable, __file__, "--collect", kind, str(config_path or "-")], env=child_env,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} with {code} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- compare
def identity(finding: dict) -> tuple:
    return (finding["check_id"], finding["severity"], finding["connector"], finding["account"], finding["resource"],
            finding["fingerprint"])


def differences(old: list[dict], new: list[dict]) -> dict[str, list]:
    old_ids, new_ids = Counter(map(identity, old)), Counter(map(identity, new))
    old_messages = {identity(f): f["message"] for f in old}
    return {
        "only_old": sorted((old_ids - new_ids).elements()),
        "only_new": sorted((new_ids - old_ids).elements()),
        "message_changed": sorted((identity(f), old_messages[identity(f)], f["message"]) for f in new
                                  if identity(f) in old_messages and old_messages[identity(f)] != f["message"]),
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--collect":
        print(json.dumps(collect(sys.argv[2], sys.argv[3])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="fdc60ff", help="commit whose engine is the reference (default fdc60ff)")
    parser.add_argument("--base-code", type=Path, help="a checkout to use as the reference instead of --base")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout under test (default: this one)")
    parser.add_argument("--roles", type=int, default=300)
    parser.add_argument("--accounts", type=int, default=12)
    parser.add_argument("--only", nargs="+", choices=("single", "org", "corpus"), default=["single", "org", "corpus"])
    parser.add_argument("--json", type=Path, help="write every finding of both versions to this file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="connector-health-diff-"))
    base = args.base_code
    if base is None:
        base = workdir / "base"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
    code = args.code.resolve()
    from connector_health.sandbox import daemon

    results: dict[str, dict[str, list]] = {}
    for kind in args.only:
        issuers_proc = None
        try:
            env = dict(os.environ)
            config_path = None
            if kind == "single":
                config_path, issuers_proc, sandbox_env = seed_single(workdir, args.roles)
                env.update(sandbox_env)
            elif kind == "org":
                config_path, sandbox_env = seed_org(workdir, args.accounts)
                env.update(sandbox_env)
            results[kind] = {"base": run_child(base, kind, config_path, env),
                             "new": run_child(code, kind, config_path, env),
                             "base_again": run_child(base, kind, config_path, env)}
        finally:
            if issuers_proc is not None:
                issuers_proc.terminate()
                issuers_proc.wait(10)
            if kind in ("single", "org"):
                daemon.down(workdir / kind)
                for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_CLOUDTRAIL"):
                    os.environ.pop(name, None)

    print(f"findings diff: base {args.base_code or args.base} vs {code}")
    status = 0
    for kind, runs in results.items():
        unstable = differences(runs["base"], runs["base_again"])
        changed = differences(runs["base"], runs["new"])
        checks = Counter(f["check_id"] for f in runs["base"])
        print(f"{kind}: {len(runs['base'])} findings from the base, {len(runs['new'])} from the new code; "
              f"{len(checks)} checks: " + ", ".join(f"{k}={v}" for k, v in sorted(checks.items())))
        if any(unstable.values()):
            print(f"  the base differs between its two runs (not counted as a change): "
                  + ", ".join(f"{k} {len(v)}" for k, v in unstable.items()))
        for name, items in changed.items():
            stable = [i for i in items if i not in unstable[name]]
            if stable:
                status = 1
                print(f"  {name}: {len(stable)}")
                for item in stable[:20]:
                    print(f"    {item}")
        if not any(i for name, items in changed.items() for i in items if i not in unstable[name]):
            print("  identical (check, severity, connector, account, resource, fingerprint, message)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
