"""Each PROVIDER_* check fires on a real condition of the sandbox and stays silent on the healthy account."""

from __future__ import annotations

import json

import pytest

from connector_health.findings import Severity
from connector_health.presets import load_preset

pytestmark = pytest.mark.integration

DEFENDER_AUDIENCES = load_preset("defender-for-cloud").audiences


def _recreate_provider(sandbox, client_ids, thumbprints=None):
    iam = sandbox.client("iam")
    arn = sandbox.seeded["provider_arn"]
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    return iam.create_open_id_connect_provider(
        Url=sandbox.issuer.url, ClientIDList=client_ids, ThumbprintList=thumbprints or [sandbox.pki.thumbprint]
    )["OpenIDConnectProviderArn"]


def test_healthy_account_has_no_findings(sandbox, scan):
    result, by_id = scan()
    assert result.findings == []
    assert result.snapshot.roles_complete and result.snapshot.providers_complete
    assert len(result.snapshot.roles) == len(sandbox.seeded["roles"]) == 10  # the preset's plan roles
    report = result.issuers[sandbox.issuer.url]
    assert report.discovery_error is None and report.jwks_error is None
    assert report.key_ids == [sandbox.issuer.keys[0].kid]
    # The thumbprint comes from a real handshake and equals the intermediate's SHA-1 (last certificate sent).
    assert report.hosts[0].top.sha1 == sandbox.pki.thumbprint
    assert len(report.hosts[0].chain) == 2
    assert report.hosts[0].publicly_trusted


def test_rotated_intermediate_is_a_thumbprint_mismatch(sandbox, scan):
    old = sandbox.pki.thumbprint
    new = sandbox.issuer.rotate_intermediate()
    _, by_id = scan()
    [finding] = by_id["PROVIDER_THUMBPRINT_MISMATCH"]
    # Public chain: AWS relies on its CA library, so the stale pin is medium (CHECKS.md).
    assert finding.severity is Severity.MEDIUM
    assert new in finding.message and old in finding.message
    assert finding.details["live_thumbprint"] == new
    assert finding.details["pinned_thumbprints"] == [old]
    assert f"--thumbprint-list {new} {old}" in finding.remediation
    assert set(by_id) == {"PROVIDER_THUMBPRINT_MISMATCH"}


def test_untrusted_chain_is_high_and_blocks_discovery(sandbox, scan):
    sandbox.issuer.switch_to_untrusted_chain()
    _, by_id = scan()
    [finding] = by_id["PROVIDER_THUMBPRINT_MISMATCH"]
    assert finding.severity is Severity.HIGH
    assert not finding.details["publicly_trusted"]
    assert "not pinned" in by_id["PROVIDER_DISCOVERY_UNREACHABLE"][0].message


def test_untrusted_chain_that_is_pinned_is_healthy(sandbox, scan):
    new = sandbox.issuer.switch_to_untrusted_chain()
    sandbox.client("iam").update_open_id_connect_provider_thumbprint(
        OpenIDConnectProviderArn=sandbox.seeded["provider_arn"], ThumbprintList=[new]
    )
    result, _ = scan()
    assert result.findings == []


def test_closed_port_is_discovery_unreachable(sandbox, scan):
    sandbox.issuer.stop()
    _, by_id = scan()
    [finding] = by_id["PROVIDER_DISCOVERY_UNREACHABLE"]
    assert "cannot connect" in finding.message
    assert "PROVIDER_THUMBPRINT_MISMATCH" not in by_id  # no chain, no verdict on the pin


def test_slow_issuer_beyond_the_timeout(sandbox, scan):
    sandbox.issuer.delay_seconds = 2.5  # the sandbox config's timeout is 1 s
    _, by_id = scan()
    [finding] = by_id["PROVIDER_DISCOVERY_UNREACHABLE"]
    assert "timed out" in finding.message


def test_wrong_issuer_in_discovery(sandbox, scan):
    sandbox.issuer.wrong_issuer = "https://login.example.invalid/other-tenant/"
    _, by_id = scan()
    [finding] = by_id["PROVIDER_ISSUER_MISMATCH"]
    assert "https://login.example.invalid/other-tenant/" in finding.message
    assert finding.severity is Severity.HIGH


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"<html>maintenance</html>", "not JSON"),
        (b'{"keys": "nope"}', "no `keys` list"),
        (json.dumps({"keys": [{"kty": "RSA", "kid": "x", "n": "!!", "e": "AQAB"}, {"kty": "oct", "k": "c2VjcmV0"}]}).encode(),
         "no usable RSA/EC signing key"),
    ],
)
def test_garbage_jwks(sandbox, scan, body, reason):
    sandbox.issuer.jwks_override = body
    _, by_id = scan()
    [finding] = by_id["PROVIDER_JWKS_UNREACHABLE"]
    assert reason in finding.message
    assert "PROVIDER_DISCOVERY_UNREACHABLE" not in by_id


def test_oversized_jwks_is_refused(sandbox, scan):
    sandbox.issuer.jwks_override = b'{"keys": [], "pad": "' + b"x" * 2_000_000 + b'"}'
    _, by_id = scan()
    assert "limit" in by_id["PROVIDER_JWKS_UNREACHABLE"][0].message


def test_certificate_expiring_in_five_days(sandbox, scan):
    sandbox.issuer.expire_leaf_in(5)
    _, by_id = scan()
    [finding] = by_id["PROVIDER_CERT_EXPIRING"]
    assert finding.severity is Severity.HIGH  # within the 7-day critical window
    assert finding.details["certificate"] == "leaf"
    assert 4.5 < finding.details["days_left"] <= 5
    assert set(by_id) == {"PROVIDER_CERT_EXPIRING"}  # same intermediate: the pin still matches


def test_certificate_expiring_in_twenty_days_is_medium(sandbox, scan):
    sandbox.issuer.expire_leaf_in(20)
    _, by_id = scan()
    assert by_id["PROVIDER_CERT_EXPIRING"][0].severity is Severity.MEDIUM


def test_audience_removed(sandbox, scan):
    removed = "api://AzureSecurityCenter.MultiCloud.DefenderForServers"
    _recreate_provider(sandbox, [a for a in DEFENDER_AUDIENCES if a != removed])
    _, by_id = scan()
    [finding] = by_id["PROVIDER_AUDIENCE_MISSING"]
    assert finding.details["audience"] == removed
    assert set(finding.details["roles"]) == {"DefenderForCloud-DefenderForServers", "DefenderForCloud-ArcAutoProvisioning"}
    assert "PROVIDER_AUDIENCE_UNEXPECTED" not in by_id


def test_audience_added(sandbox, scan):
    _recreate_provider(sandbox, [*DEFENDER_AUDIENCES, "api://attacker-app"])
    _, by_id = scan()
    [finding] = by_id["PROVIDER_AUDIENCE_UNEXPECTED"]
    assert finding.details["audience"] == "api://attacker-app"
    assert finding.severity is Severity.MEDIUM


def test_provider_deleted(sandbox, scan):
    sandbox.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=sandbox.seeded["provider_arn"])
    _, by_id = scan()
    [finding] = by_id["PROVIDER_MISSING"]
    assert finding.severity is Severity.CRITICAL
    assert finding.resource_arn == sandbox.seeded["provider_arn"]
    # Without a provider the audience and thumbprint checks have nothing to judge; the forged probe shows what
    # STS says about it (EXCHANGE_PROVIDER_NOT_FOUND, see test_exchange.py).
    assert set(by_id) == {"PROVIDER_MISSING", "EXCHANGE_PROVIDER_NOT_FOUND"}


def test_provider_without_trailing_slash_is_missing_with_a_hint(sandbox, scan):
    iam = sandbox.client("iam")
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=sandbox.seeded["provider_arn"])
    iam.create_open_id_connect_provider(
        Url=sandbox.issuer.url.rstrip("/"), ClientIDList=list(DEFENDER_AUDIENCES), ThumbprintList=[sandbox.pki.thumbprint]
    )
    _, by_id = scan()
    assert "trailing slash" in by_id["PROVIDER_MISSING"][0].message
