"""Run a synthesised Lambda function on this machine the way the python3.12 runtime runs it.

What comes from the template: the handler, runtime, memory, timeout, the function's own environment variables
(`Ref`s resolved to the resources that stand for them) and the code asset CDK staged. What comes from the runtime:
the Python of the function's `Runtime`, the runtime's environment variables (AWS_LAMBDA_FUNCTION_NAME,
AWS_REGION, _X_AMZN_TRACE_ID, LAMBDA_TASK_ROOT, AWS_EXECUTION_ENV, ...) and its own boto3. Nothing else of this
machine reaches the function: not the virtualenv, not its packages, not the caller's environment or AWS config.

    spec = functions_in(template, cdk_out)["ScannerFunction1234"]
    with LambdaProcess.start(spec, task_root=..., layers=[layer/"python"], runtime_dir=..., extra_env=...) as fn:
        invocation = fn.invoke({"id": "evt-1"})      # one warm container: invocations share the process
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .interpreter import find_python, runtime_version

BOOTSTRAP = Path(__file__).resolve().with_name("bootstrap.py")
# Names the runtime sets; a function may not set them itself (Lambda rejects them in Environment.Variables).
RESERVED_VARIABLES = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})
ENVIRONMENT_LIMIT_BYTES = 4096  # Lambda quota: all environment variables of a function together


class TemplateError(ValueError):
    """The template does not say what the emulator needs (e.g. an environment value it cannot resolve)."""


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str
    runtime: str
    memory_mb: int
    timeout_s: int
    environment: dict[str, Any]  # as in the template: strings or intrinsic functions
    code_path: Path  # the staged code asset (cdk.out/asset.<hash>)
    layers: list[Any]
    architecture: str
    tracing: str | None
    function_name: str

    @property
    def python_version(self) -> str:
        return runtime_version(self.runtime)


def functions_in(template: dict[str, Any], outdir: Path, stack_name: str = "Stack") -> dict[str, FunctionSpec]:
    """Every AWS::Lambda::Function of a synthesised template, by logical id."""
    out = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        props = resource["Properties"]
        asset = (resource.get("Metadata") or {}).get("aws:asset:path") or _asset_of(props.get("Code") or {})
        if not asset or not (Path(outdir) / asset).is_dir():
            raise TemplateError(f"{logical_id}: its code asset is not in {outdir} ({asset!r})")
        name = props.get("FunctionName")
        out[logical_id] = FunctionSpec(
            logical_id=logical_id, handler=props["Handler"], runtime=props["Runtime"],
            memory_mb=int(props.get("MemorySize", 128)), timeout_s=int(props.get("Timeout", 3)),
            environment=dict((props.get("Environment") or {}).get("Variables") or {}),
            code_path=Path(outdir) / asset, layers=list(props.get("Layers") or []),
            architecture=(props.get("Architectures") or ["x86_64"])[0],
            tracing=(props.get("TracingConfig") or {}).get("Mode"),
            function_name=name if isinstance(name, str) else f"{stack_name}-{logical_id}"[:64],
        )
    return out


def _asset_of(code: dict[str, Any]) -> str | None:
    """cdk.out/asset.<hash> from the S3 key `<hash>.zip` the default synthesizer writes."""
    key = code.get("S3Key")
    return f"asset.{key.removesuffix('.zip')}" if isinstance(key, str) and key.endswith(".zip") else None


def resolve_environment(spec: FunctionSpec, bindings: dict[str, str]) -> dict[str, str]:
    """The function's variables with `{"Ref": id}` / `{"Fn::GetAtt": [id, attr]}` replaced from `bindings`
    (keys `id` and `id.attr`); anything else unresolved is an error naming the variable."""
    out = {}
    for name, value in spec.environment.items():
        if isinstance(value, str):
            out[name] = value
            continue
        key = None
        if isinstance(value, dict) and set(value) == {"Ref"}:
            key = value["Ref"]
        elif isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
            key = ".".join(value["Fn::GetAtt"])
        if key not in bindings:
            raise TemplateError(f"{spec.logical_id}: environment variable {name} = {json.dumps(value)} has no "
                                f"stand-in (bindings: {sorted(bindings)})")
        out[name] = bindings[key]
    return out


def runtime_environment(spec: FunctionSpec, *, task_root: Path, runtime_dir: Path, region: str,
                        home: Path) -> dict[str, str]:
    """The variables the python runtime sets for every function (AWS Lambda docs, "Defined runtime environment
    variables"); credentials and the trace header are added per process and per invocation."""
    log_group = f"/aws/lambda/{spec.function_name}"
    return {
        "_HANDLER": spec.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
        "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(runtime_dir),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        # Nothing of this machine's AWS configuration: an empty home, no shared config or credentials files.
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }


def trace_header() -> str:
    """A sampled X-Ray trace header, as Lambda sets _X_AMZN_TRACE_ID for a traced invocation."""
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=1"


class XRayDaemon:
    """A UDP socket standing for the X-Ray daemon: keeps the segment documents the X-Ray SDK sends."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.documents: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="xray-daemon", daemon=True)
        self._thread.start()

    def env(self) -> dict[str, str]:
        return {"AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{self.port}", "_AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1",
                "_AWS_XRAY_DAEMON_PORT": str(self.port)}

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except OSError:
                continue
            # Each datagram: a JSON header line ({"format": "json", "version": 1}), then the segment document.
            _, _, body = data.decode("utf-8", "replace").partition("\n")
            try:
                self.documents.append(json.loads(body))
            except ValueError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


@dataclass
class Invocation:
    answer: dict[str, Any]
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return "errorType" not in self.answer

    @property
    def result(self) -> Any:
        if not self.ok:
            raise AssertionError(f"the invocation failed: {self.answer['errorType']}: {self.answer['errorMessage']}"
                                 f"\n{''.join(self.answer.get('stackTrace') or [])}\nstderr:\n{self.stderr[-3000:]}")
        return self.answer["result"]

    def json_lines(self) -> list[dict[str, Any]]:
        """The JSON objects the function printed (Powertools logs and EMF metrics)."""
        out = []
        for line in self.stdout.splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict):
                out.append(doc)
        return out


@dataclass
class LambdaProcess:
    """One execution environment: a process that imported the handler and takes invocations one at a time."""

    spec: FunctionSpec
    process: subprocess.Popen
    results: Any  # the read end of the result pipe
    log_dir: Path
    environment: dict[str, str]  # everything the function's process was started with
    init: dict[str, Any] = field(default_factory=dict)
    _offsets: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})

    @classmethod
    def start(cls, spec: FunctionSpec, *, task_root: Path, layers: list[Path], runtime_dir: Path,
              extra_env: dict[str, str], bindings: dict[str, str], region: str, work_dir: Path,
              python: Path | None = None, init_timeout: float = 120.0) -> "LambdaProcess":
        """Start the function's environment and wait for its init. `extra_env` points it at the stand-ins
        (credentials, AWS_ENDPOINT_URL, the X-Ray daemon)."""
        python = python or find_python(spec.python_version)
        work_dir.mkdir(parents=True, exist_ok=True)
        home = work_dir / "home"
        home.mkdir(exist_ok=True)
        env = {**runtime_environment(spec, task_root=task_root, runtime_dir=runtime_dir, region=region, home=home),
               **extra_env, **resolve_environment(spec, bindings)}
        read_fd, write_fd = os.pipe()
        # -B: nothing is compiled to disk, as on Lambda, where the code and /opt are read-only.
        command = [str(python), "-I", "-S", "-B", str(BOOTSTRAP), "--task-root", str(task_root),
                   *[arg for layer in layers for arg in ("--layer", str(layer))],
                   "--runtime-dir", str(runtime_dir), "--result-fd", str(write_fd)]
        with open(work_dir / "stdout.log", "wb") as out, open(work_dir / "stderr.log", "wb") as err:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=out, stderr=err, env=env,
                                       cwd=task_root, pass_fds=(write_fd,), text=True)
        os.close(write_fd)
        self = cls(spec, process, os.fdopen(read_fd, "r"), work_dir, env)
        self.init = self._answer(init_timeout)["init"]
        self._take_logs()
        return self

    def _answer(self, timeout: float) -> dict[str, Any]:
        ready, _, _ = select.select([self.results], [], [], timeout)
        line = self.results.readline() if ready else ""
        if not line:
            self.close()
            stderr = (self.log_dir / "stderr.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.spec.logical_id}: the runtime process gave no answer within {timeout:.0f}s "
                               f"(exit status {self.process.poll()}); stderr:\n{stderr}")
        return json.loads(line)

    def _take_logs(self) -> dict[str, str]:
        out = {}
        for name in ("stdout", "stderr"):
            with open(self.log_dir / f"{name}.log", "rb") as handle:
                handle.seek(self._offsets[name])
                data = handle.read()
            self._offsets[name] += len(data)
            out[name] = data.decode("utf-8", "replace")
        return out

    def invoke(self, event: Any, *, timeout_ms: int | None = None, request_id: str | None = None) -> Invocation:
        """One invocation with the function's own timeout (or `timeout_ms`); the answer and what it printed."""
        timeout_ms = timeout_ms if timeout_ms is not None else self.spec.timeout_s * 1000
        request = {"event": event, "request_id": request_id or str(uuid.uuid4()), "timeout_ms": timeout_ms,
                   "trace_id": trace_header() if self.spec.tracing == "Active" else None}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        # Lambda stops the function at its timeout; here a little later, so that a slow run shows as an answer.
        answer = self._answer(timeout_ms / 1000 + 30)
        logs = self._take_logs()
        return Invocation(answer, logs["stdout"], logs["stderr"])

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.results.close()

    def __enter__(self) -> "LambdaProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stage_task_root(spec: FunctionSpec, dest: Path) -> Path:
    """A copy of the function's code asset (the tests replace its configuration file; the asset stays as built)."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(spec.code_path, dest)
    return dest
