"""The forged probe token, the per-provider rate limit and the redaction of secrets from library logs."""

from __future__ import annotations

import logging
import time

import jwt
import pytest

from connector_health.exchange.probe import EXCHANGE_BOTO_CONFIG, forge_probe_token, probe_key
from connector_health.exchange.redact import REDACTED, Secret, protected
from connector_health.exchange.runner import ProbeLimiter

ISSUER = "https://sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"


def test_probe_token_shape():
    before = int(time.time())
    token = forge_probe_token(ISSUER, "api://aud", "subject-1")
    assert isinstance(token, Secret) and "eyJ" not in repr(token) and f"{token}" == REDACTED
    header = jwt.get_unverified_header(token.reveal())
    claims = jwt.decode(token.reveal(), options={"verify_signature": False})
    assert header["alg"] == "RS256" and header["kid"].startswith("probe-")
    assert claims["iss"] == ISSUER and claims["aud"] == "api://aud" and claims["sub"] == "subject-1"
    assert before <= claims["iat"] and 0 < claims["exp"] - claims["iat"] <= 300


def test_every_probe_has_its_own_key():
    a = forge_probe_token(ISSUER, "api://aud", "s").reveal()
    b = forge_probe_token(ISSUER, "api://aud", "s").reveal()
    assert jwt.get_unverified_header(a)["kid"] != jwt.get_unverified_header(b)["kid"]
    assert a.rsplit(".", 1)[1] != b.rsplit(".", 1)[1]


def test_a_run_signs_its_probes_with_one_key_of_its_own():
    """One key per run (generating one costs tens of ms of CPU): every token still has its own kid and jti, and
    the signature is the run key's, which no issuer's JWKS holds."""
    key = probe_key()
    a = forge_probe_token(ISSUER, "api://aud", "s", key=key).reveal()
    b = forge_probe_token(ISSUER, "api://aud", "s", key=key).reveal()
    for token in (a, b):
        assert jwt.decode(token, key.public_key(), algorithms=["RS256"], audience="api://aud")["iss"] == ISSUER
    assert jwt.get_unverified_header(a)["kid"] != jwt.get_unverified_header(b)["kid"]
    assert jwt.decode(a, options={"verify_signature": False})["jti"] != \
        jwt.decode(b, options={"verify_signature": False})["jti"]
    other = forge_probe_token(ISSUER, "api://aud", "s").reveal()  # without a run key: a key of its own
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(other, key.public_key(), algorithms=["RS256"], audience="api://aud")


def test_probes_are_never_retried():
    import boto3

    client = boto3.session.Session(region_name="us-east-1").client(
        "sts", config=EXCHANGE_BOTO_CONFIG, endpoint_url="http://127.0.0.1:9", aws_access_key_id="x",
        aws_secret_access_key="y")
    assert client.meta.config.retries["total_max_attempts"] == 1  # botocore's max_attempts would count retries


class _Clock:
    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_limiter_allows_a_burst_then_paces_then_caps():
    clock = _Clock()
    limiter = ProbeLimiter(rate=2.0, burst=3, cap=5, clock=clock, sleep=clock.sleep)
    assert all(limiter.acquire() for _ in range(3)) and clock.slept == []
    assert limiter.acquire() and clock.slept == [0.5]  # the bucket is empty: wait for one token at 2/s
    clock.now += 10  # refills, but never beyond the burst
    assert limiter.acquire() and clock.slept == [0.5]
    assert not limiter.acquire()  # the per-run cap
    assert limiter.granted == 5


def test_library_logs_never_show_protected_values(caplog):
    caplog.set_level(logging.DEBUG)
    secret = "s3cr3t-value-of-some-length"
    log = logging.getLogger("botocore.endpoint")
    with protected(Secret(secret)):
        log.debug("Making request with params: %s", {"body": {"WebIdentityToken": "eyJhbGciOi.x.y", "x": secret}})
        log.debug("Response body:\n%r", b"<Credentials><SecretAccessKey>abc/def</SecretAccessKey>"
                                        b"<SessionToken>FQoG+x=</SessionToken></Credentials>")
        logging.getLogger("botocore.parsers").debug(
            "Response body:\n%r", b'{"SecretString": "{\\"client_secret\\": \\"nested-secret-value\\"}"}')
    text = caplog.text
    assert "nested-secret-value" not in text and "Response body:" in text
    assert secret not in text and "eyJhbGciOi" not in text and "abc/def" not in text and "FQoG" not in text
    assert text.count(REDACTED) >= 4
