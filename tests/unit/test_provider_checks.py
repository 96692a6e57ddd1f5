"""Provider checks on pure inputs: thresholds, case rules and registry invariants that the sandbox cannot vary."""

from __future__ import annotations

import datetime as dt

import pytest

from connector_health.catalog import DEFAULT_SEVERITY
from connector_health.checks import CheckContext, all_checks, get_check, required_permissions
from connector_health.collect.aws import AccountSnapshot, OidcProvider, provider_key
from connector_health.collect.issuer import CertInfo, HostTls, IssuerReport
from connector_health.config import parse_config
from connector_health.findings import Severity

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)
ISSUER = "https://token.actions.githubusercontent.com"


def _ctx(*, thumbprints=("aa" * 20,), chain_days=(400, 900), publicly_trusted=True, client_ids=("sts.amazonaws.com",)):
    config = parse_config({"connectors": [{"name": "gh", "preset": "github-actions"}]})
    [conn] = config.resolved_connectors()
    snap = AccountSnapshot(account_id="111122223333", providers_complete=True, roles_complete=True)
    snap.providers.append(OidcProvider(
        arn="arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com",
        url=ISSUER, client_ids=list(client_ids), thumbprints=list(thumbprints)))
    chain = [CertInfo(f"CN=c{i}", "CN=x", ("aa" if i else "bb") * 20, NOW + dt.timedelta(days=d))
             for i, d in enumerate(chain_days)]
    host = HostTls("token.actions.githubusercontent.com", 443, chain=chain, publicly_trusted=publicly_trusted)
    report = IssuerReport(issuer=ISSUER, discovery_url=ISSUER + "/.well-known/openid-configuration",
                          discovery={"issuer": ISSUER}, hosts=[host])
    return CheckContext(config=config, connector=conn, snapshot=snap, issuer=report, now=NOW)


def _run(check_id, ctx):
    return list(get_check(check_id).run(ctx))


def test_every_check_is_catalogued_and_self_describing():
    checks = all_checks()
    assert {c.id for c in checks} >= {
        "PROVIDER_MISSING", "PROVIDER_AUDIENCE_MISSING", "PROVIDER_AUDIENCE_UNEXPECTED", "PROVIDER_THUMBPRINT_MISMATCH",
        "PROVIDER_CERT_EXPIRING", "PROVIDER_DISCOVERY_UNREACHABLE", "PROVIDER_ISSUER_MISMATCH",
        "PROVIDER_JWKS_UNREACHABLE", "MONITOR_ACCESS_DENIED", "MONITOR_CHECK_ERROR", "MONITOR_CONFIG_ERROR"}
    for check in checks:
        assert check.id in DEFAULT_SEVERITY
        assert check.title and check.remediation and check.scope in ("connector", "account")
    assert "iam:ListOpenIDConnectProviders" in required_permissions()
    # Reads only; DetectStackDrift starts a read-only drift detection (STACK_DRIFTED); cloudtrail:LookupEvents is a
    # Read action (EXCHANGE_LIVE_*; access levels are checked against AWS's reference in tests/infra).
    assert not [a for a in required_permissions()
                if not a.split(":")[1].startswith(("Get", "List", "Describe", "Lookup"))
                and a != "cloudformation:DetectStackDrift"]


def test_thumbprint_compare_is_case_insensitive():
    # IAM has returned both cases (FACTS.md): an upper-case pin of the live thumbprint is a match.
    assert _run("PROVIDER_THUMBPRINT_MISMATCH", _ctx(thumbprints=("AA" * 20,))) == []
    assert len(_run("PROVIDER_THUMBPRINT_MISMATCH", _ctx(thumbprints=("AB" * 20,)))) == 1


def test_thumbprint_mismatch_severity_follows_public_trust():
    [public] = _run("PROVIDER_THUMBPRINT_MISMATCH", _ctx(thumbprints=("cc" * 20,)))
    [private] = _run("PROVIDER_THUMBPRINT_MISMATCH", _ctx(thumbprints=("cc" * 20,), publicly_trusted=False))
    assert public.severity is Severity.MEDIUM and private.severity is Severity.HIGH


@pytest.mark.parametrize(
    "days, expected",
    [((400, 900), []), ((31, 900), []), ((29, 900), ["medium"]), ((6, 900), ["high"]), ((-1, 900), ["high"]),
     ((400, 10), ["medium"]), ((3, 2), ["high", "high"])],
)
def test_cert_expiry_windows(days, expected):
    found = _run("PROVIDER_CERT_EXPIRING", _ctx(chain_days=days))
    assert sorted(f.severity.value for f in found) == sorted(expected)
    if days[0] < 0:
        assert "expired" in found[0].message


def test_severity_override_from_config():
    ctx = _ctx(client_ids=("sts.amazonaws.com", "other"))
    ctx.connector.severities["PROVIDER_AUDIENCE_UNEXPECTED"] = Severity.LOW
    [finding] = _run("PROVIDER_AUDIENCE_UNEXPECTED", ctx)
    assert finding.severity is Severity.LOW


def test_unresolved_issuer_is_a_config_error():
    config = parse_config({"connectors": [{"name": "gh", "preset": "github-actions"}]})
    ctx = _ctx()
    object.__setattr__(ctx.connector, "issuer", "https://sts.windows.net/{customer_tenant_id}/")
    [finding] = _run("MONITOR_CONFIG_ERROR", ctx)
    assert "not fully resolved" in finding.message
    assert config  # the config itself was valid: the problem shows at run time


@pytest.mark.parametrize(
    "url, key",
    [("https://Token.Actions.GithubUserContent.com", "token.actions.githubusercontent.com"),
     ("sts.windows.net/tid/", "sts.windows.net/tid/"),
     ("https://oidc.eks.us-east-1.amazonaws.com/id/ABC", "oidc.eks.us-east-1.amazonaws.com/id/ABC")],
)
def test_provider_key(url, key):
    assert provider_key(url) == key
