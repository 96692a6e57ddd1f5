"""Where issuer fetches may go, on the sandbox's real local issuer (told to redirect, to point elsewhere, to serve
plain HTTP) and on local listeners that count who connects.

Before issue 13: discovery and JWKS fetches followed redirects to http:// and to internal addresses and accepted
what they returned, a jwks_uri on a loopback address was connected to, the token endpoint re-sent the client secret
across a redirect, an http:// authority was accepted, and a host with many unreachable addresses ran past the total
deadline once per address.
"""

from __future__ import annotations

import ipaddress
import socket
import time

import pytest

from connector_health.collect import https
from connector_health.collect.issuer import IssuerInspector
from connector_health.config import ConfigError, IssuerInspection, parse_config
from connector_health.engine import scan_account
from connector_health.sandbox.issuer import DEFENDER_TENANT

pytestmark = pytest.mark.integration
SECRET_ENV = "CH_TEST_CLIENT_SECRET"
CSPM_AUD = "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479"


class CountingListener:
    """A TCP listener on a loopback address that counts the connections it receives (and answers none)."""

    def __init__(self, host: str = "127.0.0.2", backlog: int = 16) -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(backlog)
        self.sock.settimeout(0.05)
        self.host, self.port = host, self.sock.getsockname()[1]

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return count
            conn.close()
            count += 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener():
    found = CountingListener()
    yield found
    found.close()


def _config(sandbox, *, allow_private: bool, **connector):
    data = sandbox.config_dict()
    data["issuer_inspection"]["allow_private_addresses"] = allow_private
    data["connectors"][0] |= connector
    return parse_config(data)


def _by_id(result):
    found: dict[str, list] = {}
    for finding in result.findings:
        found.setdefault(finding.check_id, []).append(finding)
    return found


@pytest.fixture
def public_sandbox(monkeypatch):
    """The sandbox issuer's address (127.0.0.1) counts as public, standing for a public issuer (the sandbox cannot
    reach the internet); every other address keeps its real kind."""
    real = https.address_kind
    monkeypatch.setattr(https, "address_kind", lambda ip: "public" if str(ip) == "127.0.0.1" else real(ip))


# --- addresses ------------------------------------------------------------------------------------------

def test_a_loopback_issuer_is_refused_unless_the_config_allows_it(sandbox):
    result = scan_account(_config(sandbox, allow_private=False), exchanges=False)
    [unreachable] = _by_id(result)["PROVIDER_DISCOVERY_UNREACHABLE"]
    assert "refused to connect to localhost" in unreachable.message and "loopback" in unreachable.message
    assert "allow_private_addresses" in unreachable.message
    assert sandbox.issuer.log == [] and result.stats["tls_handshakes"] == 0  # never contacted
    allowed = scan_account(_config(sandbox, allow_private=True), exchanges=False)
    assert "PROVIDER_DISCOVERY_UNREACHABLE" not in _by_id(allowed)


@pytest.mark.parametrize("address", ["127.0.0.2", "[::ffff:127.0.0.2]"])
def test_a_jwks_uri_on_an_internal_address_is_never_connected_to(sandbox, public_sandbox, listener, address):
    sandbox.issuer.jwks_uri_override = f"https://{address}:{listener.port}/keys"
    result = scan_account(_config(sandbox, allow_private=False), exchanges=False)
    [unreachable] = _by_id(result)["PROVIDER_JWKS_UNREACHABLE"]
    assert "refused to connect" in unreachable.message and "loopback" in unreachable.message
    assert listener.connections() == 0


def test_a_redirect_to_an_internal_address_is_never_followed(sandbox, public_sandbox, listener):
    sandbox.issuer.redirects["discovery"] = (302, f"https://127.0.0.2:{listener.port}/.well-known/openid-configuration")
    result = scan_account(_config(sandbox, allow_private=False), exchanges=False)
    [unreachable] = _by_id(result)["PROVIDER_DISCOVERY_UNREACHABLE"]
    assert "127.0.0.2 (loopback)" in unreachable.message
    assert listener.connections() == 0


def test_a_redirect_to_another_kind_of_address_is_refused_even_where_internal_ones_are_allowed(sandbox):
    # The local issuer (internal, allowed) redirects to a public address: refused before any connection attempt.
    sandbox.issuer.redirects["jwks"] = (301, "https://192.0.43.10/keys")
    result = scan_account(_config(sandbox, allow_private=True), exchanges=False)
    [unreachable] = _by_id(result)["PROVIDER_JWKS_UNREACHABLE"]
    assert "not internal like the original host" in unreachable.message


def test_a_redirect_to_plain_http_is_not_followed(sandbox):
    plain = sandbox.issuer.serve_plain_http()
    path = sandbox.issuer.path + ".well-known/openid-configuration"
    sandbox.issuer.redirects["discovery"] = (302, plain + path)
    result = scan_account(_config(sandbox, allow_private=True), exchanges=False)
    [unreachable] = _by_id(result)["PROVIDER_DISCOVERY_UNREACHABLE"]
    assert "only https is followed" in unreachable.message
    assert [entry for entry in sandbox.issuer.log if entry[1] == path] == [("GET", path, ())]  # the https one only


def test_many_unreachable_addresses_share_one_deadline(monkeypatch):
    """A name with 16 addresses that never complete a TCP handshake (listeners whose accept queue is full):
    the handshake gives up at its deadline instead of trying each address for a whole timeout (16 × 0.5 s)."""
    listeners, fillers = [], []
    for n in range(2, 18):
        found = CountingListener(f"127.0.0.{n}", backlog=0)
        listeners.append(found)
        for _ in range(3):  # fill the accept queue: further SYNs are dropped, so connect() hangs
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex((found.host, found.port))
            fillers.append(filler)
    port = listeners[0].port  # the name's DNS answer (faked below) gives each address its listener's port
    addresses = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (found.host, found.port)) for found in listeners]
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda host, *a, **k: addresses if host == "blackhole.test" else real(host, *a, **k))
    inspector = IssuerInspector(IssuerInspection(timeout_seconds=0.5, allow_private_addresses=True))
    started = time.monotonic()
    report = inspector.inspect(f"https://blackhole.test:{port}/")
    elapsed = time.monotonic() - started
    try:
        assert "deadline passed after 1 of 16 address(es)" in report.discovery_error
        print(f"gave up after {elapsed:.2f}s (deadline 0.5 s, 16 addresses)")  # measured in bench/, not asserted
    finally:
        for sock in fillers + [found.sock for found in listeners]:
            sock.close()


# --- the token endpoint ------------------------------------------------------------------------------------------

def _token_source(sandbox, **overrides):
    return {"type": "entra-client-credentials", "tenant_id": DEFENDER_TENANT, "client_id": sandbox.token_client_id,
            "scope": f"{CSPM_AUD}/.default", "secret_env": SECRET_ENV,
            "authority": sandbox.issuer.authority} | overrides


def test_the_token_endpoint_never_sends_the_secret_across_a_redirect(sandbox, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, sandbox.token_client_secret)
    stolen = sandbox.issuer.path + "stolen"
    sandbox.issuer.redirects["token"] = (307, sandbox.issuer.authority + stolen)
    config = _config(sandbox, allow_private=True, token_source=_token_source(sandbox))
    result = scan_account(config)
    [failed] = _by_id(result)["EXCHANGE_TOKEN_SOURCE_FAILED"]
    assert "redirects are not followed" in failed.message
    assert not [entry for entry in sandbox.issuer.log if entry[1] == stolen]  # nothing, the secret least of all
    assert sandbox.token_client_secret not in repr(result.findings)


def test_an_http_authority_is_refused(sandbox):
    with pytest.raises(ConfigError, match="authority"):
        _config(sandbox, allow_private=True,
                token_source=_token_source(sandbox, authority=f"http://localhost:{sandbox.issuer.port}"))


def test_the_token_endpoint_on_a_loopback_address_is_refused_unless_allowed(sandbox, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, sandbox.token_client_secret)
    result = scan_account(_config(sandbox, allow_private=False, token_source=_token_source(sandbox)))
    [failed] = _by_id(result)["EXCHANGE_TOKEN_SOURCE_FAILED"]
    assert "refused to connect to localhost" in failed.message
    assert not [entry for entry in sandbox.issuer.log if entry[0] == "POST"]


# --- what counts as internal ----------------------------------------------------------------------------------

@pytest.mark.parametrize("address,kind", [
    ("8.8.8.8", "public"), ("2606:4700:4700::1111", "public"),
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"), ("172.16.0.1", "private"),
    ("192.168.1.1", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("100.64.0.1", "non-global"), ("240.0.0.1", "reserved"), ("fd00::1", "private"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "link-local"), ("::ffff:8.8.8.8", "public"),
    ("2002:7f00:1::1", "loopback"), ("64:ff9b::a9fe:a9fe", "link-local"), ("64:ff9b::808:808", "public"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),  # Teredo, client 10.0.0.1
])
def test_address_kinds(address, kind):
    assert https.address_kind(ipaddress.ip_address(address)) == kind
