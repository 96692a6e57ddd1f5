"""A real local HTTPS OIDC issuer: discovery, JWKS and a client-credentials token endpoint.

It serves leaf + intermediate from `SandboxPki`, so a TLS client sees a real chain and the thumbprint comes from
a real handshake. Controls let tests and the demo break it the ways real issuers break: rotate the intermediate,
switch to a private (untrusted) chain, answer slowly or trickle the body (slow loris), stop listening, declare a
wrong issuer, serve a garbage or huge JWKS or discovery document, fail token requests with an AADSTS error, answer a
document or the token endpoint with a redirect, serve the same documents over plain HTTP, or point `jwks_uri`
elsewhere. It records each request's method, path and form field names (never their values).
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .pki import SandboxPki
from .serving import BackgroundServer

# The Microsoft-owned tenant of the Defender for Cloud issuer (FACTS.md); the sandbox keeps the path shape.
DEFENDER_TENANT = "33e01921-4d64-4f8c-a055-5bdaffd5e33d"


def _b64u(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SigningKey:
    def __init__(self) -> None:
        self.kid = uuid.uuid4().hex[:16]
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, str]:
        pub = self.private.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": _b64u(pub.n), "e": _b64u(pub.e)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, issuer: "LocalIssuer", *, tls: bool = True):
        self.issuer = issuer
        self.tls = tls
        super().__init__(addr, handler)

    def get_request(self):  # wrap each connection with the CURRENT context, so chain swaps apply at once
        sock, addr = super().get_request()
        if not self.tls:
            return sock, addr
        return self.issuer.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):  # clients that hang up mid-handshake are normal here
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall per request

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(10)
        if not self.server.tls:
            return
        try:
            self.connection.do_handshake()
        except (ssl.SSLError, OSError):
            self.close_connection = True
            raise

    def _redirected(self, document: str) -> bool:
        """Answer with the redirect set for this document (see `LocalIssuer.redirects`), if any."""
        found = self.server.issuer.redirects.get(document)
        if found is None:
            return False
        status, location = found
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return True

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        issuer = self.server.issuer
        if issuer.delay_seconds:
            time.sleep(issuer.delay_seconds)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if issuer.trickle_seconds:  # slow loris: every byte in time for a read timeout, the whole far too late
            self.wfile.flush()
            for i in range(len(body)):
                time.sleep(issuer.trickle_seconds)
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
            return
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        issuer = self.server.issuer
        issuer.requests += 1
        path = urlsplit(self.path).path
        issuer.log.append(("GET", path, ()))
        if path == issuer.path + ".well-known/openid-configuration":
            if self._redirected("discovery"):
                return
            body = issuer.discovery_override
            self._send(200, json.dumps(issuer.discovery()).encode() if body is None else body)
        elif path == issuer.path + "discovery/keys":
            if self._redirected("jwks"):
                return
            self._send(200, issuer.jwks_body())
        else:
            self._send(404, b'{"error":"not found"}')

    def do_POST(self) -> None:  # noqa: N802
        issuer = self.server.issuer
        issuer.requests += 1
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        issuer.log.append(("POST", urlsplit(self.path).path, tuple(sorted(form))))
        if urlsplit(self.path).path != issuer.path + "oauth2/v2.0/token":
            self._send(404, b'{"error":"not found"}')
            return
        if self._redirected("token"):
            return
        status, body = issuer.token_response(form)
        self._send(status, json.dumps(body).encode())


class LocalIssuer:
    def __init__(self, pki: SandboxPki, *, tenant: str = DEFENDER_TENANT, host: str = "localhost", port: int = 0):
        self.pki = pki
        self.tenant = tenant
        self.host = host
        self.path = f"/{tenant}/"
        self._port = port
        self.keys = [SigningKey()]
        self.ssl_context = self._context()
        self._background = BackgroundServer("local-issuer")
        self._plain = BackgroundServer("local-issuer-plain-http")
        self.plain_port: int | None = None
        self.requests = 0
        self.log: list[tuple[str, str, tuple[str, ...]]] = []  # (method, path, form field names) of each request
        # Controls
        self.delay_seconds = 0.0
        self.wrong_issuer: str | None = None
        self.jwks_override: bytes | None = None
        self.discovery_override: bytes | None = None  # served as the discovery document, as is
        self.trickle_seconds = 0.0  # > 0: the body is sent one byte at a time, this long apart (slow loris)
        self.token_error: tuple[str, str] | None = None  # (AADSTS code, description)
        # "discovery", "jwks" or "token" -> (HTTP status, Location): answer that document with a redirect
        self.redirects: dict[str, tuple[int, str]] = {}
        self.jwks_uri_override: str | None = None  # served as discovery's jwks_uri
        self.clients: dict[str, str] = {}  # client_id -> secret

    # ------------------------------------------------------------------ lifecycle
    def _context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.pki.cert_chain_path, self.pki.key_path)
        return ctx

    def reload_tls(self) -> None:
        self.ssl_context = self._context()

    def start(self) -> "LocalIssuer":
        self._port = self._background.serve(_Server(("127.0.0.1", self._port), _Handler, self))[1]
        return self

    def stop(self) -> None:
        """Stop listening: clients now get 'connection refused' (the port stays reserved for `start`)."""
        self._background.stop()
        self.stop_plain_http()

    def stop_plain_http(self) -> None:
        self._plain.stop()
        self.plain_port = None

    def serve_plain_http(self) -> str:
        """Serve the same documents over plain HTTP as well (on another port); returns its base URL."""
        if self.plain_port is None:
            self.plain_port = self._plain.serve(_Server(("127.0.0.1", 0), _Handler, self, tls=False))[1]
        return f"http://{self.host}:{self.plain_port}"

    @property
    def running(self) -> bool:
        return self._background.running

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The issuer URL (what tokens carry as `iss` and what the IAM provider holds), like sts.windows.net/<tid>/."""
        return f"https://{self.host}:{self._port}{self.path}"

    @property
    def authority(self) -> str:
        return f"https://{self.host}:{self._port}"

    # ------------------------------------------------------------------ documents
    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.wrong_issuer or self.url,
            "jwks_uri": self.jwks_uri_override or self.url + "discovery/keys",
            "token_endpoint": self.url + "oauth2/v2.0/token",
            "response_types_supported": ["code", "id_token", "token id_token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks_body(self) -> bytes:
        if self.jwks_override is not None:
            return self.jwks_override
        return json.dumps({"keys": [k.jwk() for k in self.keys]}).encode()

    def issue_token(self, claims: dict[str, Any], *, lifetime: int = 3600, key: SigningKey | None = None) -> str:
        now = int(time.time())
        body = {"iss": self.url, "iat": now, "nbf": now, "exp": now + lifetime, "tid": self.tenant} | claims
        signer = key or self.keys[0]
        return jwt.encode(body, signer.private, algorithm="RS256", headers={"kid": signer.kid})

    def token_response(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.token_error:
            code, text = self.token_error
            return 400, {"error": "invalid_client", "error_description": f"{code}: {text}", "error_codes": [int(code[6:] or 0)]}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003: grant type not supported"}
        client_id = form.get("client_id", "")
        if client_id not in self.clients or self.clients[client_id] != form.get("client_secret"):
            return 401, {"error": "invalid_client",
                         "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]}
        scope = form.get("scope", "")
        audience = scope.removesuffix("/.default")
        token = self.issue_token({"aud": audience, "sub": client_id, "oid": client_id, "appid": client_id, "ver": "1.0"})
        return 200, {"token_type": "Bearer", "expires_in": 3600, "access_token": token}

    # ------------------------------------------------------------------ controls
    def rotate_intermediate(self) -> str:
        thumb = self.pki.rotate_intermediate()
        self.reload_tls()
        return thumb

    def switch_to_untrusted_chain(self) -> str:
        thumb = self.pki.switch_to_untrusted()
        self.reload_tls()
        return thumb

    def expire_leaf_in(self, days: float) -> None:
        self.pki.reissue_leaf(days)
        self.reload_tls()

    def rotate_signing_key(self) -> str:
        self.keys = [SigningKey()]
        return self.keys[0].kid


def port_is_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0
