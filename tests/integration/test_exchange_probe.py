"""The forged probe on the sandbox: each EXCHANGE_* outcome of a probe comes from a real condition.

The STS stand-in (sandbox/sts.py) validates like AWS; the probe is refused at the signature on a healthy account,
which is no finding, only metrics.
"""

from __future__ import annotations

import pytest

from connector_health.findings import Severity
from connector_health.presets import load_preset

pytestmark = pytest.mark.integration

AUDIENCES = load_preset("defender-for-cloud").audiences
SERVERS = "api://AzureSecurityCenter.MultiCloud.DefenderForServers"


def _exchange_ids(by_id):
    return {k for k in by_id if k.startswith("EXCHANGE_")}


def _provider_metrics(result, sandbox):
    return result.stats["exchange"]["providers"][sandbox.issuer.url]


def test_healthy_account_probe_is_refused_at_the_signature(sandbox, scan):
    result, by_id = scan()
    assert _exchange_ids(by_id) == set()
    metrics = _provider_metrics(result, sandbox)
    assert metrics["stage"] == "signature" and metrics["probes"] == len(AUDIENCES)
    assert metrics["latency_ms"] > 0
    assert result.summary()["probes"][sandbox.issuer.url]["stage"] == "signature"
    # One call per audience, none retried; each got the generic InvalidIdentityToken of a bad signature.
    assert sandbox.sts.web_identity_calls() == ["InvalidIdentityToken"] * len(AUDIENCES)
    roles = {p["role_arn"].rsplit("/", 1)[-1] for p in result.stats["exchange"]["probes"]}
    assert len(roles) == len(AUDIENCES)  # one role per audience, not one probe per role
    assert {p["session_name"] for p in result.stats["exchange"]["probes"]} == {
        "MicrosoftDefenderForClouds_0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"}


def test_provider_deleted_is_provider_not_found_beside_provider_missing(sandbox, scan):
    sandbox.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=sandbox.seeded["provider_arn"])
    result, by_id = scan()
    assert "PROVIDER_MISSING" in by_id
    [finding] = by_id["EXCHANGE_PROVIDER_NOT_FOUND"]
    assert finding.severity is Severity.CRITICAL
    assert finding.resource_arn == sandbox.seeded["provider_arn"]
    assert finding.details["sts_code"] == "InvalidIdentityToken"
    assert finding.details["sts_message"] == f"No OpenIDConnect provider found in your account for {sandbox.issuer.url}"
    assert set(finding.details["audiences"]) == set(AUDIENCES)
    # The answer does not depend on the audience: the other audiences were not probed again.
    assert len(sandbox.sts.web_identity_calls()) == 1
    assert _provider_metrics(result, sandbox)["stage"] == "provider"


def test_audience_removed_is_rejected_for_that_audience_only(sandbox, scan):
    iam = sandbox.client("iam")
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=sandbox.seeded["provider_arn"])
    iam.create_open_id_connect_provider(Url=sandbox.issuer.url, ClientIDList=[a for a in AUDIENCES if a != SERVERS],
                                       ThumbprintList=[sandbox.pki.thumbprint])
    result, by_id = scan()
    [finding] = by_id["EXCHANGE_AUDIENCE_REJECTED"]
    assert finding.details["audience"] == SERVERS and finding.details["sts_message"] == "Incorrect token audience"
    assert "DefenderForCloud-DefenderForServers" in finding.message
    assert "PROVIDER_AUDIENCE_MISSING" in by_id
    stages = {p["audience"]: p["stage"] for p in result.stats["exchange"]["probes"]}
    assert stages.pop(SERVERS) == "audience" and set(stages.values()) == {"signature"}


def test_untrusted_chain_is_thumbprint_rejected_until_pinned(sandbox, scan):
    live = sandbox.issuer.switch_to_untrusted_chain()
    _, by_id = scan()
    [finding] = by_id["EXCHANGE_THUMBPRINT_REJECTED"]
    assert finding.severity is Severity.CRITICAL
    assert finding.details["sts_message"] == "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint"
    assert live in finding.message and live in finding.remediation
    sandbox.client("iam").update_open_id_connect_provider_thumbprint(
        OpenIDConnectProviderArn=sandbox.seeded["provider_arn"], ThumbprintList=[live])
    _, by_id = scan()
    assert _exchange_ids(by_id) == set()  # a private chain pinned on the provider is what AWS accepts


def test_issuer_stopped_is_idp_unreachable(sandbox, scan):
    sandbox.issuer.stop()
    _, by_id = scan()
    [finding] = by_id["EXCHANGE_IDP_UNREACHABLE"]
    assert finding.severity is Severity.HIGH
    assert finding.details["sts_message"] == (
        "Couldn't retrieve verification key from your identity provider,  please reference "
        "AssumeRoleWithWebIdentity documentation for requirements")
    assert len(sandbox.sts.web_identity_calls()) == 1


def test_slow_issuer_is_an_idp_communication_error(sandbox, scan):
    sandbox.issuer.delay_seconds = 2.5  # the stand-in, like the monitor, gives the issuer 1 s
    _, by_id = scan()
    [finding] = by_id["EXCHANGE_IDP_UNREACHABLE"]
    assert finding.details["sts_code"] == "IDPCommunicationError"
    assert len(sandbox.sts.web_identity_calls()) == 1  # never retried


def test_sts_that_accepts_anything_is_a_forged_token_accepted(sandbox, scan):
    sandbox.sts.accept_anything = True
    result, by_id = scan()
    findings = by_id["EXCHANGE_FORGED_TOKEN_ACCEPTED"]
    assert len(findings) == len(AUDIENCES)
    assert all(f.severity is Severity.CRITICAL and ":role/" in f.resource_arn for f in findings)
    assert {f.details["assumed_role_arn"].split("/")[1] for f in findings} == {f.resource_arn.rsplit("/", 1)[1]
                                                                               for f in findings}
    assert _provider_metrics(result, sandbox)["stage"] == "credentials"


def test_region_disabled(sandbox, scan):
    sandbox.sts.region_disabled = True
    result, by_id = scan()
    [finding] = by_id["EXCHANGE_REGION_DISABLED"]
    assert finding.details["sts_code"] == "RegionDisabledException" and "us-east-1" in finding.remediation
    assert _provider_metrics(result, sandbox)["stage"] == "region"


def test_sts_that_does_not_answer_is_a_monitor_check_error(sandbox, scan, monkeypatch):
    import socket

    from connector_health.exchange import runner

    with socket.socket() as s:  # a port nobody listens on once the socket is closed
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]

    def unanswered(self, **credentials):
        return self.session.client("sts", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{closed}",
                                   config=runner.EXCHANGE_BOTO_CONFIG)

    monkeypatch.setattr(runner.ExchangeRunner, "_sts", unanswered)
    result, by_id = scan()
    assert _exchange_ids(by_id) == set()  # no answer is no STS verdict
    [error] = [f for f in by_id["MONITOR_CHECK_ERROR"] if f.details.get("action") == "sts:AssumeRoleWithWebIdentity"]
    assert "NoAnswer" in error.message
    probes = result.stats["exchange"]["probes"]
    assert probes[0]["stage"] == "no-answer" and all(p["skipped"] for p in probes[1:])
