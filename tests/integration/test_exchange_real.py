"""Real exchanges on the sandbox: token sources, pre-flight, AssumeRoleWithWebIdentity, GetCallerIdentity.

Tokens come from the local issuer's client-credentials endpoint (the `entra-client-credentials` source pointed at
its authority) or from a file; every EXCHANGE_* outcome of a real token comes from a real condition.
"""

from __future__ import annotations

import json
import logging

import pytest

from connector_health.config import parse_config
from connector_health.engine import scan_account
from connector_health.exchange import runner as exchange_runner
from connector_health.findings import Severity
from connector_health.sandbox.issuer import DEFENDER_TENANT

pytestmark = pytest.mark.integration

CSPM_AUD = "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479"
SECRET_ENV = "CH_TEST_CLIENT_SECRET"


def _entra(sandbox, **overrides):
    return {"type": "entra-client-credentials", "tenant_id": DEFENDER_TENANT, "client_id": sandbox.token_client_id,
            "scope": f"{CSPM_AUD}/.default", "secret_env": SECRET_ENV, "authority": sandbox.issuer.authority} | overrides


def _config(sandbox, token_source, **connector):
    data = sandbox.config_dict()
    data["connectors"][0] |= {"token_source": token_source} | connector
    return data


def _scan(data):
    result = scan_account(parse_config(data))
    by_id: dict[str, list] = {}
    for finding in result.findings:
        by_id.setdefault(finding.check_id, []).append(finding)
    return result, by_id


def _exchange_ids(by_id):
    return {k for k in by_id if k.startswith("EXCHANGE_")}


@pytest.fixture
def secret_env(sandbox, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, sandbox.token_client_secret)


def _narrow_trust(sandbox, role, extra_condition=None, session_prefix=None):
    iam = sandbox.client("iam")
    doc = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    statement = doc["Statement"][0]
    if extra_condition:
        statement["Condition"] |= extra_condition
    if session_prefix:
        statement["Condition"]["StringLike"]["sts:RoleSessionName"] = session_prefix + "*"
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(doc))


def test_real_token_is_exchanged_and_the_credentials_work(sandbox, secret_env):
    result, by_id = _scan(_config(sandbox, _entra(sandbox)))
    assert _exchange_ids(by_id) == set()
    [exchange] = result.stats["exchange"]["real_exchanges"]
    assert exchange["stage"] == "done" and exchange["check_id"] is None
    assert exchange["role_arn"].endswith(":role/CspmMonitorAws")
    assert result.summary()["real_exchanges"] == {"defender": ["done"]}
    # Probes, then the real token once; GetCallerIdentity went through the stand-in to moto.
    assert sandbox.sts.web_identity_calls().count(None) == 1
    assert ("GetCallerIdentity", None) in sandbox.sts.calls


def test_trust_narrowed_to_a_network_is_access_denied_and_nothing_leaks(sandbox, tmp_path, caplog, capsys, monkeypatch):
    """The secret from Secrets Manager, the real token and the probe tokens never reach logs, output or findings."""
    secret_arn = sandbox.client("secretsmanager").create_secret(
        Name="connector-health/entra", SecretString=json.dumps({"client_secret": sandbox.token_client_secret}))["ARN"]
    issued: list[str] = []
    issue = sandbox.issuer.issue_token
    monkeypatch.setattr(sandbox.issuer, "issue_token", lambda *a, **k: issued.append(issue(*a, **k)) or issued[-1])
    probes: list[str] = []
    forge = exchange_runner.forge_probe_token
    monkeypatch.setattr(exchange_runner, "forge_probe_token",
                        lambda *a, **k: probes.append(forge(*a, **k)) or probes[-1])
    # Only the connector's own addresses may assume the role: the monitor's exchange comes from elsewhere.
    _narrow_trust(sandbox, "CspmMonitorAws", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})

    caplog.set_level(logging.DEBUG)  # from here on, everything botocore & co. log is captured (the setup above is not)
    caplog.clear()
    data = _config(sandbox, _entra(sandbox, secret_env=None, secret_arn=secret_arn))
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(data))
    from connector_health.cli import main

    status = main(["check", "--config", str(path), "--format", "json"])
    out = capsys.readouterr()
    doc = json.loads(out.out)
    [finding] = [f for f in doc["findings"] if f["check_id"] == "EXCHANGE_ACCESS_DENIED"]
    assert status == 1 and finding["severity"] == "critical"
    assert finding["resource_arn"].endswith(":role/CspmMonitorAws")
    assert finding["details"]["sts_message"] == "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    assert finding["details"]["preflight_undecided_keys"] == ["aws:SourceIp"]
    assert finding["details"]["token_claims"]["aud"] == CSPM_AUD

    result, _ = _scan(data)  # and the same through the engine, for its stats
    assert len(issued) == 2 and len(probes) >= 12
    secrets = [sandbox.token_client_secret, *issued, *(p.reveal() for p in probes)]
    haystacks = {
        "logs": caplog.text + "".join(r.getMessage() for r in caplog.records),
        "stdout/stderr": out.out + out.err + "".join(capsys.readouterr()),
        "findings": json.dumps([f.to_dict() for f in result.findings]) + out.out,
        "stats": json.dumps(result.stats, default=str) + json.dumps(result.summary(), default=str),
    }
    assert "AssumeRoleWithWebIdentity" in haystacks["logs"]  # DEBUG logging was really on
    for where, text in haystacks.items():
        for value in secrets:
            assert value not in text, f"a secret reached the {where}"
        for part in {s.split(".")[-1] for s in secrets[1:]}:  # not even a token's signature
            assert part not in text, f"a token signature reached the {where}"


def test_trust_narrowed_to_the_old_session_prefix_fails_preflight(sandbox, secret_env):
    # The March 2025 incident the other way round: the role now wants the old MicrosoftSentinel_ prefix.
    _narrow_trust(sandbox, "CspmMonitorAws", session_prefix="MicrosoftSentinel_")
    result, by_id = _scan(_config(sandbox, _entra(sandbox)))
    [finding] = by_id["EXCHANGE_PREFLIGHT_FAILED"]
    assert finding.severity is Severity.HIGH and finding.details["preflight_stage"] == "trust"
    assert "sts:RoleSessionName wants MicrosoftSentinel_*" in finding.message
    assert None not in sandbox.sts.web_identity_calls()  # the token was never presented
    assert "EXCHANGE_ACCESS_DENIED" not in by_id


def test_token_endpoint_aadsts_error_is_token_source_failed(sandbox, secret_env):
    sandbox.issuer.token_error = ("AADSTS7000222", "The provided client secret keys for app '5f0c3a52' are expired.")
    _, by_id = _scan(_config(sandbox, _entra(sandbox)))
    [finding] = by_id["EXCHANGE_TOKEN_SOURCE_FAILED"]
    assert finding.severity is Severity.HIGH and finding.resource_arn == "connector:defender"
    assert "AADSTS7000222" in finding.message and "expired" in finding.message
    assert finding.details["aadsts"] == "AADSTS7000222" and finding.details["http_status"] == 400


def test_wrong_client_secret_is_token_source_failed(sandbox, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "not-the-secret")
    _, by_id = _scan(_config(sandbox, _entra(sandbox)))
    [finding] = by_id["EXCHANGE_TOKEN_SOURCE_FAILED"]
    assert finding.details["aadsts"] == "AADSTS7000215" and "not-the-secret" not in json.dumps(finding.to_dict())


def test_expired_token_from_a_file_fails_preflight_at_expiry(sandbox, tmp_path):
    path = tmp_path / "token"
    path.write_text(sandbox.issuer.issue_token({"aud": CSPM_AUD, "sub": "app"}, lifetime=-900))
    _, by_id = _scan(_config(sandbox, {"type": "file", "path": str(path)}))
    [finding] = by_id["EXCHANGE_PREFLIGHT_FAILED"]
    assert finding.details["preflight_stage"] == "expiry" and "stage 'expiry'" in finding.message
    assert "refresh" in finding.remediation


def test_credentials_refused_after_issue_are_unusable(sandbox, secret_env):
    sandbox.sts.invalidate_issued_credentials = True
    result, by_id = _scan(_config(sandbox, _entra(sandbox)))
    [finding] = by_id["EXCHANGE_CREDENTIALS_UNUSABLE"]
    assert finding.details["sts_code"] == "InvalidClientTokenId"
    assert result.stats["exchange"]["real_exchanges"][0]["stage"] == "caller-identity"


def test_an_answer_nobody_classified_is_inconclusive(sandbox, secret_env):
    """A session name STS refuses (ValidationError) is no outcome CHECKS.md names: reported as is."""
    iam = sandbox.client("iam")
    issuer_key = sandbox.issuer.url.removeprefix("https://")
    iam.create_role(RoleName="ConnectorHealthTestApp", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": sandbox.seeded["provider_arn"]},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{issuer_key}:aud": CSPM_AUD, f"{issuer_key}:sub": sandbox.token_client_id}},
        }]}))
    data = _config(sandbox, _entra(sandbox))
    data["connectors"][0] = {
        "name": "own-app", "preset": "generic", "issuer": sandbox.issuer.url, "audiences": [CSPM_AUD],
        "roles": [{"name": "ConnectorHealthTestApp", "audience": CSPM_AUD}],
        "caller": {"sub": sandbox.token_client_id, "session_name": "connector health"},
        "token_source": _entra(sandbox),
    }
    result, by_id = _scan(data)
    [finding] = by_id["EXCHANGE_INCONCLUSIVE"]
    assert finding.severity is Severity.INFO and finding.details["sts_code"] == "ValidationError"
    assert "roleSessionName" in finding.details["sts_message"]
    # The probe used a session name STS accepts, and was refused at the signature as it should be.
    assert result.stats["exchange"]["providers"][sandbox.issuer.url]["stage"] == "signature"
