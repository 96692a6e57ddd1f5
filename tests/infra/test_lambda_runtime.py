"""The Lambda-faithful tier: the synthesised functions, run the way the python3.12 runtime runs them.

Each function runs in its own Python 3.12 process (the interpreter its template `Runtime` names) whose import path
is only its code asset as CDK staged it, the real dependency layer (`make layer`, the .pyc included) and a boto3
standing for the runtime's own (`make lambda-runtime`, older than our pin); the standard library aside, nothing
of the virtualenv or of this machine is importable. Its handler is the template's `Handler`, its environment the
template's variables (the `Ref`s to the table, topic and queue bound to the sandbox's) plus the runtime's own
(AWS_LAMBDA_FUNCTION_NAME, AWS_REGION, _X_AMZN_TRACE_ID, LAMBDA_TASK_ROOT, AWS_EXECUTION_ENV, ...), pointed at
the sandbox (AWS_ENDPOINT_URL). Tracing is on as deployed; a UDP socket stands for the X-Ray daemon.

The sandbox is the test process's (tests/conftest.py); each function is one process for the module, invoked warm
as Lambda reuses an execution environment. The functions come from the hub template of the shared synthesis
(its scan function is the single-account stack's), with the configuration file of their asset replaced by one for
the sandbox account. A missing Python 3.12, layer or runtime boto3 fails with one line: this tier never skips.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from connector_health.config import parse_config
from connector_health.sandbox import FAKE_CREDENTIALS
from connector_health.sandbox.account import trust_policy
from lambda_runtime.emulator import (ENVIRONMENT_LIMIT_BYTES, RESERVED_VARIABLES, FunctionSpec, LambdaProcess,
                                     XRayDaemon, functions_in, stage_task_root)
from lambda_runtime.interpreter import InterpreterNotFound, find_python
from stacks.assets import LAYER_STAMP, LayerNotBuilt, check_layer, requirements_digest, write_config

from .conftest import HUB, REPO

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("lambda-runtime")]

LAYER_DIR = REPO / "build" / "layer"
RUNTIME_DIR = REPO / "build" / "lambda-runtime"
RUNTIME_REQUIREMENTS = REPO / "layer" / "lambda-runtime.txt"
SCAN, FANOUT, WORKER = "handlers.scan.handler", "handlers.fanout.handler", "handlers.worker.handler"
ORG_ACCOUNTS = 3  # member 1 healthy, 2 a wildcard principal, 3 a stale thumbprint (sandbox/org.py)
ORG_PLANS = ["agentless-scanning", "servers"]


# ------------------------------------------------------------------ what the functions run with
@pytest.fixture(scope="module")
def python312(synth) -> Path:
    runtimes = {spec.python_version for spec in functions_in(synth.templates[HUB], synth.outdir, HUB).values()}
    assert runtimes == {"3.12"}, runtimes
    try:
        return find_python("3.12")
    except InterpreterNotFound as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def layer_python() -> Path:
    try:
        return check_layer(LAYER_DIR) / "python"
    except LayerNotBuilt as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def runtime_python() -> Path:
    stamp = RUNTIME_DIR / LAYER_STAMP
    if not stamp.is_file() or stamp.read_text().strip() != requirements_digest(RUNTIME_REQUIREMENTS):
        pytest.fail(f"the runtime's boto3 in {RUNTIME_DIR} is missing or out of date: run `make lambda-runtime`",
                    pytrace=False)
    return RUNTIME_DIR / "python"


@pytest.fixture(scope="module")
def hub_functions(synth) -> dict[str, FunctionSpec]:
    return {spec.handler: spec for spec in functions_in(synth.templates[HUB], synth.outdir, HUB).values()}


@pytest.fixture(scope="module")
def xray():
    daemon = XRayDaemon()
    yield daemon
    daemon.close()


@pytest.fixture(scope="module")
def lambda_sandbox(sandbox_session):
    sandbox_session.restore()
    yield sandbox_session
    sandbox_session.restore()


def bindings_for(spec: FunctionSpec, template: dict, sandbox) -> dict[str, str]:
    """The sandbox resource standing for each resource the function's environment refers to."""
    out = {}
    for name, value in spec.environment.items():
        if not isinstance(value, dict):
            continue
        logical_id = value.get("Ref")
        kind = template["Resources"][logical_id]["Type"]
        if kind == "AWS::DynamoDB::Table":
            out[logical_id] = sandbox.seeded["state_table"]
        elif kind == "AWS::SNS::Topic":
            out[logical_id] = sandbox.seeded["chat_topic_arn" if name == "CHAT_TOPIC_ARN" else "alert_topic_arn"]
        elif kind == "AWS::SQS::Queue":
            out[logical_id] = sandbox.client("sqs").create_queue(QueueName=logical_id)["QueueUrl"]
    return out


def sandbox_config(sandbox, **changes) -> dict:
    """The sandbox's configuration as a deployed function holds it: no state table or topic in the file (they come
    from the template's environment), a relative CA bundle."""
    data = sandbox.config_dict()
    data["state"] = {"retention_days": 30}
    for key, value in changes.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return data


@pytest.fixture(scope="module")
def start_function(synth, python312, layer_python, runtime_python, xray, tmp_path_factory):
    """start(handler, sandbox, config_data, layer=...) -> a running LambdaProcess (closed after the module)."""
    started: list[LambdaProcess] = []
    template = synth.templates[HUB]
    functions = {spec.handler: spec for spec in functions_in(template, synth.outdir, HUB).values()}

    def start(handler: str, sandbox, config_data: dict, layer: Path | None = None) -> LambdaProcess:
        spec = functions[handler]
        work = tmp_path_factory.mktemp(handler.split(".")[1])
        task_root = stage_task_root(spec, work / "task")
        write_config(parse_config(config_data), task_root)
        # The sandbox's endpoints (STS and CloudTrail's LookupEvents are the stand-in's), as `sandbox up` exports them.
        endpoints = {k: v for k, v in sandbox.env().items() if k.startswith("AWS_ENDPOINT_URL")}
        env = {**FAKE_CREDENTIALS, **endpoints, **xray.env()}
        env.pop("AWS_DEFAULT_REGION")  # the runtime's own (the function's region)
        process = LambdaProcess.start(spec, task_root=task_root, layers=[layer or layer_python],
                                      runtime_dir=runtime_python, extra_env=env,
                                      bindings=bindings_for(spec, template, sandbox), region="us-east-1",
                                      work_dir=work / "logs", python=python312)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


def scheduled_event(event_id: str) -> dict:
    return {"version": "0", "id": event_id, "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/ConnectorHealth-Schedule"], "detail": {}}


def emf(invocation) -> dict[str, list[dict]]:
    """{metric name: [{dimension: value, "_value": v}]} from the EMF lines the function printed."""
    out: dict[str, list[dict]] = {}
    for blob in invocation.json_lines():
        for directive in (blob.get("_aws") or {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                out.setdefault(metric["Name"], []).append(
                    {d: blob[d] for d in directive["Dimensions"][0]} | {"_value": value[0] if isinstance(value, list) else value})
    return out


# ------------------------------------------------------------------ the template as the runtime reads it
def test_function_environments_fit_lambdas_rules(hub_functions):
    for spec in hub_functions.values():
        assert not set(spec.environment) & RESERVED_VARIABLES, spec.logical_id  # Lambda refuses these names
        size = sum(len(k) + len(v if isinstance(v, str) else "x" * 100) for k, v in spec.environment.items())
        assert size < ENVIRONMENT_LIMIT_BYTES, spec.logical_id
        assert (spec.runtime, spec.architecture, spec.tracing) == ("python3.12", "x86_64", "Active")
        assert len(spec.layers) == 1


# ------------------------------------------------------------------ the scan function
@pytest.fixture(scope="module")
def scan_function(start_function, lambda_sandbox):
    # As the template deploys it with the integrations on: Security Hub, and the chat topic the stack creates (its
    # ARN comes from the template's CHAT_TOPIC_ARN, bound to the sandbox's chat topic).
    return start_function(SCAN, lambda_sandbox, sandbox_config(
        lambda_sandbox, alerts={"create_chat_topic": True}, integrations={"security_hub": {"enabled": True}}))


def test_scan_function_imports_only_from_its_asset_layer_and_runtime(scan_function, layer_python, runtime_python):
    init = scan_function.init
    assert init["error"] is None
    assert init["python"].startswith("3.12.")
    task_root = Path(scan_function.init["sys_path"][0])
    assert init["sys_path"][:3] == [str(task_root), str(layer_python), str(runtime_python)]
    stdlib = [p for p in init["sys_path"][3:]]
    assert stdlib and all("site-packages" not in p and ".venv" not in p for p in stdlib)
    # boto3 and botocore are the runtime's (layer/lambda-runtime.txt), not the layer's or our requirements' pin.
    pins = dict(line.split("==") for line in RUNTIME_REQUIREMENTS.read_text().splitlines() if "==" in line)
    for name in ("boto3", "botocore"):
        assert init[name]["file"].startswith(str(runtime_python)), init[name]
        assert init[name]["version"] == pins[name]


def test_scan_function_records_a_baseline_then_alerts_a_change(scan_function, lambda_sandbox, xray):
    sandbox = lambda_sandbox
    first = scan_function.invoke(scheduled_event("evt-baseline"))
    assert first.result["run_id"] == "evt-baseline"
    table = sandbox.client("dynamodb")
    baselines = table.scan(TableName=sandbox.seeded["state_table"], FilterExpression="sk = :b",
                           ExpressionAttributeValues={":b": {"S": "BASELINE"}})["Items"]
    assert [item["pk"]["S"] for item in baselines] == ["ACCOUNT#123456789012#CONNECTOR#defender"]
    sandbox.read_alerts(), sandbox.read_chat()  # whatever the seeded account has is not this test's business

    # The CSPM role's trust policy is widened: anyone may assume it.
    iam = sandbox.client("iam")
    doc = trust_policy(sandbox.seeded["provider_arn"], sandbox.issuer.url.removeprefix("https://"),
                       "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479")
    doc["Statement"].append({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
    iam.update_assume_role_policy(RoleName="CspmMonitorAws", PolicyDocument=json.dumps(doc))

    second = scan_function.invoke(scheduled_event("evt-change"))  # the same (warm) execution environment
    assert second.result["run_id"] == "evt-change" and second.result["alerts_published"] >= 1
    alerts = [a for a in sandbox.read_alerts(wait=1) if a["attributes"]["connector"] == "defender"]
    [alert] = alerts
    check_ids = set(json.loads(alert["attributes"]["check_ids"]))
    assert {"TRUST_WILDCARD_PRINCIPAL", "TRUST_DRIFT"} <= check_ids
    assert alert["attributes"]["severity"] == "critical" and "CspmMonitorAws" in alert["body"]
    # The deployed artefact imports into Security Hub (the runtime's boto3, the layer) and sends the chat card.
    [imported] = sandbox.security_hub_findings(GeneratorId="connector-health/TRUST_WILDCARD_PRINCIPAL")
    assert (imported["RecordState"], imported["Compliance"]["Status"]) == ("ACTIVE", "FAILED")
    assert imported["Resources"][0]["Id"].endswith(":role/CspmMonitorAws")
    cards = [c for c in sandbox.read_chat() if c["metadata"]["additionalContext"]["connector"] == "defender"]
    assert [c["content"]["title"].split(" ")[1] for c in cards] == ["CRITICAL"]

    metrics = emf(second)
    assert [m["_value"] for m in metrics["Heartbeat"]] == [1.0]
    assert {m["Connector"] for m in metrics["ConnectorHealthy"]} == {"defender"}
    assert metrics["ConnectorHealthy"][0]["_value"] == 0.0
    logs = [line for line in second.json_lines() if line.get("message") == "scan finished"]
    assert logs and logs[0]["function_name"] == scan_function.spec.function_name
    assert logs[0]["correlation_id"] == "evt-change"
    # The tracer is live: the X-Ray SDK sent the handler's subsegment to the daemon.
    assert any(doc.get("name") == "## handler" for doc in xray.documents), xray.documents[:3]


# ------------------------------------------------------------------ hub mode: fan-out and worker
@pytest.fixture(scope="module")
def org(lambda_sandbox):
    seeded = lambda_sandbox.seed_org(ORG_ACCOUNTS, plans=ORG_PLANS)
    yield seeded
    lambda_sandbox.sts.assume_role_errors = {}
    lambda_sandbox.accounts = 0
    lambda_sandbox.restore()


@pytest.fixture(scope="module")
def hub(org, lambda_sandbox, start_function):
    config = sandbox_config(lambda_sandbox, org={"exchanges": False})
    fanout = start_function(FANOUT, lambda_sandbox, config)
    worker = start_function(WORKER, lambda_sandbox, config)
    return fanout, worker


def _receive_all(sqs, queue_url: str) -> list[dict]:
    records = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages")
        if not got:
            return records
        records += got


def test_fanout_then_worker_with_one_failing_account(org, hub, lambda_sandbox):
    sandbox = lambda_sandbox
    fanout, worker = hub
    sent = fanout.invoke(scheduled_event("org-run-1")).result
    assert sent == {"run_id": "org-run-1", "accounts_selected": ORG_ACCOUNTS, "accounts_skipped": 2,
                    "messages_sent": ORG_ACCOUNTS}
    sqs = sandbox.client("sqs")
    queue_url = fanout.environment["ACCOUNT_QUEUE_URL"]  # the template's Ref to the account queue, bound here
    messages = _receive_all(sqs, queue_url)
    by_account = {json.loads(m["Body"])["account_id"]: m for m in messages}
    assert set(by_account) == set(org["members"])

    numbers = {m["number"]: a for a, m in org["members"].items()}
    failing = numbers[1]  # AssumeRole fails with an error that is not a refusal: the message is retried
    sandbox.sts.assume_role_errors[failing] = "RegionDisabledException"
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "us-east-1"}
               for m in messages]
    answer = worker.invoke({"Records": records})
    assert answer.result == {"batchItemFailures": [{"itemIdentifier": by_account[failing]["MessageId"]}]}

    alerts = sandbox.read_alerts(wait=1)
    alerted = {a["attributes"]["account"]: set(json.loads(a["attributes"]["check_ids"])) for a in alerts}
    assert set(alerted) == {numbers[2], numbers[3]}
    assert "TRUST_WILDCARD_PRINCIPAL" in alerted[numbers[2]]
    assert "PROVIDER_THUMBPRINT_MISMATCH" in alerted[numbers[3]]
    metrics = emf(answer)
    healthy = {m["Account"]: m["_value"] for m in metrics["AccountHealthy"]}
    assert healthy == {numbers[2]: 0.0, numbers[3]: 0.0}  # the failing account is retried, not judged
    assert [m["_value"] for m in metrics["AccountsScanned"]] == [2.0]


# ------------------------------------------------------------------ the tier has teeth
def test_a_layer_without_the_tracer_extra_cannot_start_any_function(start_function, layer_python, lambda_sandbox,
                                                                    tmp_path):
    """What issue 12 found: every handler creates a Powertools Tracer, which imports the X-Ray SDK. The same layer
    without it (every other entry linked as is) fails each function at init, as Lambda's runtime does."""
    stripped = tmp_path / "python"
    stripped.mkdir()
    for entry in layer_python.iterdir():
        if not entry.name.startswith("aws_xray_sdk"):
            os.symlink(entry, stripped / entry.name)
    for handler in (SCAN, FANOUT, WORKER):
        process = start_function(handler, lambda_sandbox, sandbox_config(lambda_sandbox), layer=stripped)
        error = process.init["error"]
        assert error["errorType"] == "Runtime.ImportModuleError", error
        assert error["errorMessage"] == (f"Unable to import module '{handler.rsplit('.', 1)[0]}': "
                                         "No module named 'aws_xray_sdk'")
        answer = process.invoke(scheduled_event("evt-x"))
        assert answer.answer["errorType"] == "Runtime.ImportModuleError"
        process.close()
