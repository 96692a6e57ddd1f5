"""Unit fixtures for the exchange package: an in-memory issuer (RSA key, JWKS), a provider and Defender-like roles."""

from __future__ import annotations

import base64
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from connector_health.collect.aws import OidcProvider, Role

ISSUER = "https://issuer.example.com/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
PROVIDER_ARN = "arn:aws:iam::123456789012:oidc-provider/issuer.example.com/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
AUD = "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479"
SESSION = "MicrosoftDefenderForClouds_0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"


def _b64u(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


class FakeIssuer:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "key-1"

    def jwks(self) -> dict[str, Any]:
        pub = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.kid, "n": _b64u(pub.n), "e": _b64u(pub.e)}]}

    def token(self, lifetime: int = 3600, *, key=None, kid: str | None = None, alg: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUD, "sub": "app-1", "iat": now, "exp": now + lifetime} | claims
        body = {k: v for k, v in body.items() if v is not None}
        signer = key if key is not None else self.key
        return jwt.encode(body, signer, algorithm=alg, headers={"kid": kid or self.kid})


def trust(audience: str = AUD, session: str = SESSION, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"StringLike": {f"{ISSUER.removeprefix('https://')}:aud": audience,
                                                "sts:RoleSessionName": session}}
    condition |= extra or {}
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": PROVIDER_ARN}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition}]}


@pytest.fixture(scope="session")
def issuer() -> FakeIssuer:
    return FakeIssuer()


@pytest.fixture
def provider() -> OidcProvider:
    return OidcProvider(arn=PROVIDER_ARN, url=ISSUER, client_ids=[AUD, "api://other"], thumbprints=["ab" * 20])


def role(name: str = "CspmMonitorAws", policy: dict[str, Any] | None = None) -> Role:
    return Role(name=name, arn=f"arn:aws:iam::123456789012:role/{name}", path="/", trust_policy=policy or trust())
