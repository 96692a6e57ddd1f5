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


def _ctx(*, thumbprints=("aa" * 20,), chain_days=(400, 900), publicly_trusted=True, client_ids=("sts.amazonaws.com",),
         issuer=ISSUER, jwks_uri=None):
    connector = {"name": "gh", "preset": "github-actions"} if issuer == ISSUER else \
        {"name": "gen", "preset": "generic", "issuer": issuer, "audiences": list(client_ids)}
    config = parse_config({"connectors": [connector]})
    [conn] = config.resolved_connectors()
    snap = AccountSnapshot(account_id="111122223333", providers_complete=True, roles_complete=True)
    host_name = issuer.removeprefix("https://").split("/")[0]
    snap.providers.append(OidcProvider(
        arn=f"arn:aws:iam::111122223333:oidc-provider/{issuer.removeprefix('https://')}",
        url=issuer, client_ids=list(client_ids), thumbprints=list(thumbprints)))
    chain = [CertInfo(f"CN=c{i}", "CN=x", ("aa" if i else "bb") * 20, NOW + dt.timedelta(days=d))
             for i, d in enumerate(chain_days)]
    host = HostTls(host_name, 443, chain=chain, publicly_trusted=publicly_trusted)
    report = IssuerReport(issuer=issuer, discovery_url=issuer + "/.well-known/openid-configuration",
                          discovery={"issuer": issuer}, hosts=[host], jwks_uri=jwks_uri)
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
    # Reads only; DetectStackDrift starts a read-only drift detection, DetectStackResourceDrift is authorised for
    # each resource it checks (STACK_DRIFTED); cloudtrail:LookupEvents is a Read action (EXCHANGE_LIVE_*);
    # tests/infra/test_least_privilege.py checks every access level against AWS's reference.
    drift = {"cloudformation:DetectStackDrift", "cloudformation:DetectStackResourceDrift"}
    assert not [a for a in required_permissions()
                if not a.split(":")[1].startswith(("Get", "List", "Describe", "Lookup")) and a not in drift]


def test_thumbprint_compare_is_case_insensitive():
    # IAM has returned both cases (FACTS.md): an upper-case pin of the live thumbprint is a match.
    assert _run("PROVIDER_THUMBPRINT_MISMATCH", _ctx(thumbprints=("AA" * 20,))) == []
    assert len(_run("PROVIDER_THUMBPRINT_MISMATCH", _ctx(thumbprints=("AB" * 20,)))) == 1


def test_thumbprint_mismatch_severity_follows_public_trust():
    other = "https://oidc.example.com"
    [public] = _run("PROVIDER_THUMBPRINT_MISMATCH", _ctx(thumbprints=("cc" * 20,), issuer=other))
    [private] = _run("PROVIDER_THUMBPRINT_MISMATCH", _ctx(thumbprints=("cc" * 20,), publicly_trusted=False, issuer=other))
    assert public.severity is Severity.MEDIUM and private.severity is Severity.HIGH


@pytest.mark.parametrize("issuer, jwks_uri", [
    (ISSUER, None), ("https://gitlab.com", None), ("https://accounts.google.com", None),
    ("https://example-tenant.eu.auth0.com/", None),
    ("https://oidc.example.com", "https://example-keys.s3.eu-west-1.amazonaws.com/jwks.json"),
])
def test_thumbprint_is_info_for_issuers_aws_verifies_with_its_ca_library(issuer, jwks_uri):
    # FACTS.md: AWS verifies these issuers' certificates with its CA library and never uses the pinned thumbprints,
    # so a stale pin is information, whatever the chain (CHECKS.md PROVIDER_THUMBPRINT_MISMATCH).
    [finding] = _run("PROVIDER_THUMBPRINT_MISMATCH", _ctx(thumbprints=("cc" * 20,), publicly_trusted=False,
                                                           issuer=issuer, jwks_uri=jwks_uri))
    assert finding.severity is Severity.INFO and finding.details["verified_by_aws_ca_library"]
    assert "does not use the pinned thumbprints" in finding.message


def test_thumbprint_of_self_managed_gitlab_still_matters():
    [finding] = _run("PROVIDER_THUMBPRINT_MISMATCH", _ctx(thumbprints=("cc" * 20,), publicly_trusted=False,
                                                           issuer="https://gitlab.example.com"))
    assert finding.severity is Severity.HIGH


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
