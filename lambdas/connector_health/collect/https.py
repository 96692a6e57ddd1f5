"""HTTPS to issuers and token endpoints: one deadline, checked addresses, no redirect followed blindly.

Whoever runs an issuer (or its DNS) controls everything a fetch touches, so (README "Reliability"):

* Resolution: `getaddrinfo` has no timeout of its own; it runs in a daemon thread that is waited for only until
  the deadline.
* Addresses: every resolved address is classified (`address_kind`); loopback, link-local, private, shared,
  reserved, unspecified and multicast addresses, also when written inside IPv6 (IPv4-mapped, 6to4, Teredo,
  NAT64), are refused unless the configuration allows them (`issuer_inspection.allow_private_addresses`, for
  local and test issuers). A host whose addresses are all refused is never contacted.
* Connection: to the checked addresses themselves, one after the other, each attempt given only what is left of
  the deadline, so a DNS answer that changes between check and connect cannot slip another address in, and a
  host with many unreachable addresses cannot multiply the deadline.
* TLS: the certificate is verified for the host name against the trust store; a private chain accepted by its
  pinned thumbprint must present the leaf the inspection's own handshake saw.
* HTTP: `http.client` over that socket; every read and write is given what is left of the deadline (a server
  that trickles bytes is cut off at the deadline), bodies are limited in size, and a redirect is returned to the
  caller, never followed here (`IssuerInspector.fetch_json` follows a few under its rules; the token endpoint
  follows none, so a client secret is never sent anywhere but the configured URL).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "FetchError",
    "HttpsResponse",
    "address_kind",
    "connect",
    "host_port",
    "https_request",
    "is_public",
    "resolve",
]

REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class FetchError(Exception):
    """A fetch that did not produce a document; the message says why, in one line."""


def host_port(url: str) -> tuple[str, int]:
    """The host (lower-case, brackets of an IPv6 literal removed) and port (443 by default) of an https URL."""
    parts = urlsplit(url)
    try:
        port = parts.port or 443
    except ValueError:
        port = -1
    return (parts.hostname or "").lower(), port


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, Teredo client, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """"public", or what makes the address internal: "loopback", "link-local", "private", "unspecified",
    "multicast", "reserved" or "non-global" (e.g. the shared address space 100.64.0.0/10)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:  # the IPv4 address the packets end up at decides
            return address_kind(inner)
    for kind, test in (("unspecified", "is_unspecified"), ("loopback", "is_loopback"),
                       ("link-local", "is_link_local"), ("multicast", "is_multicast"), ("reserved", "is_reserved"),
                       ("private", "is_private")):
        if getattr(ip, test):
            return kind
    return "public" if ip.is_global else "non-global"


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address_kind(ip) == "public"


def resolve(host: str, port: int, deadline: float) -> list[tuple[int, tuple[Any, ...]]]:
    """(family, socket address) for every address of `host`, within the deadline."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
        return [(family, (host, port) if family == socket.AF_INET else (host, port, 0, 0))]
    answer: dict[str, Any] = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            answer["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            answer["error"] = exc
        finally:
            done.set()

    threading.Thread(target=lookup, name="dns", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise FetchError(f"DNS for {host} did not answer before the deadline")
    if "error" in answer:
        raise FetchError(f"DNS for {host} failed ({_first_line(answer['error'])})")
    seen: list[tuple[int, tuple[Any, ...]]] = []
    for family, _, _, _, sockaddr in answer["infos"]:
        if (family, sockaddr) not in seen:
            seen.append((family, sockaddr))
    if not seen:
        raise FetchError(f"DNS for {host} returned no address")
    return seen


@dataclass
class Connection:
    sock: socket.socket
    address: str
    kind: str  # address_kind of the address connected to


def connect(host: str, port: int, *, deadline: float, allow_private: bool,
            require_public: bool | None = None) -> Connection:
    """A TCP connection to a permitted address of `host`. `require_public` (redirects): the address must be
    public (True) or internal (False), like the one the fetch started from."""
    if not 0 < port < 65536:
        raise FetchError(f"{host}: invalid port")
    addresses = resolve(host, port, deadline)
    refused: list[str] = []
    candidates = []
    for family, sockaddr in addresses:
        ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        kind = address_kind(ip)
        if kind != "public" and not allow_private:
            refused.append(f"{ip} ({kind})")
        elif require_public is not None and (kind == "public") != require_public:
            refused.append(f"{ip} ({kind}, not {'public' if require_public else 'internal'} like the original host)")
        else:
            candidates.append((family, sockaddr, str(ip), kind))
    if not candidates:
        hint = "" if allow_private else "; set issuer_inspection.allow_private_addresses for a local issuer"
        raise FetchError(f"refused to connect to {host}: it resolves only to {', '.join(refused[:4])}"
                         f"{' and more' if len(refused) > 4 else ''}{hint}")
    errors: list[str] = []
    for n, (family, sockaddr, ip, kind) in enumerate(candidates):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(f"connecting to {host}:{port} timed out: the deadline passed after {n} of "
                             f"{len(candidates)} address(es)")
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(remaining)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            errors.append(f"{ip}: {_first_line(exc)}")
            continue
        return Connection(sock, ip, kind)
    timed_out = time.monotonic() >= deadline
    raise FetchError(f"cannot connect to {host}:{port} ({'deadline passed; ' if timed_out else ''}"
                     f"{'; '.join(errors[:3])})")


class _DeadlineSocket:
    """The TLS socket as http.client sees it: every send and receive is given what is left of the deadline."""

    def __init__(self, sock: ssl.SSLSocket, deadline: float) -> None:
        self.sock, self.deadline = sock, deadline

    def arm(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the deadline passed")
        self.sock.settimeout(remaining)

    def sendall(self, data: bytes) -> None:
        self.arm()
        self.sock.sendall(data)

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self))

    def close(self) -> None:
        self.sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, owner: _DeadlineSocket) -> None:
        self.owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.owner.arm()
        return self.owner.sock.recv_into(buffer)


class _Connection(http.client.HTTPConnection):
    default_port = 443  # the Host header leaves out the default HTTPS port


@dataclass
class HttpsResponse:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes = b""
    address: str = ""
    kind: str = ""  # address_kind of the address that answered
    location: str | None = field(default=None)  # for redirects


def https_request(method: str, url: str, *, deadline: float, allow_private: bool, cafile: str | None,
                  pinned_leaf: str | None = None, body: bytes | None = None, headers: dict[str, str] | None = None,
                  max_bytes: int = 1_048_576, require_public: bool | None = None) -> HttpsResponse:
    """One HTTPS request, all of it before `deadline` (time.monotonic()). The certificate is verified for the
    host against `cafile` (None: the default trust store), unless `pinned_leaf` (SHA-1 hex) is given: then any
    chain is accepted whose leaf is that certificate. A redirect is returned with its `location`, unfollowed."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "https":
        raise FetchError(f"{_short(url)}: only https:// is fetched")
    host, port = host_port(url)
    if not host:
        raise FetchError(f"{_short(url)}: no host")
    conn = connect(host, port, deadline=deadline, allow_private=allow_private, require_public=require_public)
    sockets: list[socket.socket] = [conn.sock]
    try:
        tls = _tls(conn.sock, host, deadline, cafile, pinned_leaf)
        sockets.append(tls)
        client = _Connection(host, port)
        client.sock = _DeadlineSocket(tls, deadline)  # type: ignore[assignment]
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        client.request(method, path, body=body, headers={"User-Agent": "connector-health", **(headers or {})})
        response = client.getresponse()
        result = HttpsResponse(url, response.status, {k.lower(): v for k, v in response.getheaders()},
                               address=conn.address, kind=conn.kind)
        if response.status in REDIRECTS:
            result.location = response.getheader("Location")
            return result
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"{method} {_short(url)}: the document is {int(declared)} bytes, over the {max_bytes}-byte "
                             "limit")
        chunks = bytearray()
        while True:
            chunk = response.read1(65536)
            if not chunk:
                break
            chunks.extend(chunk)
            if len(chunks) > max_bytes:
                raise FetchError(f"{method} {_short(url)}: the document exceeds the {max_bytes}-byte limit")
        result.body = bytes(chunks)
        return result
    except FetchError:
        raise
    except (TimeoutError, socket.timeout):
        raise FetchError(f"{method} {_short(url)}: timed out (the whole request must finish within the deadline)") from None
    except ssl.SSLCertVerificationError as exc:
        raise FetchError(f"{method} {_short(url)}: certificate not trusted ({_first_line(exc)})") from None
    except (ssl.SSLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise FetchError(f"{method} {_short(url)}: {exc.__class__.__name__} ({_first_line(exc)})") from None
    finally:
        for sock in reversed(sockets):
            sock.close()


def _tls(sock: socket.socket, host: str, deadline: float, cafile: str | None, pinned_leaf: str | None) -> ssl.SSLSocket:
    if pinned_leaf:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # a private chain, accepted by its pinned thumbprint: the leaf is checked
    else:
        context = ssl.create_default_context(cafile=cafile)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the deadline passed")
    sock.settimeout(remaining)
    tls = context.wrap_socket(sock, server_hostname=host)
    if pinned_leaf:
        der = tls.getpeercert(binary_form=True) or b""
        if hashlib.sha1(der).hexdigest() != pinned_leaf.lower():  # noqa: S324 - a certificate fingerprint
            tls.close()
            raise FetchError(f"{host} presented another certificate than the one its pinned chain was inspected with")
    return tls


def _short(url: str) -> str:
    return url if len(url) <= 200 else url[:197] + "..."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else exc.__class__.__name__
