"""Fault-injection tests. The sandbox fixtures (`sandbox_session`, `sandbox`, `config`, `scan`) are in
tests/conftest.py; here are the injectors, as fixtures (test modules cannot import each other under
`--import-mode=importlib`): real AWS error documents through botocore's `before-send`, and broken TLS servers."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable

import boto3
import pytest
from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_):
        yield self.body


def query_error(code: str, message: str = "injected") -> bytes:
    """An IAM/STS/SNS (query protocol) error document."""
    return (f'<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>'
            f'<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>').encode()


def dynamodb_error(code: str, message: str = "injected") -> bytes:
    return json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()


class Injector:
    """Answers chosen operations of a session with an error while `when(operation, attempt)` is true.

    Counts attempts per operation (retries included), so tests can fail the first try only, every other try, or
    everything from some moment on."""

    def __init__(self, session: boto3.session.Session | None = None) -> None:
        self.session = session or boto3.session.Session()
        self.attempts: dict[str, int] = {}
        self.injected: dict[str, int] = {}

    def fail(self, service: str, operation: str, status: int, body: bytes,
             when: Callable[[str, int], bool] = lambda op, n: True) -> "Injector":
        def handler(request, event_name="", **_):
            op = event_name.rsplit(".", 1)[-1]
            self.attempts[op] = n = self.attempts.get(op, 0) + 1
            if not when(op, n):
                return None  # let the request through to the sandbox
            self.injected[op] = self.injected.get(op, 0) + 1
            ctype = "application/x-amz-json-1.0" if service == "dynamodb" else "text/xml"
            return AWSResponse(request.url, status, {"Content-Type": ctype}, _Raw(body))

        self.session.events.register(f"before-send.{service}.{operation}", handler)
        return self


class BrokenTlsServer:
    """A TCP listener on 127.0.0.1 that breaks the TLS handshake: `close` (hang up at once), `garbage` (answer
    with plain text), `silent` (accept and say nothing) or `reset` (RST the connection)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "BrokenTlsServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.sock.close()
        for conn in self._open:
            conn.close()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            if self.mode == "silent":
                self._open.append(conn)
                continue
            try:
                if self.mode == "garbage":
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n\r\nnot for TLS" * 20)
                elif self.mode == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            conn.close()


@pytest.fixture
def injector():
    """Injector(session=None) factory: a fresh boto3 session whose chosen operations get errors."""
    return Injector


@pytest.fixture
def errors():
    """The error-document builders: errors.query(code), errors.dynamodb(code)."""

    class _Errors:
        query = staticmethod(query_error)
        dynamodb = staticmethod(dynamodb_error)

    return _Errors


@pytest.fixture
def broken_tls():
    servers: list[BrokenTlsServer] = []

    def start(mode: str) -> BrokenTlsServer:
        servers.append(BrokenTlsServer(mode).__enter__())
        return servers[-1]

    yield start
    for server in servers:
        server.__exit__()
