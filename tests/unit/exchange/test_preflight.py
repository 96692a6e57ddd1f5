"""Pre-flight names the first stage STS would refuse a real token at."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from connector_health.exchange.preflight import RoleTarget, run_preflight

from .conftest import AUD, ISSUER, SESSION, role, trust


def _run(issuer, provider, token, *, roles=None, audiences=None, session=SESSION, jwks=None, now=None):
    roles = roles if roles is not None else [role()]
    targets = [RoleTarget(r.name, r.arn, r) for r in roles]
    return run_preflight(
        token, issuer=ISSUER, providers=[provider], targets=targets,
        role_audiences=audiences if audiences is not None else {r.name: AUD for r in roles},
        session_name=session, jwks=jwks or (lambda: (issuer.jwks(), None)), region="us-east-1",
        now=now if now is not None else time.time(),
    )


def test_a_good_token_passes_every_stage(issuer, provider):
    result = _run(issuer, provider, issuer.token())
    assert result.passed and result.failed_stage is None
    assert [t.target.name for t in result.admitted] == ["CspmMonitorAws"]
    assert result.claims["aud"] == AUD and result.claims["kid"] == "key-1"


@pytest.mark.parametrize("claims, stage, words", [
    ({"iss": "https://elsewhere.example.com/"}, "issuer", "not the connector's issuer"),
    ({"iss": None}, "issuer", "no `iss`"),
    ({"aud": "api://unknown"}, "audience", "not in the ClientIDList"),
    ({"aud": "api://other"}, "audience", "not the audience of any of the connector's roles"),
])
def test_issuer_and_audience_stages(issuer, provider, claims, stage, words):
    result = _run(issuer, provider, issuer.token(**claims))
    assert not result.passed and result.failed_stage == stage
    assert words in result.reason


def test_missing_provider_fails_the_issuer_stage(issuer, provider):
    result = run_preflight(issuer.token(), issuer=ISSUER, providers=[], targets=[], role_audiences={},
                           session_name=SESSION, jwks=lambda: (issuer.jwks(), None), region="us-east-1", now=time.time())
    assert result.failed_stage == "issuer" and "no IAM OIDC provider" in result.reason


def test_azp_is_what_iam_compares_with_the_client_id_list(issuer, provider):
    # IAM maps azp to :aud (FACTS.md): azp in the list passes even if aud is not ...
    assert _run(issuer, provider, issuer.token(aud="api://not-listed", azp=AUD)).passed
    # ... and aud in the list does not help when azp is not.
    result = _run(issuer, provider, issuer.token(azp="client-x"))
    assert result.failed_stage == "audience" and "azp" in result.reason


def test_signature_stage(issuer, provider):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = _run(issuer, provider, issuer.token(key=other))
    assert forged.failed_stage == "signature" and "does not verify" in forged.reason
    unknown_kid = _run(issuer, provider, issuer.token(kid="rotated-away"))
    assert unknown_kid.failed_stage == "signature" and "rotated-away" in unknown_kid.reason
    hmac = _run(issuer, provider, issuer.token(key="a-shared-secret-of-32-bytes-long!", alg="HS256"))
    assert hmac.failed_stage == "signature" and "HS256" in hmac.reason
    unreachable = _run(issuer, provider, issuer.token(), jwks=lambda: (None, "GET ... timed out"))
    assert unreachable.failed_stage == "signature" and "timed out" in unreachable.reason


def test_expiry_allows_five_minutes_of_skew(issuer, provider):
    assert _run(issuer, provider, issuer.token(lifetime=-240)).passed
    expired = _run(issuer, provider, issuer.token(lifetime=-600))
    assert expired.failed_stage == "expiry" and "expired at" in expired.reason and "300 s" in expired.reason


def test_trust_stage_names_the_failing_condition(issuer, provider):
    narrowed = role(policy=trust(session="MicrosoftSentinel_*"))
    result = _run(issuer, provider, issuer.token(), roles=[narrowed])
    assert not result.passed and result.failed_stage is None
    [verdict] = result.refused
    assert "sts:RoleSessionName wants MicrosoftSentinel_*" in verdict.reason and SESSION in verdict.reason


def test_trust_is_judged_per_role(issuer, provider):
    good, bad = role("A"), role("B", trust(session="MicrosoftSentinel_*"))
    result = _run(issuer, provider, issuer.token(), roles=[good, bad])
    assert result.passed
    assert [t.target.name for t in result.admitted] == ["A"] and [t.target.name for t in result.refused] == ["B"]


def test_conditions_on_the_callers_network_are_left_to_sts(issuer, provider):
    ip_bound = role(policy=trust(extra={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))
    result = _run(issuer, provider, issuer.token(), roles=[ip_bound])
    assert result.passed
    assert result.admitted[0].uncertain_keys == ["aws:SourceIp"]


def test_an_explicit_deny_is_named(issuer, provider):
    policy = trust()
    policy["Statement"].append({"Sid": "NoApp1", "Effect": "Deny", "Principal": "*", "Action": "sts:*",
                                "Condition": {"StringEquals": {f"{ISSUER.removeprefix('https://')}:sub": "app-1"}}})
    result = _run(issuer, provider, issuer.token(), roles=[role(policy=policy)])
    assert "explicitly denies" in result.refused[0].reason and "NoApp1" in result.refused[0].reason


def test_a_missing_role_is_refused(issuer, provider):
    targets = [RoleTarget("Gone", "arn:aws:iam::123456789012:role/Gone", None)]
    result = run_preflight(issuer.token(), issuer=ISSUER, providers=[provider], targets=targets,
                           role_audiences={"Gone": AUD}, session_name=SESSION, jwks=lambda: (issuer.jwks(), None),
                           region="us-east-1", now=time.time())
    assert not result.passed and "does not exist" in result.refused[0].reason


def test_garbage_is_not_decoded(issuer, provider):
    result = _run(issuer, provider, "not.a.jwt")
    assert not result.passed and "cannot be decoded" in result.reason
