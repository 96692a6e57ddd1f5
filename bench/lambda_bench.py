"""Measure the functions as the python3.12 runtime runs them (lambda_runtime/): cold import per handler, and the
scan function's peak memory and duration at N roles.

    .venv/bin/python bench/lambda_bench.py [--runs 7] [--roles 1000 5000] [--no-memory]   (part of `make bench`)

Needs `make layer lambda-runtime` and Python 3.12. Every sample is a fresh process (`python3.12 -I -S -B`) whose
import path is only the staged code asset, the layer's python/ and the runtime's boto3, as on Lambda.

Cold import: the time the bootstrap spends importing the handler module (what Lambda's init phase spends on it):
wall time, median and min-max of --runs fresh processes per handler, and the median CPU time (less disturbed by
other work on a shared machine), for:
- `layer .pyc`: the layer as `make layer` builds it (compiled by python3.12, unchecked-hash) and the code asset as
  synth stages it (sources only);
- `no .pyc`: the same layer without its __pycache__ directories: what a layer built without compiling costs at
  every cold start, since /opt is read-only and nothing can be cached there;
- `layer + asset .pyc`: the code asset compiled the same way too.

Memory: the sandbox (moto, local issuer, STS stand-in) runs in the background with N roles seeded as
bench/scan_bench.py seeds them (5 providers, every check on, TLS inspection and probes included); the scan handler
runs in one execution environment, invoked --invocations times (the first is the cold one); reported: Lambda's
"Max Memory Used" (the process's peak RSS, VmHWM) after each, and the duration.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]
# stacks.assets (the asset staging synth uses) imports aws-cdk-lib, whose Node.js banner is noise here.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,19,20,21")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

from lambda_runtime.emulator import FunctionSpec, LambdaProcess  # noqa: E402
from lambda_runtime.interpreter import find_python  # noqa: E402

LAYER = ROOT / "build" / "layer" / "python"
RUNTIME = ROOT / "build" / "lambda-runtime" / "python"
HANDLERS = ("handlers.scan.handler", "handlers.fanout.handler", "handlers.worker.handler")
POWERTOOLS = {"CONNECTOR_HEALTH_CONFIG": "connector-health.json", "POWERTOOLS_SERVICE_NAME": "connector-health",
              "POWERTOOLS_METRICS_NAMESPACE": "ConnectorHealth", "POWERTOOLS_LOG_LEVEL": "INFO"}


def spec(handler: str, code: Path, environment: dict[str, str], memory_mb: int = 512) -> FunctionSpec:
    return FunctionSpec(logical_id=handler.split(".")[1], handler=handler, runtime="python3.12", memory_mb=memory_mb,
                        timeout_s=300, environment={**POWERTOOLS, **environment}, code_path=code, layers=[],
                        architecture="x86_64", tracing="Active", function_name=f"bench-{handler.split('.')[1]}")


def stage_asset(config_path: Path, dest: Path) -> Path:
    from connector_health.config import load_config
    from stacks.assets import stage_lambda_asset

    return stage_lambda_asset(load_config(config_path), dest)


def compiled_copy(source: Path, dest: Path, python: Path) -> Path:
    shutil.copytree(source, dest, symlinks=True)
    subprocess.run([str(python), "-s", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
                    str(dest)], check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    return dest


def without_pyc(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def cold_imports(python: Path, task_root: Path, layer: Path, runs: int, work: Path) -> dict[str, list[tuple]]:
    """{handler: [(wall s, cpu s), ...]}"""
    out: dict[str, list[tuple]] = {}
    for handler in HANDLERS:
        samples = []
        for i in range(runs):
            process = LambdaProcess.start(spec(handler, task_root, {"ACCOUNT_QUEUE_URL": "http://127.0.0.1:9/q"}),
                                          task_root=task_root, layers=[layer], runtime_dir=RUNTIME, extra_env={},
                                          bindings={}, region="us-east-1", work_dir=work / f"{handler}-{i}",
                                          python=python)
            init = process.init
            process.close()
            if init["error"]:
                raise RuntimeError(f"{handler}: {init['error']['errorType']}: {init['error']['errorMessage']}")
            samples.append((init["import_ms"] / 1000, init["import_cpu_ms"] / 1000))
        out[handler] = samples
    return out


def _scan_bench():
    spec_ = importlib.util.spec_from_file_location("scan_bench", ROOT / "bench" / "scan_bench.py")
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    return module


def memory(python: Path, roles: list[int], invocations: int, work: Path) -> list[tuple[int, list[dict]]]:
    import boto3
    import yaml

    from connector_health.sandbox import FAKE_CREDENTIALS, daemon
    from stacks.assets import write_config

    bench = _scan_bench()
    env = daemon.up(work / "sandbox")
    saved = dict(os.environ)
    os.environ.update(env)
    issuers_proc = None
    rows = []
    try:
        pki_dir = Path(env["CONNECTOR_HEALTH_CA_BUNDLE"]).parent
        issuers_proc, extra = bench.start_issuers(pki_dir, 4, work)
        iam = boto3.client("iam")
        providers, shared = bench.seed_providers(iam, env, extra)
        base = yaml.safe_load(Path(env["CONNECTOR_HEALTH_CONFIG"]).read_text())
        data = bench.bench_config(base, extra)
        state = data.pop("state")
        from connector_health.config import parse_config

        task_root = stage_asset(ROOT / "connector-health.example.yaml", work / "scan-task")
        write_config(parse_config(data), task_root)
        lambda_env = {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"],
                      "AWS_ENDPOINT_URL_STS": env["AWS_ENDPOINT_URL_STS"], "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:9"}
        lambda_env.pop("AWS_DEFAULT_REGION")
        seeded = 0
        dynamodb = boto3.client("dynamodb")
        for n in sorted(roles):
            bench.seed_roles(iam, providers, shared, seeded, n - seeded)
            seeded = n
            # A fresh state table per size: each size starts with its own baseline (the roles added since the
            # previous size would otherwise all be TRUST_DRIFT "new role" changes in one alert).
            table = f"{state['table_name']}-{n}"
            dynamodb.create_table(
                TableName=table, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
            function = spec("handlers.scan.handler", task_root,
                            {"STATE_TABLE": table, "ALERT_TOPIC_ARN": state["topic_arn"]})
            process = LambdaProcess.start(function, task_root=task_root, layers=[LAYER], runtime_dir=RUNTIME,
                                          extra_env=lambda_env, bindings={}, region="us-east-1",
                                          work_dir=work / f"scan-{n}", python=python)
            # A failed invocation is reported with its error (its memory figure still covers the scan it ran).
            answers = [process.invoke({"id": f"bench-{n}-{i}", "source": "aws.events"}).answer
                       for i in range(invocations)]
            process.close()
            rows.append((n, answers))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if issuers_proc:
            issuers_proc.terminate()
            issuers_proc.wait(10)
        daemon.down(work / "sandbox")
    return rows


def _stats(samples: list[tuple]) -> str:
    wall, cpu = [s[0] for s in samples], [s[1] for s in samples]
    return f"{statistics.median(wall):.2f} s ({min(wall):.2f}-{max(wall):.2f}), cpu {statistics.median(cpu):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per handler and variant")
    parser.add_argument("--roles", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--invocations", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="cold import only (no sandbox)")
    parser.add_argument("--no-imports", action="store_true", help="memory only")
    args = parser.parse_args()
    python = find_python("3.12")
    work = Path(tempfile.mkdtemp(prefix="connector-health-lambda-bench-"))
    try:
        asset = stage_asset(ROOT / "connector-health.example.yaml", work / "asset")
        variants = {
            "layer .pyc": (asset, LAYER),
            "no .pyc": (asset, without_pyc(LAYER, work / "layer-no-pyc")),
            "layer + asset .pyc": (compiled_copy(asset, work / "asset-pyc", python), LAYER),
        }
        imports = {} if args.no_imports else {
            name: cold_imports(python, task, layer, args.runs, work / name.replace(" ", "-"))
            for name, (task, layer) in variants.items()}
        version = subprocess.run([str(python), "-c", "import sys; print(sys.version.split()[0])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        print(f"connector-health Lambda bench: Python {version}, {os.cpu_count()} cores, code asset + build/layer + "
              f"runtime boto3 only (lambda_runtime/), {time.strftime('%Y-%m-%d')}")
        print(f"cold import of the handler module: wall median (min-max), cpu median; {args.runs} fresh processes each")
        head = f"{'handler':<26}" + "".join(f"{name:>34}" for name in variants)
        print(head)
        print("-" * len(head))
        for handler in HANDLERS if imports else ():
            print(f"{handler:<26}" + "".join(f"{_stats(imports[name][handler]):>34}" for name in variants))
        sys.stdout.flush()
        rows = [] if args.no_memory else memory(python, args.roles, args.invocations, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for n, answers in rows:
        mem = [a["max_memory_used_mb"] for a in answers]
        durations = [a["duration_ms"] / 1000 for a in answers]
        print(f"scan at {n} roles (5 providers, every check on): Max Memory Used after each of {len(answers)} "
              f"invocations {mem} MB; duration {', '.join(f'{d:.2f}' for d in durations)} s (first is cold)")
        for i, answer in enumerate(answers):
            if "errorType" in answer:
                print(f"  invocation {i + 1} FAILED: {answer['errorType']}: {answer['errorMessage'][:200]}")


if __name__ == "__main__":
    main()
