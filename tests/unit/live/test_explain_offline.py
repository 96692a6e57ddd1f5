"""`connector-health explain` offline: a policy file with claims, a token or a CloudTrail record; exit status 0/1/2;
the token never printed."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from connector_health import cli

from .conftest import CSPM_AUD, ISSUER, PROVIDER_ARN, SESSION
from .corpus import EKS_IRSA_ACCESS_DENIED, EKS_IRSA_POLICY

SENTINEL_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Federated": PROVIDER_ARN}, "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {"StringLike": {f"{ISSUER.removeprefix('https://')}:aud": CSPM_AUD,
                                 "sts:RoleSessionName": "MicrosoftSentinel_*"}}}]}


@pytest.fixture(autouse=True)
def no_config(monkeypatch):
    monkeypatch.delenv("CONNECTOR_HEALTH_CONFIG", raising=False)


@pytest.fixture
def policy(tmp_path):
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(SENTINEL_POLICY))
    return path


def run(capsys, *argv):
    code = cli.main(["explain", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_claims_refused_by_the_session_name_condition(policy, capsys):
    claims = json.dumps({"iss": ISSUER, "aud": CSPM_AUD, "sub": "app"})
    code, out, _ = run(capsys, "--policy", str(policy), "--claims", claims, "--session-name", SESSION,
                       "--provider-audience", CSPM_AUD, "--format", "json")
    assert code == 1
    doc = json.loads(out)
    [finding] = doc["findings"]
    assert finding["check_id"] == "EXCHANGE_PREFLIGHT_FAILED" and finding["details"]["stage"] == "trust"
    [explanation] = doc["summary"]["explanations"]
    assert {s["name"]: s["status"] for s in explanation["stages"]} == {
        "provider": "pass", "audience": "pass", "signature": "skipped", "expiry": "skipped", "trust": "fail"}
    assert explanation["first_refusing_condition"]["key"] == "sts:RoleSessionName"
    assert explanation["first_refusing_condition"]["wanted"] == ["MicrosoftSentinel_*"]


def test_admitted_claims_exit_0_and_unknowns_are_said(policy, capsys):
    claims = json.dumps({"iss": ISSUER, "aud": CSPM_AUD, "sub": "app"})
    code, out, _ = run(capsys, "--policy", str(policy), "--claims", claims, "--session-name", "MicrosoftSentinel_x")
    assert code == 0
    assert "offline: whether an IAM OIDC provider" in out and "Verdict: undecided" in out
    code, out, _ = run(capsys, "--policy", str(policy), "--claims", claims)
    assert code == 0 and "pass --session-name" in out  # the policy tests a session name nobody gave


def test_an_audience_outside_the_stated_client_id_list(policy, capsys):
    claims = json.dumps({"iss": ISSUER, "aud": "api://other", "sub": "app"})
    code, out, _ = run(capsys, "--policy", str(policy), "--claims", claims, "--session-name", "MicrosoftSentinel_x",
                       "--provider-audience", CSPM_AUD)
    assert code == 1 and "Verdict: refused at stage 'audience'" in out and "Incorrect token audience" in out


def test_a_token_is_decoded_checked_and_never_printed(policy, tmp_path, capsys):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    token = jwt.encode({"iss": "https://elsewhere.example/", "aud": CSPM_AUD, "sub": "app", "exp": now - 3600},
                       key, algorithm="RS256", headers={"kid": "k1"})
    path = tmp_path / "token"
    path.write_text(token + "\n")
    code, out, err = run(capsys, "--policy", str(policy), "--token", f"@{path}", "--session-name", "x",
                         "--format", "json")
    assert code == 1 and token not in out + err
    [explanation] = json.loads(out)["summary"]["explanations"]
    stages = {s["name"]: s for s in explanation["stages"]}
    assert stages["decode"]["status"] == "pass" and stages["expiry"]["status"] == "fail"
    # An issuer the policy does not trust is never contacted for its keys.
    assert stages["signature"]["status"] == "unknown" and "not fetched" in stages["signature"]["detail"]
    assert stages["trust"]["status"] == "fail" and "no Allow statement" in stages["trust"]["detail"]
    code, out, err = run(capsys, "--policy", str(policy), "--token", "not-a-jwt-secret-value")
    assert code == 1 and "not-a-jwt-secret-value" not in out + err and "cannot be decoded" in out


def test_a_recorded_refusal_from_a_file(tmp_path, capsys):
    """The real EKS refusal against the policy its notes document: STS refused it then, the policy admits the
    caller now: the stage is still the trust stage and the text says the policy changed."""
    event, policy = tmp_path / "event.json", tmp_path / "policy.json"
    event.write_text(json.dumps({"Records": [EKS_IRSA_ACCESS_DENIED]}))
    policy.write_text(json.dumps(EKS_IRSA_POLICY))
    code, out, _ = run(capsys, "--policy", str(policy), "--cloudtrail-event", str(event), "--format", "json")
    assert code == 1
    doc = json.loads(out)
    [finding] = doc["findings"]
    assert finding["check_id"] == "EXCHANGE_LIVE_FAILURES"
    [explanation] = doc["summary"]["explanations"]
    assert explanation["stages"][-1]["name"] == "trust" and explanation["stages"][-1]["status"] == "fail"
    assert "STS refused it then" in explanation["stages"][-1]["detail"]
    assert explanation["event"]["event_id"] == EKS_IRSA_ACCESS_DENIED["eventID"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--claims", "{not json"], "--claims: invalid JSON"),
    (["--claims", "[1, 2]"], "must be a JSON object"),
    (["--claims", "{}", "--policy", "/nonexistent/policy.json"], "cannot read"),
    (["--token", "x"], "--role NAME|ARN or --policy FILE is needed"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_file_without_web_identity_records(policy, tmp_path, capsys):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"Records": [{"eventName": "ListRoles"}]}))
    code, _, err = run(capsys, "--policy", str(policy), "--cloudtrail-event", str(event))
    assert code == 2 and "no AssumeRoleWithWebIdentity record" in err
