"""Measure a full `check` run against the sandbox at N roles and P providers, and the naive approach beside it.

    .venv/bin/python bench/scan_bench.py [--roles 100 1000 5000] [--runs 3] [--providers 5]   (`make bench`)

Processes: the sandbox (moto server, the local TLS issuer, the STS stand-in) runs in the background
(`sandbox.daemon`); the P-1 extra issuers run in a second helper process (same chain files, so their chains verify
and their thumbprint is the sandbox's); each measurement runs in a fresh child process, so its peak RSS is the
monitor's own (imports, snapshot, checks) and nothing of seeding or of earlier sizes.

Seed, per size N: N roles, spread round-robin over the P providers, each with a trust policy for its provider
(audience and identity pinned), an inline policy, and every tenth with a shared customer-managed policy
attached. Connectors: the sandbox's Defender connector (six audiences) plus P-1 `generic` connectors, one per
extra issuer, each naming one role. Every check is on, with TLS inspection and STS probes.

Measured per N: wall time of `scan_account` (median, min, max of `--runs`), IAM and STS calls by operation (a
botocore `before-call` hook on the session: one count per API call, retries not counted), TLS handshakes (the
inspector's counter), findings, peak RSS of the child; the naive collector on the same seed (ListRoles, then per
role GetRole / ListAttachedRolePolicies / ListRolePolicies / GetRolePolicy, and GetPolicy / GetPolicyVersion per
customer-managed policy attached, plus the OIDC providers), its calls and time. Once: the Lambda handler's cold
import (`python -X importtime -c "import handlers.scan"`, cumulative time of `handlers.scan`, median of 5).

Targets (issue 9): IAM+STS calls <= ceil(N/1000) + 2 x providers + probes + 5; 1,000 roles <= 4 s and 5,000 roles
<= 15 s median; peak RSS <= 256 MB at 5,000 roles; cold import <= 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lambdas"))

DEFENDER_AUD = "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479"
DEFENDER_SESSION = "MicrosoftDefenderForClouds_0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
INLINE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "ec2:Describe*"], "Resource": "*"}]}
SHARED_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["cloudtrail:LookupEvents", "logs:Describe*"], "Resource": "*"}]}


# ---------------------------------------------------------------------------------------------- extra issuers
class _ChainFiles:
    """What LocalIssuer needs of a PKI: the sandbox's chain and key files (so every issuer has its trusted chain)."""

    def __init__(self, directory: Path) -> None:
        self.cert_chain_path = directory / "server-chain.pem"
        self.key_path = directory / "server-key.pem"


def serve_issuers(pki_dir: Path, count: int, ready: Path) -> None:
    from connector_health.sandbox.issuer import LocalIssuer

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    issuers = [LocalIssuer(_ChainFiles(pki_dir), tenant=f"bench-issuer-{i}").start() for i in range(count)]
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(json.dumps([i.url for i in issuers]))
    tmp.replace(ready)
    stop.wait()
    for issuer in issuers:
        issuer.stop()


def start_issuers(pki_dir: Path, count: int, workdir: Path) -> tuple[subprocess.Popen, list[str]]:
    ready = workdir / "issuers.json"
    proc = subprocess.Popen([sys.executable, __file__, "--serve-issuers", str(pki_dir), str(count), str(ready)],
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the extra issuers did not start")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())


# ---------------------------------------------------------------------------------------------- seeding
def trust_policy(provider_arn: str, issuer_key: str, defender: bool, index: int) -> dict:
    if defender:
        cond = {f"{issuer_key}:aud": DEFENDER_AUD, "sts:RoleSessionName": DEFENDER_SESSION}
    else:
        cond = {f"{issuer_key}:aud": "bench-aud", f"{issuer_key}:sub": f"bench-app-{index}"}
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": cond}}]}


def seed_roles(iam, providers: list[tuple[str, str]], shared_arn: str, start: int, count: int) -> None:
    def one(i: int) -> None:
        arn, url = providers[i % len(providers)]
        name = f"bench-role-{i:05d}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
            trust_policy(arn, url.removeprefix("https://"), i % len(providers) == 0, i)))
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(INLINE))
        if i % 10 == 0:
            iam.attach_role_policy(RoleName=name, PolicyArn=shared_arn)

    for i in range(start, start + count):  # one at a time: moto's IAM backend is not thread-safe
        one(i)


def bench_config(base: dict, issuers: list[str]) -> dict:
    config = json.loads(json.dumps(base))
    for i, url in enumerate(issuers, start=1):
        config["connectors"].append({"name": f"bench-{i}", "preset": "generic", "issuer": url, "audiences": ["bench-aud"],
                                     "roles": [{"name": f"bench-role-{i:05d}", "audience": "bench-aud"}]})
    return config


# ---------------------------------------------------------------------------------------------- measurement (child)
def measure(config_path: str, runs: int, naive: bool) -> dict:
    import boto3

    from connector_health.config import load_config
    from connector_health.engine import scan_account

    config = load_config(config_path)
    session = boto3.session.Session()
    calls: Counter[str] = Counter()
    session.events.register("before-call", lambda model, **_: calls.update(
        [f"{model.service_model.service_name}:{model.name}"]))
    times, per_run_calls, last = [], [], None
    for _ in range(runs):
        calls.clear()
        t0 = time.perf_counter()
        last = scan_account(config, session=session)
        times.append(time.perf_counter() - t0)
        per_run_calls.append(dict(calls))
    out = {
        "times": times, "calls": per_run_calls[-1], "tls": last.stats.get("tls_handshakes"),
        "findings": len(last.findings), "roles": len(last.snapshot.roles),
        "probes": sum(1 for p in (last.stats.get("exchange") or {}).get("probes", []) if p.get("latency_ms") is not None
                      and not p.get("inherited_from")),
        "check_errors": [f.message for f in last.findings if f.check_id.startswith("MONITOR_")],
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if os.environ.get("BENCH_PROFILE"):  # one more run under cProfile, top functions to stderr
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(scan_account, config, session=session)
        stats = pstats.Stats(profile, stream=sys.stderr).sort_stats(os.environ["BENCH_PROFILE"])
        stats.print_stats(40)
    if naive:
        calls.clear()
        t0 = time.perf_counter()
        naive_collect(session)
        out["naive_seconds"] = time.perf_counter() - t0
        out["naive_calls"] = dict(calls)
    return out


def naive_collect(session) -> dict:
    """What a scanner without GetAccountAuthorizationDetails does: several reads per role."""
    from connector_health.collect.aws import BOTO_CONFIG

    iam = session.client("iam", config=BOTO_CONFIG)
    roles, versions = {}, {}
    for page in iam.get_paginator("list_roles").paginate():
        for item in page["Roles"]:
            name = item["RoleName"]
            role = iam.get_role(RoleName=name)["Role"]
            attached = [p for pg in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
                        for p in pg["AttachedPolicies"]]
            inline = {}
            for pg in iam.get_paginator("list_role_policies").paginate(RoleName=name):
                for policy_name in pg["PolicyNames"]:
                    inline[policy_name] = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
            for policy in attached:
                arn = policy["PolicyArn"]
                if ":aws:policy/" not in arn:  # the naive scanner reads every attached policy once per role
                    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                    versions[arn] = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
            roles[name] = (role, attached, inline)
    for entry in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=entry["Arn"])
    return roles


def run_child(config_path: Path, runs: int, naive: bool, env: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", str(config_path), str(runs), "1" if naive else "0"],
                         env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"measurement failed:\n{out.stderr[-3000:]}")
    if os.environ.get("BENCH_PROFILE"):
        sys.stderr.write(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_import(samples: int = 5) -> float:
    """Cumulative import time of `handlers.scan` in seconds (median), pyc files already compiled."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lambdas"))
    pattern = re.compile(r"import time:\s+\d+\s+\|\s+(\d+)\s+\|\s+handlers\.scan\s*$", re.M)
    values = []
    for i in range(samples + 1):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import handlers.scan"], env=env,
                             capture_output=True, text=True, check=True).stderr
        if i:  # the first run compiles the .pyc files
            values.append(int(pattern.search(err).group(1)) / 1e6)
    return statistics.median(values)


# ---------------------------------------------------------------------------------------------- main
def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-issuers":
        serve_issuers(Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--providers", type=int, default=5)
    parser.add_argument("--no-naive", action="store_true", help="skip the naive collector")
    parser.add_argument("--profile", metavar="SORT", help="print a cProfile of one more run per size (e.g. cumulative)")
    args = parser.parse_args()
    if args.profile:
        os.environ["BENCH_PROFILE"] = args.profile

    import boto3
    import yaml

    from connector_health.sandbox import daemon

    workdir = Path(tempfile.mkdtemp(prefix="connector-health-bench-"))
    env = daemon.up(workdir / "sandbox")
    os.environ.update(env)
    issuers_proc = None
    try:
        pki_dir = Path(env["CONNECTOR_HEALTH_CA_BUNDLE"]).parent
        issuers_proc, extra = start_issuers(pki_dir, args.providers - 1, workdir)
        iam = boto3.client("iam")
        first = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"][0]["Arn"]
        thumbprint = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=first)["ThumbprintList"][0]
        providers = [(first, env["CONNECTOR_HEALTH_ISSUER_URL"])]
        for url in extra:
            arn = iam.create_open_id_connect_provider(Url=url, ClientIDList=["bench-aud"],
                                                      ThumbprintList=[thumbprint])["OpenIDConnectProviderArn"]
            providers.append((arn, url))
        shared = iam.create_policy(PolicyName="bench-shared", PolicyDocument=json.dumps(SHARED_POLICY))["Policy"]["Arn"]
        config_path = workdir / "bench.yaml"
        base = yaml.safe_load(Path(env["CONNECTOR_HEALTH_CONFIG"]).read_text())
        config_path.write_text(yaml.safe_dump(bench_config(base, extra), sort_keys=False))

        child_env = dict(os.environ, PYTHONPATH=str(ROOT / "lambdas"))
        rows, seeded = [], 0
        for n in sorted(args.roles):
            seed_roles(iam, providers, shared, seeded, n - seeded)
            seeded = n
            rows.append((n, run_child(config_path, args.runs, not args.no_naive, child_env)))
        import_s = cold_import()
    finally:
        if issuers_proc:
            issuers_proc.terminate()
            issuers_proc.wait(10)
        daemon.down(workdir / "sandbox")

    print(f"connector-health scan bench: {os.cpu_count()} cores, {args.providers} providers, median of {args.runs} "
          f"runs per size, every check on (TLS inspection and STS probes included); sandbox in separate processes")
    head = (f"{'roles':>6} {'median s':>8} {'min-max s':>11} {'IAM+STS calls':>13} {'target':>6} {'TLS':>3} "
            f"{'findings':>8} {'peak RSS MB':>11} {'naive calls':>11} {'naive s':>8} {'calls ratio':>11} {'time ratio':>10}")
    print(head)
    print("-" * len(head))
    for n, r in rows:
        total = sum(r["calls"].values())
        target = math.ceil(n / 1000) + 2 * args.providers + r["probes"] + 5
        naive_calls = sum(r.get("naive_calls", {}).values())
        med = statistics.median(r["times"])
        spread = f"{min(r['times']):.2f}-{max(r['times']):.2f}"
        naive_s = r.get("naive_seconds")
        print(f"{n:>6} {med:>8.2f} {spread:>11} {total:>13} {target:>6} {r['tls']:>3} {r['findings']:>8} "
              f"{r['rss_mb']:>11.0f} {naive_calls or '-':>11} {f'{naive_s:.1f}' if naive_s else '-':>8} "
              f"{f'{naive_calls / total:.0f}x' if naive_calls else '-':>11} "
              f"{f'{naive_s / med:.1f}x' if naive_s else '-':>10}")
    print("-" * len(head))
    print(f"handler cold import (python -X importtime -c 'import handlers.scan', median of 5): {import_s:.3f} s")
    for n, r in rows:
        print(f"calls at {n}: " + ", ".join(f"{k}={v}" for k, v in sorted(r["calls"].items())))
        if r["check_errors"]:
            print(f"  monitor findings at {n}: " + " | ".join(m[:120] for m in r["check_errors"]))


if __name__ == "__main__":
    main()
