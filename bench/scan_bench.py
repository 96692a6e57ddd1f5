"""Measure `check` against the sandbox at N roles over P providers: the scan phase, the end-to-end CLI, peak RSS.

    .venv/bin/python bench/scan_bench.py [--roles 20 1000 5000] [--runs 5] [--providers 5] [--profile 25]
                                         [--clean] [--naive] [--table] [--code DIR] [--json FILE]

Processes: the sandbox (moto server, the local TLS issuer, the STS stand-in) runs in this process's threads; the
P-1 extra issuers run in a helper process (same chain files, so their chains verify and their thumbprint is the
sandbox's). Every measurement runs in a fresh child process, so its time includes the imports and the caches start
empty, and its peak RSS is the monitor's own (nothing of the sandbox, of seeding or of earlier sizes). Before each
measurement the emulated CloudTrail is put back as seeded (the Defender connector's one recent call): otherwise the
probes of every earlier run pile up in the window `check` reads, and each further page of LookupEvents adds the
quota's pause (0.56 s, see README "Live exchanges") to whatever run comes later.

Seed, per size N: N roles spread round-robin over the P providers, each with an inline policy, every tenth with a
shared customer-managed policy attached. By default every role carries a trust-policy flaw, so that every role has
findings (about 1.5 per role): roles of the Defender provider admit any session name (`MicrosoftDefenderForClouds_*`,
the same document for all of them: TRUST_SUBJECT_UNRESTRICTED and TRUST_FOREIGN_IDENTITY_ADMITTED); two in three of
the other roles also allow `sts:AssumeRole` (TRUST_UNEXPECTED_ACTION) and the third pins its subject with
`ForAllValues:StringEquals` (TRUST_FORALLVALUES_ALLOW, TRUST_EXPECTED_IDENTITY_DENIED); their subjects differ per
role (`bench-app-<i>`), so their documents are all distinct. `--clean` seeds flawless roles instead (issue 9's seed).
Connectors: the sandbox's Defender connector (six audiences, every plan, ReadOnlyAccess on two roles) plus P-1
`generic` connectors, one per extra issuer, each naming one role. Every check is on, with TLS inspection, STS probes
and the CloudTrail read.

Measured per N and run (`--runs` fresh children of each kind, interleaved; median and min-max reported):
- scan phase: `scan_account` in a fresh process (wall and CPU of the process; the imports are reported apart);
- end-to-end: `connector-health check --format json` (and `--format table` with `--table`) as a fresh process,
  output to a file: wall, CPU (user+sys of the child, from wait4) and peak RSS (the child's VmHWM);
- once per N: IAM and STS calls by operation (a botocore `before-call` hook: one count per API call, retries not
  counted), TLS handshakes, findings by check, and with `--profile K` the K functions with the most own time of one
  more scan under cProfile (cProfile slows the scan down about 2x; read the shares, not the seconds).
- with `--naive`: the naive collector on the same seed (ListRoles, then per role GetRole / ListAttachedRolePolicies /
  ListRolePolicies / GetRolePolicy, and GetPolicy / GetPolicyVersion per customer-managed policy attached).
Once: the cold import of the Lambda handler and of what `check` imports (`python -X importtime`, median of 5).

`--code DIR` measures the engine of another checkout (its `lambdas/` on the children's PYTHONPATH), e.g. a
`git archive` of an older commit, against the same sandbox and seed: before/after comparisons on one machine.
The machine's load average is printed before and after: other work on the machine inflates wall times, CPU times
much less.

Targets (issue 18, quiet machine, median): 20 roles end-to-end <= 1.2 s; 1,000 roles with findings: scan phase
<= 1.5 s and end-to-end <= 2.5 s; 5,000 roles <= 6 s within 160 MB. API calls (issue 9): IAM+STS calls <=
ceil(N/1000) + 2 x providers + probes + 5.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
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
# Children measure the engine of `--code` (BENCH_LAMBDAS); the sandbox and the issuers always run this checkout's.
sys.path.insert(0, os.environ.get("BENCH_LAMBDAS") or str(ROOT / "lambdas"))

DEFENDER_AUD = "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479"
DEFENDER_SESSION = "MicrosoftDefenderForClouds_0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
INLINE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "ec2:Describe*"], "Resource": "*"}]}
SHARED_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["cloudtrail:LookupEvents", "logs:Describe*"], "Resource": "*"}]}
# The CLI as a fresh process that writes its peak RSS (VmHWM: the peak of this program's own memory; ru_maxrss of a
# child would also count the pages it shared with this large process between fork and exec) to BENCH_PEAK_FILE.
CLI = ("import atexit, os, sys; atexit.register(lambda: open(os.environ['BENCH_PEAK_FILE'], 'w').write("
       "next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])); "
       "from connector_health.cli import main; sys.exit(main())")


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM), in MB."""
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) / 1024


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
def trust_policy(provider_arn: str, issuer_key: str, defender: bool, index: int, flawed: bool = False) -> dict:
    """The role's trust policy: pinned to its provider's audience and to one caller, or with one flaw (module
    docstring) when `flawed`."""
    action: str | list[str] = "sts:AssumeRoleWithWebIdentity"
    if defender:
        cond = {"StringEquals": {f"{issuer_key}:aud": DEFENDER_AUD}}
        if flawed:
            cond["StringLike"] = {"sts:RoleSessionName": "MicrosoftDefenderForClouds_*"}
        else:
            cond["StringEquals"]["sts:RoleSessionName"] = DEFENDER_SESSION
    else:
        pins = {f"{issuer_key}:aud": "bench-aud", f"{issuer_key}:sub": f"bench-app-{index}"}
        cond = {"StringEquals": pins}
        if flawed and (index // 5) % 3 == 2:
            cond = {"StringEquals": {f"{issuer_key}:aud": "bench-aud"},
                    "ForAllValues:StringEquals": {f"{issuer_key}:sub": f"bench-app-{index}"}}
        elif flawed:
            action = ["sts:AssumeRoleWithWebIdentity", "sts:AssumeRole"]
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": action, "Condition": cond}]}


def seed_roles(iam, providers: list[tuple[str, str]], shared_arn: str, start: int, count: int,
               flawed: bool = False) -> None:
    for i in range(start, start + count):  # one at a time: moto's IAM backend is not thread-safe
        arn, url = providers[i % len(providers)]
        name = f"bench-role-{i:05d}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
            trust_policy(arn, url.removeprefix("https://"), i % len(providers) == 0, i, flawed)))
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(INLINE))
        if i % 10 == 0:
            iam.attach_role_policy(RoleName=name, PolicyArn=shared_arn)


def seed_providers(iam, env: dict[str, str], extra: list[str]) -> tuple[list[tuple[str, str]], str]:
    """The sandbox's provider plus one provider per extra issuer (same chain, so the sandbox's thumbprint), and the
    shared customer-managed policy: (provider ARN, issuer URL) pairs and the policy's ARN, for `seed_roles`."""
    first = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"][0]["Arn"]
    thumbprint = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=first)["ThumbprintList"][0]
    providers = [(first, env["CONNECTOR_HEALTH_ISSUER_URL"])]
    for url in extra:
        arn = iam.create_open_id_connect_provider(Url=url, ClientIDList=["bench-aud"],
                                                  ThumbprintList=[thumbprint])["OpenIDConnectProviderArn"]
        providers.append((arn, url))
    shared = iam.create_policy(PolicyName="bench-shared", PolicyDocument=json.dumps(SHARED_POLICY))["Policy"]["Arn"]
    return providers, shared


def bench_config(base: dict, issuers: list[str]) -> dict:
    config = json.loads(json.dumps(base))
    for i, url in enumerate(issuers, start=1):
        config["connectors"].append({"name": f"bench-{i}", "preset": "generic", "issuer": url, "audiences": ["bench-aud"],
                                     "roles": [{"name": f"bench-role-{i:05d}", "audience": "bench-aud"}]})
    return config


def fresh_trail(sandbox) -> None:
    """The emulated CloudTrail as seeded: the Defender connector's one recent call, nothing of earlier runs."""
    from connector_health.sandbox.account import defender_history

    seeded = sandbox.seeded
    sandbox.sts.trail.reset()
    sandbox.sts.trail.record(defender_history(seeded["account"], seeded["provider_arn"], seeded["roles"],
                                              sandbox.issuer.url, sandbox.sts.trail_region, sandbox.token_client_id))


# ---------------------------------------------------------------------------------------------- children
def measure(config_path: str, mode: str) -> dict:
    """In a fresh process: one scan (`mode` "scan"), one scan under cProfile ("profile"), or the naive collector."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    import boto3

    from connector_health.config import load_config
    from connector_health.engine import scan_account

    import_s = time.perf_counter() - wall0
    config = load_config(config_path)
    session = boto3.session.Session()
    calls: Counter[str] = Counter()
    session.events.register("before-call", lambda model, **_: calls.update(
        [f"{model.service_model.service_name}:{model.name}"]))
    if mode == "naive":
        t0 = time.perf_counter()
        naive_collect(session)
        return {"naive_seconds": time.perf_counter() - t0, "naive_calls": dict(calls)}
    if mode == "profile":
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(scan_account, config, session=session)
        stats = pstats.Stats(profile)
        total = sum(row[2] for row in stats.stats.values())
        rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:int(os.environ["BENCH_TOP"])]
        return {"profile_total": total, "profile": [
            {"function": f"{Path(file).name}:{line}({name})", "calls": row[1], "own_s": row[2], "cumulative_s": row[3]}
            for (file, line, name), row in rows]}
    t0, c0 = time.perf_counter(), time.process_time()
    result = scan_account(config, session=session)
    scan_wall, scan_cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "import_s": import_s, "scan_s": scan_wall, "scan_cpu_s": scan_cpu,
        "process_cpu_s": time.process_time() - cpu0, "calls": dict(calls), "tls": result.stats.get("tls_handshakes"),
        "findings": len(result.findings), "roles": len(result.snapshot.roles),
        "flawed_roles": len({f.resource_arn for f in result.findings if "/bench-role-" in f.resource_arn}),
        "by_check": dict(Counter(f.check_id for f in result.findings)),
        "probes": sum(1 for p in (result.stats.get("exchange") or {}).get("probes", [])
                      if p.get("latency_ms") is not None and not p.get("inherited_from")),
        "check_errors": [f.message for f in result.findings if f.check_id.startswith("MONITOR_")],
        "rss_mb": peak_rss_mb(),
    }


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


def child_env(code: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(code / "lambdas"), BENCH_LAMBDAS=str(code / "lambdas"))


def run_measure(config_path: Path, mode: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", str(config_path), mode],
                         env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_cli(config_path: Path, fmt: str, env: dict, workdir: Path) -> dict:
    """`connector-health check` as a fresh process: wall, CPU (user+sys) and peak RSS from wait4."""
    out_path, peak_path = workdir / f"check.{fmt}", workdir / "check.peak"
    peak_path.unlink(missing_ok=True)
    with open(out_path, "wb") as out, open(workdir / "check.err", "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", CLI, "check", "--config", str(config_path), "--format", fmt,
                                 "--fail-on", "critical"], env=dict(env, BENCH_PEAK_FILE=str(peak_path)),
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"check exited {proc.returncode}: {(workdir / 'check.err').read_text()[-2000:]}")
    findings = len(json.loads(out_path.read_text())["findings"]) if fmt == "json" else None
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": int(peak_path.read_text()) / 1024,
            "findings": findings}


_IMPORT_LINE = re.compile(r"import time:\s+\d+\s+\|\s+(\d+)\s+\| ( *)(\S+)\s*$", re.M)


def cold_import(code: Path, statement: str, samples: int = 5) -> float:
    """Import time in seconds (median of `samples`; sum of the top-level cumulative times of `python -X importtime`),
    .pyc files already compiled."""
    env = child_env(code)
    values = []
    for i in range(samples + 1):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], env=env,
                             capture_output=True, text=True, check=True).stderr
        if i:  # the first run compiles the .pyc files
            values.append(sum(int(m.group(1)) for m in _IMPORT_LINE.finditer(err) if not m.group(2)) / 1e6)
    return statistics.median(values)


# ---------------------------------------------------------------------------------------------- report
def spread(values: list[float], digits: int = 2) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def report(args: argparse.Namespace, rows: list[tuple[int, dict]], imports: dict[str, float],
           load: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
    print(f"connector-health scan bench: {os.cpu_count()} cores, {args.providers} providers, "
          f"{'flawless roles' if args.clean else 'a trust flaw on every role'}, {args.runs} fresh processes per "
          f"measure, median (min-max); every check on (TLS inspection, STS probes, CloudTrail); sandbox outside the "
          f"measured processes; code: {args.code}")
    print(f"load average (1/5/15 min) before: {' '.join(f'{x:.2f}' for x in load[0])}, "
          f"after: {' '.join(f'{x:.2f}' for x in load[1])}")
    head = (f"{'roles':>6} {'findings':>8} {'scan s':>17} {'scan cpu s':>17} {'check s':>17} {'check cpu s':>17} "
            f"{'check RSS MB':>15} {'calls':>5} {'target':>6}")
    print(head)
    print("-" * len(head))
    for n, r in rows:
        scans, clis = r["scans"], r["cli_json"]
        total = sum(scans[-1]["calls"].get(k, 0) for k in scans[-1]["calls"] if k.split(":")[0] in ("iam", "sts"))
        target = math.ceil(n / 1000) + 2 * args.providers + scans[-1]["probes"] + 5
        print(f"{n:>6} {scans[-1]['findings']:>8} {spread([s['scan_s'] for s in scans]):>17} "
              f"{spread([s['scan_cpu_s'] for s in scans]):>17} {spread([c['wall_s'] for c in clis]):>17} "
              f"{spread([c['cpu_s'] for c in clis]):>17} {spread([c['rss_mb'] for c in clis], 0):>15} "
              f"{total:>5} {target:>6}")
    print("-" * len(head))
    for n, r in rows:
        scans = r["scans"]
        print(f"at {n}: imports before the scan {spread([s['import_s'] for s in scans])} s; scan child peak RSS "
              f"{spread([s['rss_mb'] for s in scans], 0)} MB; roles with findings {scans[-1]['flawed_roles']} of "
              f"{n} bench roles")
        if r.get("cli_table"):
            t = r["cli_table"]
            print(f"  check --format table: {spread([c['wall_s'] for c in t])} s, cpu "
                  f"{spread([c['cpu_s'] for c in t])} s, peak RSS {spread([c['rss_mb'] for c in t], 0)} MB")
        print("  calls: " + ", ".join(f"{k}={v}" for k, v in sorted(scans[-1]["calls"].items())))
        print("  findings: " + ", ".join(f"{k}={v}" for k, v in sorted(scans[-1]["by_check"].items())))
        if scans[-1]["check_errors"]:
            print("  monitor findings: " + " | ".join(m[:120] for m in scans[-1]["check_errors"]))
        if "naive" in r:
            naive = r["naive"]
            calls = sum(naive["naive_calls"].values())
            print(f"  naive collector: {calls} calls in {naive['naive_seconds']:.1f} s")
        if "profile" in r:
            prof = r["profile"]
            print(f"  profile of one scan (cProfile, {prof['profile_total']:.2f} s of own time; top by own time):")
            for row in prof["profile"]:
                print(f"    {row['own_s']:7.3f} s own {100 * row['own_s'] / prof['profile_total']:5.1f}%  "
                      f"{row['cumulative_s']:7.3f} s cum  {row['calls']:>9} calls  {row['function']}")
    for name, value in imports.items():
        print(f"cold import (python -X importtime, median of 5) {name}: {value:.3f} s")


# ---------------------------------------------------------------------------------------------- main
def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-issuers":
        serve_issuers(Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, nargs="+", default=[20, 1000, 5000])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per measure and size (default 5)")
    parser.add_argument("--providers", type=int, default=5)
    parser.add_argument("--clean", action="store_true", help="flawless roles (no findings on the bench roles)")
    parser.add_argument("--naive", action="store_true", help="also run the naive collector once per size")
    parser.add_argument("--no-naive", action="store_true", help=argparse.SUPPRESS)  # the default now
    parser.add_argument("--table", action="store_true", help="also measure `check --format table`")
    parser.add_argument("--profile", type=int, default=0, metavar="K",
                        help="print the K functions with the most own time of one more scan per size (cProfile)")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose engine is measured (default: this one)")
    parser.add_argument("--json", type=Path, help="also write the raw measurements to this file")
    args = parser.parse_args()
    args.code = args.code.resolve()
    load_before = os.getloadavg()

    import boto3
    import yaml

    from connector_health.sandbox import Sandbox

    workdir = Path(tempfile.mkdtemp(prefix="connector-health-bench-"))
    sandbox = Sandbox(workdir / "sandbox").start()
    env = sandbox.env()
    os.environ.update(env)
    issuers_proc = None
    try:
        pki_dir = Path(env["CONNECTOR_HEALTH_CA_BUNDLE"]).parent
        issuers_proc, extra = start_issuers(pki_dir, args.providers - 1, workdir)
        iam = boto3.client("iam")
        providers, shared = seed_providers(iam, env, extra)
        config_path = workdir / "bench.yaml"
        base = yaml.safe_load(Path(env["CONNECTOR_HEALTH_CONFIG"]).read_text())
        config_path.write_text(yaml.safe_dump(bench_config(base, extra), sort_keys=False))

        cenv = child_env(args.code)
        # .pyc files compiled before anything is measured (as a layer ships them; no child pays for compiling)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(args.code / "lambdas")], check=True)
        if args.profile:
            cenv["BENCH_TOP"] = str(args.profile)
        rows, seeded = [], 0
        for n in sorted(args.roles):
            seed_roles(iam, providers, shared, seeded, n - seeded, flawed=not args.clean)
            seeded = n
            row: dict = {"scans": [], "cli_json": [], "cli_table": []}
            for _ in range(args.runs):  # interleaved, so that a burst of load touches every kind alike
                fresh_trail(sandbox)
                row["scans"].append(run_measure(config_path, "scan", cenv))
                fresh_trail(sandbox)
                row["cli_json"].append(run_cli(config_path, "json", cenv, workdir))
                if args.table:
                    fresh_trail(sandbox)
                    row["cli_table"].append(run_cli(config_path, "table", cenv, workdir))
            if args.profile:
                fresh_trail(sandbox)
                row["profile"] = run_measure(config_path, "profile", cenv)
            if args.naive:
                row["naive"] = run_measure(config_path, "naive", cenv)
            rows.append((n, row))
        imports = {
            "handlers.scan": cold_import(args.code, "import handlers.scan"),
            "what `check` imports (cli, config, engine, output)": cold_import(
                args.code, "import connector_health.cli, connector_health.config, connector_health.engine, "
                           "connector_health.output"),
        }
    finally:
        if issuers_proc:
            issuers_proc.terminate()
            issuers_proc.wait(10)
        sandbox.stop()
    report(args, rows, imports, (load_before, os.getloadavg()))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "imports": imports, "code": str(args.code)}, indent=1))


if __name__ == "__main__":
    main()
