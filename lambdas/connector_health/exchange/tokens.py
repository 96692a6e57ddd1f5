"""Token sources: where a connector's real token comes from (config `token_source`).

- `entra-client-credentials`: POST `<authority>/<tenant>/oauth2/v2.0/token` (FACTS.md, Entra client-credentials flow)
  with the client secret from AWS Secrets Manager (`secret_arn`; the SecretString itself, or its `client_secret`
  member when it is JSON) or from an environment variable (`secret_env`). TLS is verified against the config's
  `issuer_inspection.public_ca_bundle` when set (the sandbox points it at its own root CA, which stands for a
  public CA), otherwise certifi's bundle (or REQUESTS_CA_BUNDLE when the environment sets it): the same trust store
  the issuer inspection uses, so one setting decides what "publicly trusted" means. The request goes through
  `collect.https` like the issuer fetches (https only, checked addresses, one deadline) and follows no redirect:
  a redirected request is a failure, so the client secret is only ever sent to the configured URL.
- `file`: the file's content; `env`: an environment variable; `command`: the standard output of `argv` (a JSON
  object with `access_token`, `id_token` or `token` is accepted too).

Nothing here raises and nothing here logs: a failure is a `TokenResult` with a reason that never contains the
token, the secret, or anything the source printed (a command's stderr may hold secrets; only its exit status is
kept). The token itself is a `Secret`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from typing import Any

import time
from urllib.parse import urlencode

import boto3
import certifi
import jwt
from botocore.exceptions import BotoCoreError, ClientError

from ..collect.aws import BOTO_CONFIG
from ..collect.https import FetchError, https_request
from ..config import CommandTokenSource, EntraClientCredentials, EnvTokenSource, FileTokenSource
from .redact import Secret, protected, scrub

_AADSTS = re.compile(r"\bAADSTS(\d+)\b")
MAX_TOKEN_CHARS = 20000  # STS's limit for WebIdentityToken (FACTS.md)


@dataclass
class TokenResult:
    source: str  # the token source type, e.g. "entra-client-credentials"
    token: Secret | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # never secrets: AADSTS code, exit status, path...
    latency_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.token is not None and self.error is None


def source_type(source: Any) -> str:
    return getattr(source, "type", type(source).__name__)


def fetch_token(source: Any, *, session: boto3.session.Session | None = None, ca_bundle: str | None = None,
                timeout: float = 10.0, allow_private: bool = False) -> TokenResult:
    """Get one token from `source`; then check it looks like a JWT STS could read. `allow_private`: the token
    endpoint may be on a loopback or private address (`issuer_inspection.allow_private_addresses`)."""
    kind = source_type(source)
    try:
        if isinstance(source, EntraClientCredentials):
            result = _entra(source, session, ca_bundle, timeout, allow_private)
        elif isinstance(source, FileTokenSource):
            result = _file(source)
        elif isinstance(source, EnvTokenSource):
            result = _env(source)
        elif isinstance(source, CommandTokenSource):
            result = _command(source)
        else:
            return TokenResult(kind, error=f"unknown token source type {kind!r}")
    except Exception as exc:  # noqa: BLE001 - a token source never stops the run; the message is scrubbed
        return TokenResult(kind, error=f"unexpected error: {exc.__class__.__name__}: {scrub(str(exc))[:200]}")
    if result.ok:
        problem = jwt_problem(result.token.reveal())  # type: ignore[union-attr]
        if problem:
            result.token, result.error = None, f"the token source returned something that is not a usable JWT ({problem})"
    return result


def jwt_problem(token: str) -> str | None:
    """Why `token` is not a JWT STS would read (None when it is one). Never quotes the token."""
    if not 4 <= len(token) <= MAX_TOKEN_CHARS:
        return f"{len(token)} characters; STS accepts 4 to {MAX_TOKEN_CHARS}"
    if token.count(".") != 2:
        return "not three dot-separated parts"
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        return f"cannot be decoded: {exc.__class__.__name__}"
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return "header or payload is not a JSON object"
    return None


# ------------------------------------------------------------------------------------------ sources
def _entra(src: EntraClientCredentials, session: boto3.session.Session | None, ca_bundle: str | None,
           timeout: float, allow_private: bool) -> TokenResult:
    kind = src.type
    url = f"{src.authority.rstrip('/')}/{src.tenant_id}/oauth2/v2.0/token"
    details: dict[str, Any] = {"token_endpoint": url, "client_id": src.client_id, "scope": src.scope}
    if not url.lower().startswith("https://"):  # the config refuses it too; the secret must never travel in clear
        return TokenResult(kind, error=f"the token endpoint {url} is not https://", details=details)
    secret, error = _client_secret(src, session)
    if secret is None:
        return TokenResult(kind, error=error, details={"stage": "client-secret"})
    form = {"grant_type": "client_credentials", "client_id": src.client_id, "client_secret": secret.reveal(),
            "scope": src.scope}
    with protected(secret):
        try:
            resp = https_request(
                "POST", url, deadline=time.monotonic() + timeout * 2, allow_private=allow_private,
                cafile=ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where(),
                body=urlencode(form).encode(), max_bytes=256 * 1024,
                headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"})
        except FetchError as exc:
            return TokenResult(kind, error=f"POST {url} failed: {scrub(str(exc))[:300]}", details=details)
        finally:
            form.clear()
        details["http_status"] = resp.status
        if resp.location is not None:
            return TokenResult(kind, error=(f"the token endpoint {url} answered HTTP {resp.status}, a redirect to "
                                            f"{scrub(resp.location)[:200]}; redirects are not followed (the client "
                                            "secret is sent only to the configured URL): set `authority` to the "
                                            "endpoint's real address"), details=details)
        try:
            body = json.loads(resp.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            body = None
        if resp.status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            return TokenResult(kind, error=_entra_error(resp.status, body), details=details | _aadsts(body))
        token = Secret(str(body["access_token"]))
        body.clear()
    return TokenResult(kind, token=token, details=details)


def _aadsts(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    out: dict[str, Any] = {}
    if isinstance(body.get("error"), str):
        out["error"] = body["error"][:100]
    match = _AADSTS.search(str(body.get("error_description", "")))
    if match:
        out["aadsts"] = f"AADSTS{match.group(1)}"
    elif isinstance(body.get("error_codes"), list) and body["error_codes"]:
        out["aadsts"] = f"AADSTS{body['error_codes'][0]}"
    return out


def _entra_error(status: int, body: Any) -> str:
    if not isinstance(body, dict):
        return f"the token endpoint answered HTTP {status} without a JSON body"
    if body.get("access_token") in (None, "") and status == 200:
        return "the token endpoint answered HTTP 200 without an access_token"
    # Entra descriptions put trace and correlation ids on later lines; the first line says what is wrong.
    description = str(body.get("error_description") or "").strip().splitlines()
    first = scrub(description[0])[:300] if description else ""
    error = str(body.get("error") or "error")[:100]
    return f"Entra refused the client-credentials request (HTTP {status}, {error}): {first}".rstrip(": ")


def _client_secret(src: EntraClientCredentials, session: boto3.session.Session | None) -> tuple[Secret | None, str]:
    if src.secret_env:
        value = os.environ.get(src.secret_env)
        if not value:
            return None, f"environment variable {src.secret_env} (the client secret) is not set or empty"
        return Secret(value), ""
    arn = src.secret_arn or ""
    parts = arn.split(":")
    region = parts[3] if len(parts) > 6 and parts[3] else None
    try:
        client = (session or boto3.session.Session()).client("secretsmanager", region_name=region, config=BOTO_CONFIG)
        got = client.get_secret_value(SecretId=arn)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        return None, (f"secretsmanager:GetSecretValue on {arn} failed ({err.get('Code', 'Unknown')}): "
                      f"{scrub(str(err.get('Message', '')))[:200]}")
    except BotoCoreError as exc:
        return None, f"secretsmanager:GetSecretValue on {arn} failed: {exc.__class__.__name__}"
    text = got.get("SecretString")
    got.clear()
    if not text:
        return None, f"secret {arn} has no SecretString (binary secrets are not supported)"
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            value = doc.get("client_secret") or doc.get("clientSecret")
            if not isinstance(value, str) or not value:
                return None, f"secret {arn} is JSON without a `client_secret` member"
            return Secret(value), ""
    return Secret(text.strip()), ""


def _file(src: FileTokenSource) -> TokenResult:
    try:
        with open(src.path, encoding="utf-8") as handle:
            text = handle.read(MAX_TOKEN_CHARS * 2 + 1)
    except (OSError, UnicodeDecodeError) as exc:
        return TokenResult(src.type, error=f"cannot read the token file {src.path} ({exc.__class__.__name__})",
                           details={"path": src.path})
    token = text.strip()
    if not token:
        return TokenResult(src.type, error=f"the token file {src.path} is empty", details={"path": src.path})
    return TokenResult(src.type, token=Secret(token), details={"path": src.path})


def _env(src: EnvTokenSource) -> TokenResult:
    value = (os.environ.get(src.variable) or "").strip()
    if not value:
        return TokenResult(src.type, error=f"environment variable {src.variable} is not set or empty",
                           details={"variable": src.variable})
    return TokenResult(src.type, token=Secret(value), details={"variable": src.variable})


def _command(src: CommandTokenSource) -> TokenResult:
    details: dict[str, Any] = {"command": src.argv[0]}
    try:
        proc = subprocess.run(src.argv, capture_output=True, text=True, timeout=src.timeout_seconds,  # noqa: S603
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return TokenResult(src.type, error=f"the token command {src.argv[0]} did not finish within "
                                           f"{src.timeout_seconds:g}s", details=details)
    except OSError as exc:
        return TokenResult(src.type, error=f"the token command {src.argv[0]} could not start ({exc.__class__.__name__})",
                           details=details)
    details["exit_status"] = proc.returncode
    out, proc = proc.stdout.strip(), None  # stderr is dropped unread: helpers print secrets there too
    if details["exit_status"] != 0:
        return TokenResult(src.type, error=f"the token command {src.argv[0]} exited with status "
                                           f"{details['exit_status']}", details=details)
    if out.startswith("{"):
        try:
            doc = json.loads(out)
        except ValueError:
            doc = None
        value = next((doc[k] for k in ("access_token", "id_token", "token", "value")
                      if isinstance(doc, dict) and isinstance(doc.get(k), str)), None)
        if value is None:
            return TokenResult(src.type, error=f"the token command {src.argv[0]} printed JSON without "
                                               "access_token/id_token/token", details=details)
        out = value.strip()
    if not out:
        return TokenResult(src.type, error=f"the token command {src.argv[0]} printed nothing", details=details)
    return TokenResult(src.type, token=Secret(out), details=details)
