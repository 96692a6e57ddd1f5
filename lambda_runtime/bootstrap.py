"""What the python3.12 Lambda runtime does with a function, run in a process of its own (standard library only).

    python3.12 -I -S bootstrap.py --task-root DIR --layer DIR [--layer DIR] --runtime-dir DIR --result-fd N

`-I -S`: no PYTHONPATH, no user or site packages, not even this file's directory. The import path is then set the
way Lambda sets it: the code (LAMBDA_TASK_ROOT, also the working directory), each layer's `python/` (/opt/python),
the runtime's own packages (boto3, botocore), then the standard library. The handler named by `_HANDLER`
(`module.function`) is imported once, at init, as the runtime does; an import that fails is reported as
`Runtime.ImportModuleError` on every invocation, as Lambda reports it.

Invocations arrive on stdin, one JSON object per line: {"event": ..., "request_id": ..., "timeout_ms": ...,
"trace_id": ...}. Each answer is one JSON line on the result file descriptor: {"result": ...} or {"errorType",
"errorMessage", "stackTrace"}, plus {"duration_ms", "max_memory_used_mb"} as Lambda's REPORT line gives them. The
first line on that descriptor describes the init: the Python version, where boto3/botocore were imported from,
the import time and the init error if any. The handler's own output (logs, EMF metrics) goes to stdout/stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import sys
import time
import traceback


class LambdaContext:
    """The context object the runtime passes (awslambdaric's attribute names and types)."""

    def __init__(self, request_id: str, timeout_ms: int) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{self.function_name}"
        self.aws_request_id = request_id
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_ms / 1000.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(error_type: str, message: str, exc: BaseException | None = None) -> dict:
    stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)) if exc else []
    return {"errorType": error_type, "errorMessage": message, "stackTrace": stack}


def _load_handler(name: str):
    """(handler, None) or (None, error) with the runtime's error types."""
    module_name, _, function = name.rpartition(".")
    if not module_name:
        return None, _error("Runtime.MalformedHandlerName", f"Bad handler '{name}': not enough values to unpack")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return None, _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", exc)
    except SyntaxError as exc:
        return None, _error("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", exc)
    except Exception as exc:  # noqa: BLE001 - reported as the runtime reports it
        return None, _error(type(exc).__name__, str(exc), exc)
    handler = getattr(module, function, None)
    if handler is None:
        return None, _error("Runtime.HandlerNotFound", f"Handler '{function}' missing on module '{module_name}'")
    return handler, None


def _origin(name: str) -> dict:
    module = sys.modules.get(name)
    return {"version": getattr(module, "__version__", None), "file": getattr(module, "__file__", None)}


def _max_rss_mb() -> int:
    """Peak resident memory of this process image, as Lambda's "Max Memory Used". VmHWM starts afresh at exec;
    getrusage's ru_maxrss would also count the parent's memory this process was forked from."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024  # kB
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _invoke(handler, request: dict) -> dict:
    request_id = request.get("request_id") or "00000000-0000-0000-0000-000000000000"
    if request.get("trace_id"):
        os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]  # set per invocation, as the runtime does
    context = LambdaContext(request_id, int(request.get("timeout_ms") or 3000))
    try:
        result = handler(request.get("event"), context)
    except Exception as exc:  # noqa: BLE001 - the runtime returns every handler exception as an error
        return _error(type(exc).__name__, str(exc), exc)
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        return _error("Runtime.MarshalError", f"Unable to marshal response: {exc}")
    return {"result": result}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task-root", required=True)
    parser.add_argument("--layer", action="append", default=[])
    parser.add_argument("--runtime-dir", required=True)
    parser.add_argument("--result-fd", type=int, required=True)
    args = parser.parse_args()
    results = os.fdopen(args.result_fd, "w", buffering=1)

    sys.path[:0] = [args.task_root, *args.layer, args.runtime_dir]
    os.chdir(args.task_root)
    started, started_cpu = time.monotonic(), time.process_time()
    handler, init_error = _load_handler(os.environ.get("_HANDLER", ""))
    init = {"python": "%d.%d.%d" % sys.version_info[:3], "import_ms": round((time.monotonic() - started) * 1000, 1),
            "import_cpu_ms": round((time.process_time() - started_cpu) * 1000, 1),
            "boto3": _origin("boto3"), "botocore": _origin("botocore"), "sys_path": list(sys.path),
            "error": init_error}
    results.write(json.dumps({"init": init}) + "\n")

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        started = time.monotonic()
        answer = dict(init_error) if init_error else _invoke(handler, request)
        sys.stdout.flush()
        sys.stderr.flush()
        answer["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        answer["max_memory_used_mb"] = _max_rss_mb()
        results.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main()
