"""The forged probe token and the one STS call that presents a token.

The probe is a JWT STS must refuse: `iss` is the provider URL and `aud` an audience the connector needs, so STS
walks its validation stages (provider, audience, issuer keys) and stops at the signature, because the token is
signed with an RSA key generated in memory for this run's probes alone and dropped when the run ends (one key per
run, not per probe: a 2048-bit key costs 10-80 ms of CPU to generate, and a hub worker probes every account).
Each token still has its own `kid` and `jti`. Where STS stops tells which stage is healthy (classify.py).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives.asymmetric import rsa

from ..collect.aws import BOTO_CONFIG
from .redact import Secret, protected, scrub

PROBE_LIFETIME_SECONDS = 300  # "a few minutes ahead" (CHECKS.md)
DURATION_SECONDS = 900  # the minimum STS accepts
DEFAULT_SESSION_NAME = "connector-health-probe"

# A presented token is never retried: exactly one attempt. botocore's `max_attempts` counts RETRIES (1 would mean two
# calls, and standard mode retries IDPCommunicationError), so the total is set instead.
EXCHANGE_BOTO_CONFIG = BOTO_CONFIG.merge(BotoConfig(retries={"mode": "standard", "total_max_attempts": 1}))


def probe_key() -> rsa.RSAPrivateKey:
    """A fresh key for one run's probes: in memory only, never written anywhere."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def forge_probe_token(issuer: str, audience: str, subject: str, *, lifetime: int = PROBE_LIFETIME_SECONDS,
                      now: float | None = None, key: rsa.RSAPrivateKey | None = None) -> Secret:
    """A JWT with the right `iss` and `aud`, signed by `key` (the run's `probe_key()`), or without one by a key
    that exists only inside this function."""
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": uuid.uuid4().hex,
    }
    key = key or probe_key()
    try:
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": f"probe-{secrets.token_hex(8)}"})
    finally:
        del key  # never stored: nobody can sign with it again
    return Secret(token)


@dataclass
class StsAnswer:
    """What STS said: an error (code, message, HTTP status) or credentials (code None)."""

    code: str | None = None
    message: str = ""
    http_status: int | None = None
    request_id: str | None = None
    latency_ms: float = 0.0
    transport_error: str | None = None  # no answer at all (connection, timeout, client-side validation)
    assumed_role_arn: str | None = None
    credentials: dict[str, str] | None = None  # only handed to the caller that asked for them

    @property
    def answered(self) -> bool:
        return self.transport_error is None


def assume_role_with_web_identity(sts: Any, role_arn: str, session_name: str, token: Secret, *,
                                  keep_credentials: bool = False) -> StsAnswer:
    """One `AssumeRoleWithWebIdentity` call (the client must use `EXCHANGE_BOTO_CONFIG`). Never raises."""
    started = time.monotonic()
    answer = StsAnswer()
    with protected(token):
        try:
            resp = sts.assume_role_with_web_identity(
                RoleArn=role_arn, RoleSessionName=session_name, WebIdentityToken=token.reveal(),
                DurationSeconds=DURATION_SECONDS,
            )
        except ClientError as exc:
            err = exc.response.get("Error", {})
            meta = exc.response.get("ResponseMetadata", {})
            answer.code = str(err.get("Code") or "Unknown")
            answer.message = scrub(str(err.get("Message") or ""))
            answer.http_status = meta.get("HTTPStatusCode")
            answer.request_id = meta.get("RequestId")
        except (BotoCoreError, ValueError) as exc:
            answer.transport_error = f"{exc.__class__.__name__}: {scrub(str(exc))[:300]}"
        else:
            creds = resp.get("Credentials") or {}
            answer.http_status = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
            answer.request_id = resp.get("ResponseMetadata", {}).get("RequestId")
            answer.assumed_role_arn = (resp.get("AssumedRoleUser") or {}).get("Arn")
            if keep_credentials:
                answer.credentials = {
                    "aws_access_key_id": creds.get("AccessKeyId", ""),
                    "aws_secret_access_key": creds.get("SecretAccessKey", ""),
                    "aws_session_token": creds.get("SessionToken", ""),
                }
            creds.clear()
            resp.clear()
    answer.latency_ms = round((time.monotonic() - started) * 1000, 1)
    return answer
