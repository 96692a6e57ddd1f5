"""The sandbox: moto in server mode + a local HTTPS OIDC issuer, seeded with a Defender-like account.

`Sandbox` runs both in this process (tests, the demo). `connector-health sandbox up` runs the same thing in a
detached background process (see daemon.py) and prints `export` lines; `sandbox down` stops it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import yaml

# moto reads this when its IAM backend is first created: AWS managed policies (ReadOnlyAccess, ...) must exist.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from .account import CUSTOMER_TENANT, defender_history, seed_defender_account  # noqa: E402
from .issuer import LocalIssuer  # noqa: E402
from .monitor import create_integration_targets, create_monitor_resources, read_alerts, read_queue  # noqa: E402
from .pki import SandboxPki  # noqa: E402
from .sts import StsStandIn  # noqa: E402

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
SANDBOX_ACCOUNT = "123456789012"  # moto's default account
# A client registered on the local issuer's token endpoint (the secret is generated per sandbox).
TOKEN_CLIENT_ID = "5f0c3a52-8d1e-4b7a-9c66-1d2e3f4a5b6c"


class Sandbox:
    def __init__(self, directory: str | Path | None = None, *, issuer_timeout: float = 2.0, accounts: int = 0):
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="connector-health-sandbox-")
        self.directory = Path(directory or self._tmp.name)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.issuer_timeout = issuer_timeout
        self.pki: SandboxPki | None = None
        self.issuer: LocalIssuer | None = None
        self._moto = None
        self.endpoint_url = ""
        self.sts: StsStandIn | None = None  # the validating STS in front of moto (AWS_ENDPOINT_URL_STS)
        self.token_client_id = TOKEN_CLIENT_ID
        self.token_client_secret = ""
        self.seeded: dict[str, Any] = {}
        # Member accounts of the emulated organisation (hub mode); 0: a single account, no organisation.
        self.accounts = accounts

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Sandbox":
        from moto.server import ThreadedMotoServer

        from . import moto_compat

        moto_compat.apply()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        self.pki = SandboxPki(self.directory / "pki")
        self.issuer = LocalIssuer(self.pki).start()
        self.token_client_secret = secrets.token_urlsafe(24)
        self.issuer.clients[self.token_client_id] = self.token_client_secret
        self.sts = StsStandIn(self.endpoint_url, str(self.pki.ca_bundle_path), idp_timeout=self.issuer_timeout).start()
        self.seed()
        return self

    def stop(self) -> None:
        if self.sts:
            self.sts.stop()
            self.sts = None
        if self.issuer:
            self.issuer.stop()
        if self._moto:
            self._moto.stop()
            self._moto = None
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ AWS side
    def env(self) -> dict[str, str]:
        """What a process needs to point boto3 and the CLI at this sandbox."""
        assert self.issuer and self.pki
        return {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_STS": self.sts.url if self.sts else self.endpoint_url,
            # LookupEvents is answered by the STS stand-in's trail (moto has no LookupEvents).
            "AWS_ENDPOINT_URL_CLOUDTRAIL": self.sts.url if self.sts else self.endpoint_url,
            "CONNECTOR_HEALTH_ISSUER_URL": self.issuer.url,
            "CONNECTOR_HEALTH_CA_BUNDLE": str(self.pki.ca_bundle_path),
            "CONNECTOR_HEALTH_CONFIG": str(self.config_path),
        }

    def boto_session(self):
        import boto3

        return boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name="us-east-1",
        )

    def client(self, service: str):
        """A client on the emulated account (cached: creating boto3 sessions and clients is slow)."""
        cache = self.__dict__.setdefault("_clients", {})
        key = (service, self.endpoint_url)
        if key not in cache:
            session = self.__dict__.setdefault("_session", self.boto_session())
            cache[key] = session.client(service, endpoint_url=self.endpoint_url)
        return cache[key]

    def reset(self) -> None:
        """Clear the emulated account and seed it again (fresh provider thumbprint for the current chain)."""
        import requests

        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=10)
        self.seed()

    def restore(self) -> None:
        """Back to the healthy seeded state: issuer controls cleared, trusted chain, fresh account."""
        assert self.issuer and self.pki
        issuer = self.issuer
        issuer.delay_seconds = 0.0
        issuer.wrong_issuer = None
        issuer.jwks_override = None
        issuer.discovery_override = None
        issuer.trickle_seconds = 0.0
        issuer.token_error = None
        issuer.redirects = {}
        issuer.jwks_uri_override = None
        issuer.log.clear()
        issuer.stop_plain_http()
        issuer.clients[self.token_client_id] = self.token_client_secret
        if self.sts:
            self.sts.reset()
        if self.pki.root is not self.pki.trusted_root or self.pki.leaf_days_left() < 300:
            self.pki.switch_to_trusted()
            issuer.reload_tls()
        if not issuer.running:
            issuer.start()
        self.reset()

    def seed(self) -> None:
        assert self.issuer and self.pki
        self.seeded = seed_defender_account(self.client("iam"), self.issuer.url, self.pki.thumbprint)
        self.seeded.update(create_monitor_resources(self.client("dynamodb"), self.client("sns"), self.client("sqs")))
        self.seeded.update(create_integration_targets(self.client("sns"), self.client("sqs"), self.client("events")))
        # Security Hub is on in the seeded account (the Security Hub integration needs it; its tests turn it off).
        self.client("securityhub").enable_security_hub(EnableDefaultStandards=False)
        if self.sts:
            self.sts.trail.record(defender_history(self.seeded["account"], self.seeded["provider_arn"],
                                                   self.seeded["roles"], self.issuer.url, self.sts.trail_region,
                                                   self.token_client_id))
        if self.accounts:
            self.seed_org(self.accounts)
        self.write_config()

    def defender_caller(self, **overrides: Any):
        """A simulated Defender service that exchanges real tokens of the local issuer (sandbox/caller.py)."""
        from .caller import SimulatedCaller

        return SimulatedCaller(self, **overrides)

    def seed_org(self, accounts: int, *, plans: list[str] | None = None) -> dict[str, Any]:
        """Emulate an organisation of `accounts` member accounts (see sandbox/org.py for which are misconfigured)
        and enable hub mode in the generated config. `plans`: only these Defender plans in the member accounts
        (and in the config's connector); default all."""
        import json

        from .org import seed_organization

        assert self.issuer and self.pki
        self.accounts = accounts
        if self.sts:
            self.sts.forget_accounts()
        session = self.__dict__.setdefault("_session", self.boto_session())
        self.seeded["org"] = seed_organization(session, self.endpoint_url, accounts, self.issuer.url,
                                               self.pki.thumbprint, hub_account=SANDBOX_ACCOUNT, plans=plans)
        if self.sts:  # each member's Defender connector has called recently too (EXCHANGE_LIVE_SILENT stays quiet)
            for account, member in self.seeded["org"]["members"].items():
                self.sts.trail.record(defender_history(account, member["provider_arn"], member["roles"],
                                                       self.issuer.url, self.sts.trail_region, self.token_client_id))
        (self.directory / "org.json").write_text(json.dumps(self.seeded["org"], indent=1), encoding="utf-8")
        self.write_config()
        return self.seeded["org"]

    def read_chat(self, wait: float = 0.0) -> list[dict[str, Any]]:
        """Chat cards published since the last call: the custom notifications as parsed JSON, with the SNS
        message attributes under "_attributes"."""
        cards = []
        for envelope in read_queue(self.client("sqs"), self.seeded["chat_queue_url"], wait):
            card = json.loads(envelope["Message"])
            card["_attributes"] = {k: v.get("Value") for k, v in (envelope.get("MessageAttributes") or {}).items()}
            cards.append(card)
        return cards

    def read_events(self, wait: float = 0.0) -> list[dict[str, Any]]:
        """EventBridge events of connector-health since the last call, as the rule delivered them."""
        return read_queue(self.client("sqs"), self.seeded["events_queue_url"], wait)

    def security_hub_findings(self, account: str | None = None, **filters: str) -> list[dict[str, Any]]:
        """The Security Hub findings of the sandbox account (or a member account), EQUALS-filtered by field."""
        client = self.account_client(account, "securityhub") if account else self.client("securityhub")
        args = {"Filters": {k: [{"Value": v, "Comparison": "EQUALS"}] for k, v in filters.items()}}
        out: list[dict[str, Any]] = []
        for page in client.get_paginator("get_findings").paginate(**args):
            out += page["Findings"]
        return out

    def account_client(self, account: str, service: str):
        """A client in a member account of the emulated organisation (credentials moto maps to it)."""
        from .org import account_client

        session = self.__dict__.setdefault("_session", self.boto_session())
        return account_client(session.client("sts", endpoint_url=self.endpoint_url), self.endpoint_url, account,
                              service)

    def read_alerts(self, wait: float = 0.0) -> list[dict[str, Any]]:
        """Alert messages published since the last call, read back from the queue subscribed to the topic:
        [{"subject", "body", "attributes": {name: value}}]."""
        return read_alerts(self.client("sqs"), self.seeded["alert_queue_url"], wait)

    # ------------------------------------------------------------------ config
    @property
    def config_path(self) -> Path:
        return self.directory / "connector-health.sandbox.yaml"

    def config_dict(self) -> dict[str, Any]:
        assert self.issuer and self.pki
        org = self.seeded.get("org")
        hub = {"org": {"enabled": True, "member_role_name": org["member_role"],
                       "organization_id": org["organization_id"]}} if org else {}
        return {
            "version": 1,
            "region": "us-east-1",
            "issuer_inspection": {
                "timeout_seconds": self.issuer_timeout,
                # The sandbox root stands for a public CA (as Microsoft's chain is); see README "Sandbox".
                "public_ca_bundle": str(self.pki.ca_bundle_path),
                # The local issuer listens on loopback, which the monitor otherwise refuses to contact.
                "allow_private_addresses": True,
            },
            "state": {"table_name": self.seeded.get("state_table"), "topic_arn": self.seeded.get("alert_topic_arn")},
            # The stand-in records each call at once: no CloudTrail delivery delay to wait for.
            "live_exchanges": {"settle_minutes": 0},
            "connectors": [
                {
                    "name": "defender",
                    "preset": "defender-for-cloud",
                    "issuer": self.issuer.url,
                    "customer_tenant_id": CUSTOMER_TENANT,
                } | ({"plans": org["plans"]} if org and org.get("plans") else {})
            ],
        } | hub

    def write_config(self) -> Path:
        self.config_path.write_text(
            "# Written by connector-health sandbox for the seeded Defender-like account.\n"
            + yaml.safe_dump(self.config_dict(), sort_keys=False),
            encoding="utf-8",
        )
        return self.config_path
