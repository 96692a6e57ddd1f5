"""Live inspection of OIDC issuers: discovery, JWKS and the TLS chains of their hosts.

The thumbprint is computed exactly as AWS's procedure says (IAM user guide, "Obtain the thumbprint for an
OpenID Connect identity provider"): open TLS to the host, take the LAST certificate the server sends and
hex-encode the SHA-1 of its DER. Each host is contacted once per run however many issuers use it, and
issuers are inspected concurrently. Nothing here raises: every failure is recorded for the checks to report.

Every connection goes through `collect.https`: addresses checked (internal ones refused unless
`issuer_inspection.allow_private_addresses`), connected to as checked, one deadline per handshake (the timeout)
and per document fetch (twice the timeout, DNS, every connection attempt, redirects and the body included).

Public API (also used by the exchange phase's pre-flight, which verifies real tokens against the same JWKS under
the same rules): `IssuerInspector.inspect`, `IssuerInspector.host_tls`, `IssuerInspector.fetch_json`,
`host_port`, `discovery_url_for`, `FetchError`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import select
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import certifi
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from OpenSSL import SSL

from ..bounds import clip
from ..config import IssuerInspection
from .https import FetchError, connect, host_port, https_request

__all__ = ["CertInfo", "FetchError", "HostTls", "IssuerInspector", "IssuerReport", "discovery_url_for", "host_port"]

MAX_REDIRECTS = 3  # a discovery or JWKS URL may move (https, same kind of address); a longer chain is refused

# What the report keeps of an issuer's key ids (they reach the baseline and findings): real issuers publish a
# handful of short ids; a JWKS of 30,000 keys or megabyte-long ids must not make a state item outgrow DynamoDB.
MAX_KEY_IDS = 100
MAX_KID_CHARS = 256


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    sha1: str
    not_after: dt.datetime

    @classmethod
    def of(cls, cert: x509.Certificate) -> "CertInfo":
        return cls(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            sha1=cert.fingerprint(hashes.SHA1()).hex(),  # noqa: S303 - AWS's thumbprint is SHA-1 by definition
            not_after=cert.not_valid_after_utc,
        )


@dataclass
class HostTls:
    host: str
    port: int
    chain: list[CertInfo] = field(default_factory=list)
    error: str | None = None
    publicly_trusted: bool = False
    trust_error: str | None = None
    handshake_ms: float | None = None

    @property
    def name(self) -> str:
        return self.host if self.port == 443 else f"{self.host}:{self.port}"

    @property
    def top(self) -> CertInfo | None:
        """The certificate AWS pins: the last one the server sends."""
        return self.chain[-1] if self.chain else None

    @property
    def leaf(self) -> CertInfo | None:
        return self.chain[0] if self.chain else None


@dataclass
class IssuerReport:
    issuer: str
    discovery_url: str
    discovery: dict[str, Any] | None = None
    discovery_error: str | None = None
    jwks_uri: str | None = None
    jwks_error: str | None = None
    key_ids: list[str] = field(default_factory=list)  # at most MAX_KEY_IDS, each at most MAX_KID_CHARS
    key_count: int = 0  # usable signing keys in the JWKS
    hosts: list[HostTls] = field(default_factory=list)  # discovery host first, then the JWKS host if different

    @property
    def discovered_issuer(self) -> str | None:
        value = (self.discovery or {}).get("issuer")
        return value if isinstance(value, str) else None


def discovery_url_for(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


@lru_cache(maxsize=4)
def _trust_store(bundle_path: str) -> Store:
    return Store(x509.load_pem_x509_certificates(Path(bundle_path).read_bytes()))


class IssuerInspector:
    """Inspects issuers for one run; keeps one TLS result per host."""

    def __init__(self, settings: IssuerInspection | None = None):
        self.settings = settings or IssuerInspection()
        self.bundle = self.settings.public_ca_bundle or certifi.where()
        self._tls: dict[tuple[str, int], Future[HostTls]] = {}
        # One fetch per document and run too (hub mode inspects the same issuer for every account).
        self._documents: dict[tuple[str, frozenset[str]], Future[Any]] = {}
        self._lock = threading.Lock()
        self.handshakes = 0

    # ---------------------------------------------------------------- public API
    def inspect_all(self, issuers: dict[str, set[str]]) -> dict[str, IssuerReport]:
        """`issuers` maps an issuer URL to the thumbprints its IAM provider pins (may be empty)."""
        if not issuers:
            return {}
        workers = min(self.settings.max_workers, len(issuers))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="issuer") as pool:
            futures = {url: pool.submit(self.inspect, url, pins) for url, pins in issuers.items()}
            return {url: fut.result() for url, fut in futures.items()}

    def inspect(self, issuer: str, pinned: set[str] | None = None) -> IssuerReport:
        pinned = {p.lower() for p in (pinned or set())}
        report = IssuerReport(issuer=issuer, discovery_url=discovery_url_for(issuer))
        try:
            self._inspect(report, pinned)
        except Exception as exc:  # noqa: BLE001 - one issuer must never stop the run
            report.discovery_error = report.discovery_error or f"unexpected error: {exc.__class__.__name__}: {exc}"
        return report

    def host_tls(self, host: str, port: int) -> HostTls:
        """The TLS chain `host:port` sends (one handshake per host and run, shared by every caller), and whether it
        verifies against the trust store."""
        future, owner = self._shared(self._tls, (host, port))
        if owner:
            try:
                future.set_result(self._handshake(host, port))
            except Exception as exc:  # noqa: BLE001
                future.set_result(HostTls(host, port, error=f"{exc.__class__.__name__}: {exc}"))
        return future.result()

    def _shared(self, table: dict[Any, Future[Any]], key: Any) -> tuple[Future[Any], bool]:
        """The future for `key`, and whether the caller owns it (must compute it) or waits for the owner."""
        with self._lock:
            future = table.get(key)
            if future is None:
                future = table[key] = Future()
                return future, True
            return future, False

    # ---------------------------------------------------------------- internals
    def _inspect(self, report: IssuerReport, pinned: set[str]) -> None:
        d_host, d_port = host_port(report.discovery_url)
        d_tls = self.host_tls(d_host, d_port)
        report.hosts.append(d_tls)
        try:
            doc = self.fetch_json(report.discovery_url, d_tls, pinned)
        except FetchError as exc:
            report.discovery_error = str(exc)
            return
        if not isinstance(doc, dict):
            report.discovery_error = f"the discovery document is JSON but not an object ({type(doc).__name__})"
            return
        report.discovery = doc
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.lower().startswith("https://"):
            report.jwks_error = f"discovery has no usable https jwks_uri (got {jwks_uri!r:.80})"
            return
        report.jwks_uri = jwks_uri
        j_host, j_port = host_port(jwks_uri)
        j_tls = d_tls if (j_host, j_port) == (d_host, d_port) else self.host_tls(j_host, j_port)
        if j_tls is not d_tls:
            report.hosts.append(j_tls)
        try:
            jwks = self.fetch_json(jwks_uri, j_tls, pinned)
        except FetchError as exc:
            report.jwks_error = str(exc)
            return
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(keys, list):
            report.jwks_error = "the JWKS document has no `keys` list"
            return
        usable = []
        for key in keys:
            if not isinstance(key, dict) or key.get("use", "sig") != "sig" or key.get("kty") not in ("RSA", "EC"):
                continue
            try:
                jwt.PyJWK(key)
            except Exception:  # noqa: BLE001 - a malformed key is simply not usable
                continue
            usable.append(clip(key.get("kid", ""), MAX_KID_CHARS))
        if not usable:
            report.jwks_error = f"the JWKS holds {len(keys)} key(s) but no usable RSA/EC signing key"
            return
        # Bounded before they reach state (baseline, PROVIDER_JWKS_ROTATED): real issuers publish a handful.
        report.key_count = len(usable)
        report.key_ids = sorted(set(usable))[:MAX_KEY_IDS]

    def fetch_json(self, url: str, tls: HostTls | None = None, pinned: set[str] | frozenset[str] = frozenset()) -> Any:
        """GET `url` and parse its JSON, under the inspection's rules: the host's chain verifies against the trust
        store, or its top certificate is pinned (`pinned`: thumbprints) and the fetch must then meet the leaf the
        handshake saw; at most `MAX_REDIRECTS` redirects, each to https and to the same kind of address (public or
        internal) as the first host, to another host only if its chain verifies against the trust store; the whole
        of it (DNS, connections, redirects, body) within twice the timeout. `tls`: the host's `host_tls` (looked up
        when not given). Fetched once per inspector (one run) and URL. Raises FetchError with a one-line reason."""
        future, owner = self._shared(self._documents, (url, frozenset(p.lower() for p in pinned)))
        if owner:
            try:
                future.set_result(self._fetch_json(url, tls, pinned))
            except Exception as exc:  # noqa: BLE001 - FetchError, or a bug reported as a failed fetch
                future.set_exception(exc if isinstance(exc, FetchError) else FetchError(f"GET {url}: {exc!r}"))
        return future.result()

    def _fetch_json(self, url: str, tls: HostTls | None, pinned: set[str] | frozenset[str]) -> Any:
        timeout = self.settings.timeout_seconds
        deadline = time.monotonic() + timeout * 2
        host, port = host_port(url)
        tls = tls or self.host_tls(host, port)
        if tls.error:
            raise FetchError(f"TLS to {tls.name} failed: {tls.error}")
        pinned_leaf: str | None = None
        if not tls.publicly_trusted:
            if not (tls.top and tls.top.sha1 in {p.lower() for p in pinned}) or tls.leaf is None:
                raise FetchError(
                    f"the certificate of {tls.name} is not trusted ({tls.trust_error}) and its thumbprint "
                    f"{tls.top.sha1 if tls.top else '?'} is not pinned on the provider"
                )
            pinned_leaf = tls.leaf.sha1  # AWS accepts a private chain by its pinned thumbprint; so does the monitor
        origin, public, current = (host, port), None, url
        for hop in range(MAX_REDIRECTS + 1):
            same_host = host_port(current) == origin
            response = https_request(
                "GET", current, deadline=deadline, allow_private=self.settings.allow_private_addresses,
                cafile=self.bundle, pinned_leaf=pinned_leaf if same_host else None,
                headers={"Accept": "application/json"}, max_bytes=self.settings.max_document_bytes,
                require_public=public,
            )
            if response.location is None:
                break
            public = response.kind == "public" if public is None else public
            target = urljoin(current, response.location)
            if not target.lower().startswith("https://"):
                raise FetchError(f"GET {current}: redirected to {clip(target, 200)}; only https is followed")
            if hop == MAX_REDIRECTS:
                raise FetchError(f"GET {url}: more than {MAX_REDIRECTS} redirects")
            current = target
        if response.status != 200:
            raise FetchError(f"GET {current} answered HTTP {response.status}")
        try:
            return json.loads(response.body.decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # deep nesting exhausts the parser's stack
            raise FetchError(f"GET {current}: the body is not JSON ({_first_line(exc)})") from None

    def _handshake(self, host: str, port: int) -> HostTls:
        result = HostTls(host, port)
        timeout = self.settings.timeout_seconds
        started = time.monotonic()
        deadline = started + timeout
        try:
            sock = connect(host, port, deadline=deadline, allow_private=self.settings.allow_private_addresses).sock
        except FetchError as exc:
            result.error = str(exc)
            return result
        self.handshakes += 1
        try:
            ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
            ctx.set_verify(SSL.VERIFY_NONE)  # we want the chain as sent, trusted or not; trust is judged below
            conn = SSL.Connection(ctx, sock)
            if not _is_ip(host):
                conn.set_tlsext_host_name(host.encode("idna"))
            conn.set_connect_state()
            sock.setblocking(False)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    result.error = f"TLS handshake with {host}:{port} timed out after {timeout:.1f}s"
                    return result
                try:
                    conn.do_handshake()
                    break
                except SSL.WantReadError:
                    select.select([sock], [], [], remaining)
                except SSL.WantWriteError:
                    select.select([], [sock], [], remaining)
            certs = conn.get_peer_cert_chain(as_cryptography=True) or []
        except SSL.Error as exc:
            result.error = f"TLS handshake with {host}:{port} failed ({exc!r:.200})"
            return result
        except OSError as exc:
            result.error = f"TLS handshake with {host}:{port} failed ({_first_line(exc)})"
            return result
        finally:
            sock.close()
        result.handshake_ms = (time.monotonic() - started) * 1000
        if not certs:
            result.error = f"{host}:{port} sent no certificate"
            return result
        result.chain = [CertInfo.of(c) for c in certs]
        result.publicly_trusted, result.trust_error = self._verify(host, certs)
        return result

    def _verify(self, host: str, certs: list[x509.Certificate]) -> tuple[bool, str | None]:
        try:
            subject: Any = x509.IPAddress(ipaddress.ip_address(host)) if _is_ip(host) else x509.DNSName(host)
            verifier = PolicyBuilder().store(_trust_store(self.bundle)).build_server_verifier(subject)
            verifier.verify(certs[0], certs[1:])
            return True, None
        except VerificationError as exc:
            return False, f"does not verify against the CA bundle: {_first_line(exc)}"
        except Exception as exc:  # noqa: BLE001 - odd certificates are "not trusted", never a crash
            return False, f"cannot verify: {exc.__class__.__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else exc.__class__.__name__
