"""A simulated Defender for Cloud service: real tokens from the local issuer, exchanged at the STS stand-in.

Each call gets a token from the local issuer's client-credentials endpoint (as Defender gets one from Entra ID for
the plan's audience) and presents it to `AssumeRoleWithWebIdentity` for the plan's role with the session name
Defender sends (`MicrosoftDefenderForClouds_<customer tenant>`). The stand-in validates it and records the call in
its CloudTrail, so the monitor's live-exchange checks see real traffic. `start(interval)` repeats it on a timer
(the demo); tests call `call_once()` and change what the caller sends (`session_name`, `audience`, `role`,
`token_lifetime` for expired tokens). Its user agent is the service's, not the monitor's, so the monitor counts its
calls as the connector's.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from .account import CUSTOMER_TENANT, SESSION_PREFIX

CSPM_ROLE = "CspmMonitorAws"
CSPM_AUDIENCE = "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479"
USER_AGENT = "MicrosoftDefenderForCloud-simulated/1.0"
CALLER_CONFIG = BotoConfig(retries={"mode": "standard", "total_max_attempts": 1}, user_agent=USER_AGENT,
                           connect_timeout=5, read_timeout=10)


@dataclass
class SimulatedCaller:
    sandbox: Any  # connector_health.sandbox.Sandbox
    role: str = CSPM_ROLE
    audience: str = CSPM_AUDIENCE
    session_name: str = f"{SESSION_PREFIX}{CUSTOMER_TENANT}"
    # None: a token from the token endpoint (one hour); a number: a token signed by the issuer with that lifetime
    # in seconds (negative: already expired).
    token_lifetime: int | None = None
    results: list[str | None] = field(default_factory=list)  # per call: None (credentials) or the error code
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def _token(self) -> str:
        issuer = self.sandbox.issuer
        if self.token_lifetime is not None:
            client = self.sandbox.token_client_id
            return issuer.issue_token({"aud": self.audience, "sub": client, "oid": client, "appid": client},
                                      lifetime=self.token_lifetime)
        resp = requests.post(
            f"{issuer.url}oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "client_id": self.sandbox.token_client_id,
                  "client_secret": self.sandbox.token_client_secret, "scope": f"{self.audience}/.default"},
            verify=str(self.sandbox.pki.ca_bundle_path), timeout=10)
        resp.raise_for_status()
        return resp.json()["access_token"]

    def _sts(self):
        client = self.__dict__.get("_client")
        if client is None:
            client = boto3.session.Session(region_name="us-east-1").client(
                "sts", endpoint_url=self.sandbox.sts.url, config=CALLER_CONFIG,
                aws_access_key_id="unused", aws_secret_access_key="unused")  # the call is unsigned
            self.__dict__["_client"] = client
        return client

    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.sandbox.seeded.get('account', '123456789012')}:role/{self.role}"

    def call_once(self) -> str | None:
        """One exchange; returns None when STS issued credentials, else its error code."""
        try:
            token = self._token()
            self._sts().assume_role_with_web_identity(RoleArn=self.role_arn(), RoleSessionName=self.session_name,
                                                      WebIdentityToken=token, DurationSeconds=3600)
            outcome = None
        except ClientError as exc:
            outcome = str(exc.response.get("Error", {}).get("Code") or "Unknown")
        except (BotoCoreError, requests.RequestException, KeyError, ValueError) as exc:
            outcome = f"no-answer:{exc.__class__.__name__}"
        self.results.append(outcome)
        return outcome

    def start(self, interval: float = 1.0) -> "SimulatedCaller":
        """Call every `interval` seconds in the background until `stop()`."""
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                self.call_once()
                self._stop.wait(interval)

        self._thread = threading.Thread(target=loop, name="simulated-defender", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=15)
            self._thread = None

    def wait_for(self, outcome_is, calls: int = 1, timeout: float = 20.0) -> bool:
        """Wait until `calls` further calls ended with an outcome for which `outcome_is(outcome)` holds."""
        first, deadline = len(self.results), time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for r in self.results[first:] if outcome_is(r)) >= calls:
                return True
            time.sleep(0.05)
        return False
