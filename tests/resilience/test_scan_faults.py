"""Faults during a scan: IAM throttling, broken issuers (slow loris, TLS failures, malformed or huge documents).

For each: the run completes, the affected checks report MONITOR_CHECK_ERROR or the right PROVIDER_* finding,
and what the run knew besides (the other connectors, findings already present) is still reported.
"""

from __future__ import annotations

import copy
import json
import time

import pytest
from botocore.config import Config

from connector_health.config import parse_config
from connector_health.engine import scan_account

pytestmark = pytest.mark.integration
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def _by_id(result):
    out: dict[str, list] = {}
    for finding in result.findings:
        out.setdefault(finding.check_id, []).append(finding)
    return out


def _known_problem(sandbox) -> None:
    """Something the monitor must keep reporting whatever else breaks: an admin policy on a Defender role."""
    sandbox.client("iam").attach_role_policy(RoleName="CspmMonitorAws", PolicyArn=ADMIN)


# ------------------------------------------------------------------------------------------------ IAM throttling
def test_intermittent_iam_throttling_loses_nothing(sandbox, scan, injector, errors):
    _known_problem(sandbox)
    clean, clean_ids = scan()
    assert "PERMS_ADMIN_ACCESS" in clean_ids
    inject = injector()
    for op in ("GetAccountAuthorizationDetails", "GetOpenIDConnectProvider"):
        # the first try of each operation is throttled, as IAM does under load; adaptive retries absorb it
        inject.fail("iam", op, 400, errors.query("Throttling", "Rate exceeded"), when=lambda op, n: n == 1)
    result, by_id = scan(session=inject.session)
    assert set(inject.injected) == {"GetAccountAuthorizationDetails", "GetOpenIDConnectProvider"}
    assert "MONITOR_CHECK_ERROR" not in by_id
    assert sorted((f.check_id, f.resource_arn) for f in result.findings) == \
        sorted((f.check_id, f.resource_arn) for f in clean.findings)


def test_authorization_details_throttled_past_retries(sandbox, scan, injector, errors, monkeypatch):
    from connector_health.collect import aws as collect_aws

    monkeypatch.setattr(collect_aws, "BOTO_CONFIG", Config(retries={"mode": "standard", "max_attempts": 2}))
    sandbox.client("iam").update_open_id_connect_provider_thumbprint(
        OpenIDConnectProviderArn=sandbox.seeded["provider_arn"], ThumbprintList=["0" * 40])
    inject = injector().fail("iam", "GetAccountAuthorizationDetails", 400, errors.query("Throttling", "Rate exceeded"))
    result, by_id = scan(session=inject.session)
    [error] = by_id["MONITOR_CHECK_ERROR"]
    assert {k: error.details[k] for k in ("action", "code")} == {"action": "iam:GetAccountAuthorizationDetails",
                                                                 "code": "Throttling"}
    # It names the checks that could not run, whose earlier findings therefore stay open.
    assert {"TRUST_WILDCARD_PRINCIPAL", "PERMS_ADMIN_ACCESS", "TRUST_DRIFT"} <= set(error.details["checks_not_run"])
    assert "stay open" in error.message
    assert not any(f.check_id.startswith(("TRUST_", "PERMS_")) for f in result.findings)  # no roles: no verdict
    assert "PROVIDER_THUMBPRINT_MISMATCH" in by_id  # the provider and issuer checks still ran


# ------------------------------------------------------------------------------------------------ the issuer
def test_slow_loris_issuer_is_cut_off_by_the_total_deadline(sandbox, scan):
    sandbox.issuer.trickle_seconds = 0.05  # each byte well within the 1 s read timeout; the document in ~20 s
    started = time.monotonic()
    _, by_id = scan(exchanges=False)
    elapsed = time.monotonic() - started
    [finding] = by_id["PROVIDER_DISCOVERY_UNREACHABLE"]
    assert "timed out" in finding.message
    # "timed out" can only come from the total deadline (the trickle itself would finish, in ~20 s); the wall time
    # is measured, not asserted: shared CI hosts are too noisy for a bound.
    print(f"slow-loris scan took {elapsed:.1f}s (deadline 2 x 1 s)")


def _with_broken_connector(sandbox, port: int):
    """The sandbox config plus a `generic` connector whose issuer (and IAM provider) is at 127.0.0.1:port."""
    url = f"https://localhost:{port}/broken/"
    sandbox.client("iam").create_open_id_connect_provider(Url=url, ClientIDList=["broken-aud"],
                                                         ThumbprintList=[sandbox.pki.thumbprint])
    data = copy.deepcopy(sandbox.config_dict())
    data["connectors"].append({"name": "broken", "preset": "generic", "issuer": url, "audiences": ["broken-aud"]})
    return parse_config(data)


@pytest.mark.parametrize("mode", ["close", "garbage", "silent", "reset"])
def test_tls_handshake_failure_is_reported_and_spares_the_other_connector(sandbox, broken_tls, mode):
    server = broken_tls(mode)
    config = _with_broken_connector(sandbox, server.port)
    result = scan_account(config)
    broken = [f for f in result.findings if f.connector == "broken"]
    [unreachable] = [f for f in broken if f.check_id == "PROVIDER_DISCOVERY_UNREACHABLE"]
    assert "TLS" in unreachable.message
    assert server.connections >= 1
    assert [f.check_id for f in result.findings if f.connector == "defender"] == []  # the healthy one stays healthy
    assert not [f for f in result.findings if f.check_id == "MONITOR_CHECK_ERROR"]


@pytest.mark.parametrize(
    "body, check_id, reason",
    [
        (b"<html>maintenance</html>", "PROVIDER_DISCOVERY_UNREACHABLE", "not JSON"),
        (b"\xff\xfe\x00garbage", "PROVIDER_DISCOVERY_UNREACHABLE", "not JSON"),
        (b"[1, 2, 3]", "PROVIDER_DISCOVERY_UNREACHABLE", "not an object"),
        (b"[" * 100_000 + b"]" * 100_000, "PROVIDER_DISCOVERY_UNREACHABLE", "not JSON"),
        (b'{"issuer": 5}', "PROVIDER_JWKS_UNREACHABLE", "no usable https jwks_uri"),
        (b'{"jwks_uri": "http://localhost/keys"}', "PROVIDER_JWKS_UNREACHABLE", "no usable https jwks_uri"),
        (b'{"jwks_uri": ["https://localhost/keys"]}', "PROVIDER_JWKS_UNREACHABLE", "no usable https jwks_uri"),
        (b'{"jwks_uri": "https://127.0.0.1:9/keys"}', "PROVIDER_JWKS_UNREACHABLE", "connect"),
    ],
)
def test_malformed_discovery(sandbox, scan, body, check_id, reason):
    sandbox.issuer.discovery_override = body
    _, by_id = scan(exchanges=False)
    [finding] = by_id[check_id]
    assert reason in finding.message
    assert "MONITOR_CHECK_ERROR" not in by_id


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'{"keys": [1, "x", null, {"kty": "EC"}, {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}]}',
         "no usable RSA/EC signing key"),
        (b'{"keys": {"kty": "RSA"}}', "no `keys` list"),
        (b"null", "no `keys` list"),
    ],
)
def test_malformed_jwks(sandbox, scan, body, reason):
    sandbox.issuer.jwks_override = body
    _, by_id = scan(exchanges=False)
    [finding] = by_id["PROVIDER_JWKS_UNREACHABLE"]
    assert reason in finding.message
    assert "PROVIDER_DISCOVERY_UNREACHABLE" not in by_id  # discovery was fine: the right finding, not a neighbour


@pytest.mark.parametrize("document", ["jwks", "discovery"])
def test_ten_megabyte_document_is_refused_quickly(sandbox, scan, document):
    keys = [{"kty": "RSA", "use": "sig", "kid": f"k{i}", "n": "x" * 300, "e": "AQAB"} for i in range(30_000)]
    body = json.dumps({"keys": keys}).encode()
    assert len(body) > 10_000_000
    setattr(sandbox.issuer, f"{document}_override", body)
    _known_problem(sandbox)
    _, by_id = scan()
    check_id = "PROVIDER_JWKS_UNREACHABLE" if document == "jwks" else "PROVIDER_DISCOVERY_UNREACHABLE"
    [finding] = by_id[check_id]
    assert "limit" in finding.message
    assert "PERMS_ADMIN_ACCESS" in by_id  # the rest of the run is unaffected
