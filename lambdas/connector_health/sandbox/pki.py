"""A small PKI for the local issuer: root CA -> intermediate CA -> leaf, made with `cryptography`.

The server sends leaf + intermediate, so the thumbprint AWS's procedure yields (last certificate sent) is the
intermediate's. Certificates follow RFC 5280 closely enough for cryptography's strict path validation (which
the monitor uses to decide whether a chain is "publicly trusted").
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOSTNAMES = ("localhost",)
IPS = ("127.0.0.1",)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "connector-health sandbox"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())  # fast to generate; the chain's key type does not matter to AWS


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def sha1(self) -> str:
        return self.cert.fingerprint(hashes.SHA1()).hex()  # noqa: S303 - AWS's thumbprint definition

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _build(subject: x509.Name, issuer: Issued | None, key, *, ca: bool, path_len: int | None,
           not_after: dt.datetime, hosts: tuple[str, ...] = ()) -> Issued:
    now = dt.datetime.now(dt.timezone.utc)
    issuer_name = issuer.cert.subject if issuer else subject
    signing_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key((issuer.key if issuer else key).public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
    else:
        sans: list[x509.GeneralName] = [x509.DNSName(h) for h in hosts]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in IPS]
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                              data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                              encipher_only=False, decipher_only=False),
                critical=True,
            )
        )
    return Issued(builder.sign(signing_key, hashes.SHA256()), key)


class SandboxPki:
    """Root, intermediate and leaf; files under `directory`. The root's file is the sandbox's 'public' CA bundle."""

    def __init__(self, directory: Path, hosts: tuple[str, ...] = HOSTNAMES):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.hosts = hosts
        self.generation = 0
        self.root = self._new_root("connector-health sandbox root CA")
        self.trusted_root = self.root
        self.ca_bundle_path = self.directory / "ca-bundle.pem"
        self.ca_bundle_path.write_bytes(self.trusted_root.pem())
        self.intermediate = self._new_intermediate()
        self.leaf = self._new_leaf()
        self.write()

    @staticmethod
    def _new_root(cn: str) -> Issued:
        key = _key()
        far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3650)
        return _build(_name(cn), None, key, ca=True, path_len=1, not_after=far)

    def _new_intermediate(self) -> Issued:
        self.generation += 1
        far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1825)
        return _build(_name(f"connector-health sandbox intermediate G{self.generation}"), self.root, _key(),
                      ca=True, path_len=0, not_after=far)

    def _new_leaf(self, valid_days: float = 365) -> Issued:
        not_after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=valid_days)
        return _build(_name(self.hosts[0]), self.intermediate, _key(), ca=False, path_len=None,
                      not_after=not_after, hosts=self.hosts)

    # ------------------------------------------------------------------ what the server loads
    @property
    def cert_chain_path(self) -> Path:
        return self.directory / "server-chain.pem"

    @property
    def key_path(self) -> Path:
        return self.directory / "server-key.pem"

    @property
    def thumbprint(self) -> str:
        """What AWS would compute: SHA-1 of the last certificate sent (the intermediate)."""
        return self.intermediate.sha1

    def write(self) -> None:
        self.cert_chain_path.write_bytes(self.leaf.pem() + self.intermediate.pem())
        self.key_path.write_bytes(
            self.leaf.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
        )

    # ------------------------------------------------------------------ controls
    def rotate_intermediate(self) -> str:
        """A new intermediate under the same (trusted) root, and a new leaf. Returns the new thumbprint."""
        self.intermediate = self._new_intermediate()
        self.leaf = self._new_leaf()
        self.write()
        return self.thumbprint

    def switch_to_untrusted(self) -> str:
        """A chain under a new root that is NOT in the CA bundle (a private CA). Returns the new thumbprint."""
        self.root = self._new_root("connector-health private root CA")
        return self.rotate_intermediate()

    def switch_to_trusted(self) -> str:
        self.root = self.trusted_root
        return self.rotate_intermediate()

    def leaf_days_left(self) -> float:
        return (self.leaf.cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)).total_seconds() / 86400

    def reissue_leaf(self, valid_days: float) -> None:
        """Same intermediate (thumbprint unchanged), new leaf expiring in `valid_days`."""
        self.leaf = self._new_leaf(valid_days)
        self.write()
