"""Fixtures for the live-exchange unit tests: a Defender-like account snapshot (no AWS, no sandbox)."""

from __future__ import annotations

import json

import pytest

from connector_health.collect.aws import AccountSnapshot, OidcProvider, Role
from connector_health.presets import load_preset
from connector_health.sandbox.account import CUSTOMER_TENANT, SESSION_PREFIX, trust_policy

ACCOUNT = "123456789012"
ISSUER = "https://sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
ISSUER_KEY = ISSUER.removeprefix("https://")
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER_KEY}"
CSPM_AUD = "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479"
SESSION = f"{SESSION_PREFIX}{CUSTOMER_TENANT}"
CSPM_ARN = f"arn:aws:iam::{ACCOUNT}:role/CspmMonitorAws"


def defender_snapshot(policies: dict[str, dict] | None = None, provider: bool = True) -> AccountSnapshot:
    """The Defender template's provider and plan roles; `policies` replaces trust policies by role name."""
    preset = load_preset("defender-for-cloud")
    snap = AccountSnapshot(account_id=ACCOUNT, roles_complete=True, providers_complete=True)
    if provider:
        snap.providers.append(OidcProvider(PROVIDER_ARN, ISSUER, list(preset.audiences), [preset.thumbprints[0]]))
    for specs in preset.plans.values():
        for spec in specs:
            doc = (policies or {}).get(spec.name) or trust_policy(PROVIDER_ARN, ISSUER_KEY, spec.audience or "")
            text = json.dumps(doc)
            snap.roles[spec.name] = Role(spec.name, f"arn:aws:iam::{ACCOUNT}:role/{spec.name}", "/", doc, text)
    return snap


@pytest.fixture
def snapshot() -> AccountSnapshot:
    return defender_snapshot()
