"""The EXCHANGE_* checks read the runner's results: one finding per provider-wide answer, raw answers kept."""

from __future__ import annotations

import datetime as dt

from connector_health.checks import CheckContext, get_check
from connector_health.collect.aws import AccountSnapshot
from connector_health.config import parse_config
from connector_health.exchange.classify import PROBE_CHECK, STAGE_OF, Outcome, classify
from connector_health.exchange.runner import ExchangeResults, ProbeResult, RealExchangeResult

ISSUER = "https://sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
PROVIDER = "arn:aws:iam::123456789012:oidc-provider/sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
AUDS = ["api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479", "api://AzureSecurityCenter.MultiCloud.DefenderForServers"]


def _ctx(results: ExchangeResults | None) -> CheckContext:
    config = parse_config({"connectors": [{"name": "defender", "preset": "defender-for-cloud",
                                           "customer_tenant_id": "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"}]})
    return CheckContext(config=config, connector=config.resolved_connectors()[0],
                        snapshot=AccountSnapshot(account_id="123456789012"), issuer=None,
                        now=dt.datetime.now(dt.timezone.utc), extras={"exchanges": results})


def _probe(aud: str, code: str | None, message: str, inherited: str | None = None) -> ProbeResult:
    outcome = classify(code, message)
    return ProbeResult(ISSUER, PROVIDER, aud, f"arn:aws:iam::123456789012:role/R{aud[-3:]}", "s", ["defender"],
                       outcome=outcome, check_id=PROBE_CHECK[outcome], stage=STAGE_OF[outcome], code=code,
                       message=message, latency_ms=None if inherited else 12.0, inherited_from=inherited)


def _run(check_id: str, results: ExchangeResults | None):
    return list(get_check(check_id).run(_ctx(results)))


def test_no_results_no_findings():
    assert _run("EXCHANGE_PROVIDER_NOT_FOUND", None) == []


def test_the_expected_rejection_gives_no_finding():
    results = ExchangeResults(probes=[_probe(a, "InvalidIdentityToken", "could not be validated") for a in AUDS])
    from connector_health.checks import all_checks

    assert [f for c in all_checks() if c.id.startswith("EXCHANGE_") for f in c.run(_ctx(results))] == []


def test_provider_wide_answers_give_one_finding_with_the_raw_answer():
    message = f"No OpenIDConnect provider found in your account for {ISSUER}"
    results = ExchangeResults(probes=[_probe(AUDS[0], "InvalidIdentityToken", message),
                                      _probe(AUDS[1], "InvalidIdentityToken", message, inherited=AUDS[0])])
    [finding] = _run("EXCHANGE_PROVIDER_NOT_FOUND", results)
    assert finding.resource_arn == PROVIDER and finding.severity.value == "critical"
    assert finding.details["sts_code"] == "InvalidIdentityToken" and finding.details["sts_message"] == message
    assert finding.details["audiences"] == AUDS
    assert ISSUER in finding.remediation


def test_audience_rejections_are_per_audience_and_name_the_roles():
    results = ExchangeResults(probes=[_probe(AUDS[1], "InvalidIdentityToken", "Incorrect token audience")])
    [finding] = _run("EXCHANGE_AUDIENCE_REJECTED", results)
    assert finding.details["audience"] == AUDS[1]
    assert set(finding.details["roles"]) == {"DefenderForCloud-DefenderForServers", "DefenderForCloud-ArcAutoProvisioning"}


def test_unknown_answers_are_inconclusive_info_with_code_and_message():
    results = ExchangeResults(probes=[_probe(AUDS[0], "Throttling", "Rate exceeded")])
    [finding] = _run("EXCHANGE_INCONCLUSIVE", results)
    assert finding.severity.value == "info" and "Throttling: Rate exceeded" in finding.message
    assert finding.details["sts_code"] == "Throttling" and finding.details["sts_message"] == "Rate exceeded"


def test_real_exchange_findings_keep_the_stage():
    results = ExchangeResults(exchanges=[RealExchangeResult(
        connector="defender", source="file", stage="preflight", check_id="EXCHANGE_PREFLIGHT_FAILED",
        resource_arn="connector:defender", reason="the token expired at ...", preflight_stage="expiry",
        claims={"aud": AUDS[0]})])
    [finding] = _run("EXCHANGE_PREFLIGHT_FAILED", results)
    assert "stage 'expiry'" in finding.message and finding.details["preflight_stage"] == "expiry"
    assert "refresh" in finding.remediation
    assert finding.details["token_claims"] == {"aud": AUDS[0]}


def test_metrics_report_the_least_healthy_stage_per_provider():
    results = ExchangeResults(probes=[
        _probe(AUDS[0], "InvalidIdentityToken", "could not be validated"),
        _probe(AUDS[1], "InvalidIdentityToken", "Incorrect token audience"),
    ])
    provider = results.metrics()["providers"][ISSUER]
    assert provider["stage"] == "audience" and provider["probes"] == 2 and provider["latency_ms"] == 12.0
    assert results.summary()["probes"][ISSUER] == {"stage": "audience", "latency_ms": 12.0}
    accepted = ExchangeResults(probes=[_probe(AUDS[0], None, "")])
    assert accepted.metrics()["providers"][ISSUER]["stage"] == "credentials"
    assert Outcome.CREDENTIALS_ISSUED.value == accepted.metrics()["probes"][0]["outcome"]
