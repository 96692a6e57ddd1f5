"""The exchange phase of a scan: forged probes per provider and audience, real exchanges per token source.

It runs after the snapshot and the issuer inspection and before the checks; the EXCHANGE_* checks only read the
`ExchangeResults` it returns (`CheckContext.extras["exchanges"]`).

Probes: one per monitored provider (issuer) and audience a connector needs, against one role of that audience
(STS rejects a forged token before it reads a trust policy). Connectors that share a provider and an audience
share the probe. Per provider the probes run one after the other through a token bucket (`ProbeLimiter`), with
a cap per run; providers are probed concurrently. A probe is never retried. Once a provider answers with
something that does not depend on the audience or says its keys cannot be had (no provider, region disabled,
thumbprint, IdP unreachable), its remaining audiences are not probed: they would hit the same wall and the same
IdP again; they inherit the answer (marked `inherited_from`).

Real exchanges: for each connector with a `token_source`, one token; pre-flight (preflight.py); for every role it
admits (at most `max_real_exchanges` per connector) `AssumeRoleWithWebIdentity` and then `sts:GetCallerIdentity`
with the temporary credentials, which are dropped right after.

An STS call that gets no answer at all (connection refused, timeout) is not an STS verdict: it is recorded in
`snapshot.read_errors` and becomes MONITOR_CHECK_ERROR, like any other failed read.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ..collect.aws import AccountSnapshot, OidcProvider, ReadError
from ..collect.issuer import FetchError, IssuerInspector, IssuerReport, host_port
from ..config import Config, Connector
from .classify import PROBE_CHECK, PROVIDER_WIDE, REAL_CHECK, STAGE_OF, Outcome, classify, stage_index
from .preflight import RoleTarget, run_preflight
from .probe import (
    DEFAULT_SESSION_NAME,
    EXCHANGE_BOTO_CONFIG,
    assume_role_with_web_identity,
    forge_probe_token,
    probe_key,
)
from . import redact
from .redact import Secret, protected, scrub
from .tokens import TokenResult, fetch_token

SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")


class ProbeLimiter:
    """Token bucket for one provider: `burst` probes at once, then `rate` per second; at most `cap` per run."""

    def __init__(self, *, rate: float = 4.0, burst: int = 8, cap: int = 20,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate, self.burst, self.cap = rate, burst, cap
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._last = clock()
        self.granted = 0
        self.waited_seconds = 0.0

    def acquire(self) -> bool:
        """Wait for a slot; False when the per-run cap is reached (the probe is then skipped)."""
        if self.granted >= self.cap:
            return False
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            wait = (1 - self._tokens) / self.rate
            self._sleep(wait)
            self.waited_seconds += wait
            self._tokens, self._last = 1.0, self._clock()
        self._tokens -= 1
        self.granted += 1
        return True


@dataclass
class ProbeResult:
    issuer: str
    provider_arn: str
    audience: str
    role_arn: str
    session_name: str
    connectors: list[str]
    outcome: Outcome | None = None  # None: no STS answer (see `error`) or not probed (see `skipped`)
    check_id: str | None = None  # the finding it means; None for the expected rejection
    stage: str = "not-probed"
    code: str | None = None
    message: str | None = None
    http_status: int | None = None
    request_id: str | None = None
    latency_ms: float | None = None
    error: str | None = None
    skipped: str | None = None
    inherited_from: str | None = None  # the audience whose provider-wide answer this one repeats
    assumed_role_arn: str | None = None

    @property
    def sent(self) -> bool:
        return self.latency_ms is not None and self.inherited_from is None

    def metric(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value if self.outcome else None
        data["stage_index"] = stage_index(self.stage)
        return data


@dataclass
class RealExchangeResult:
    connector: str
    source: str  # token source type
    stage: str  # where it ended: token-source, preflight, exchange, caller-identity, done, not-run
    check_id: str | None = None
    resource_arn: str = ""
    role_arn: str | None = None
    reason: str = ""
    preflight_stage: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    code: str | None = None
    message: str | None = None
    http_status: int | None = None
    latency_ms: float | None = None
    caller_arn: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def metric(self) -> dict[str, Any]:
        return {"connector": self.connector, "source": self.source, "stage": self.stage, "check_id": self.check_id,
                "role_arn": self.role_arn, "preflight_stage": self.preflight_stage, "code": self.code,
                "latency_ms": self.latency_ms}


@dataclass
class ExchangeResults:
    probes: list[ProbeResult] = field(default_factory=list)
    exchanges: list[RealExchangeResult] = field(default_factory=list)
    duration_seconds: float = 0.0

    def probes_for(self, connector: str) -> list[ProbeResult]:
        return [p for p in self.probes if connector in p.connectors]

    def exchanges_for(self, connector: str) -> list[RealExchangeResult]:
        return [e for e in self.exchanges if e.connector == connector]

    def metrics(self) -> dict[str, Any]:
        """Probe stage reached and latency per provider (for the dashboard), plus every probe and exchange."""
        providers: dict[str, dict[str, Any]] = {}
        for probe in self.probes:
            entry = providers.setdefault(probe.issuer, {"stage": None, "stage_index": None, "latency_ms": None,
                                                         "latency_ms_avg": None, "probes": 0, "not_probed": 0,
                                                         "stages": {}})
            if not probe.sent:
                entry["not_probed"] += 1
                continue
            entry["probes"] += 1
            entry["stages"][probe.stage] = entry["stages"].get(probe.stage, 0) + 1
            entry["latency_ms"] = max(entry["latency_ms"] or 0.0, probe.latency_ms or 0.0)
        for issuer, entry in providers.items():
            sent = [p for p in self.probes if p.issuer == issuer and p.sent]
            if not sent:
                entry["stage"] = "not-probed"
                entry["stage_index"] = -1
                continue
            entry["latency_ms_avg"] = round(sum(p.latency_ms or 0.0 for p in sent) / len(sent), 1)
            # The provider's stage is the one its least healthy probe reached; credentials (a forged token
            # accepted) is the least healthy of all.
            if any(p.stage == "credentials" for p in sent):
                worst = "credentials"
            else:
                worst = min((p.stage for p in sent), key=stage_index)
            entry["stage"], entry["stage_index"] = worst, stage_index(worst)
        return {
            "providers": providers,
            "probes": [p.metric() for p in self.probes],
            "real_exchanges": [e.metric() for e in self.exchanges],
            "duration_seconds": round(self.duration_seconds, 3),
        }

    def summary(self) -> dict[str, Any]:
        return exchange_summary(self.metrics())


def issuer_jwks(inspector: IssuerInspector, report: IssuerReport | None,
                provider: OidcProvider | None) -> tuple[dict[str, Any] | None, str | None]:
    """(the issuer's JWKS document, None) or (None, why not), fetched under the inspection's rules (trust store, or a
    private chain pinned on the provider; limits; timeouts). Pre-flight and `explain` verify signatures against it."""
    if report is None:
        return None, "the issuer was not inspected"
    if report.discovery_error:
        return None, f"discovery failed: {report.discovery_error}"
    if report.jwks_error or not report.jwks_uri:
        return None, f"the JWKS is unusable: {report.jwks_error}"
    host, port = host_port(report.jwks_uri)
    tls = next((h for h in report.hosts if (h.host, h.port) == (host, port)), None) or inspector.host_tls(host, port)
    pinned = set(provider.thumbprints) if provider else set()
    try:
        # The inspection's own fetch: same TLS rules (trust store, or a pinned private chain), limits, timeouts.
        document = inspector.fetch_json(report.jwks_uri, tls, pinned)
    except FetchError as exc:
        return None, str(exc)
    if not isinstance(document, dict):
        return None, "the JWKS is not a JSON object"
    return document, None


def exchange_summary(metrics: dict[str, Any] | None) -> dict[str, Any]:
    """The part of a scan summary about exchanges: per provider the probe stage and latency, per connector how
    its real exchange ended. Empty when the scan ran no exchanges."""
    if not metrics:
        return {}
    out: dict[str, Any] = {
        "probes": {issuer: {"stage": e["stage"], "latency_ms": e["latency_ms"]}
                   for issuer, e in metrics.get("providers", {}).items()},
    }
    exchanges: dict[str, list[str]] = {}
    for entry in metrics.get("real_exchanges", []):
        exchanges.setdefault(entry["connector"], []).append(entry["stage"])
    if exchanges:
        out["real_exchanges"] = exchanges
    return out


@dataclass
class _ProbePlan:
    issuer: str
    audience: str
    role_arn: str
    session_name: str
    subject: str
    connectors: list[str]


class ExchangeRunner:
    def __init__(
        self,
        config: Config,
        snapshot: AccountSnapshot,
        reports: dict[str, IssuerReport],
        *,
        session: boto3.session.Session | None = None,
        secrets_session: boto3.session.Session | None = None,
        inspector: IssuerInspector | None = None,
        limiter_factory: Callable[[], ProbeLimiter] = ProbeLimiter,
        max_real_exchanges: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.snapshot = snapshot
        self.reports = reports
        self.session = session or boto3.session.Session()
        # Token-source secrets live with the monitor, not in the scanned account: in hub mode `session` is a member
        # account's role, which neither holds nor may read them.
        self.secrets_session = secrets_session or self.session
        self.inspector = inspector or IssuerInspector(config.issuer_inspection)
        self.limiter_factory = limiter_factory
        self.max_real_exchanges = max_real_exchanges
        self.clock = clock
        self._errors_lock = threading.Lock()
        self._jwks_cache: dict[str, tuple[dict[str, Any] | None, str | None]] = {}

    # ------------------------------------------------------------------ entry point
    def run(self, connectors: Iterable[Connector]) -> ExchangeResults:
        started = time.monotonic()
        redact.install()  # before the first call that may log a token, a secret or credentials
        usable = [c for c in connectors if c.issuer and "{" not in c.issuer]  # MONITOR_CONFIG_ERROR reports others
        results = ExchangeResults()
        plans = self._plan_probes(usable, results)
        if plans:
            sts = self._sts()
            key = probe_key()  # this run's probes only; dropped when they are done
            workers = min(self.config.issuer_inspection.max_workers, len(plans))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
                for probes in pool.map(lambda item: self._probe_provider(sts, item, key), plans.items()):
                    results.probes.extend(probes)
            del key
        for conn in usable:
            if conn.token_source is not None:
                results.exchanges.extend(self._real_exchange(conn))
        results.duration_seconds = time.monotonic() - started
        return results

    def _sts(self, **credentials: str):
        """An STS client for the scan's region (one attempt per call); with `credentials`, one that uses them."""
        session = boto3.session.Session(**credentials) if credentials else self.session
        return session.client("sts", region_name=self.config.region, config=EXCHANGE_BOTO_CONFIG)

    # ------------------------------------------------------------------ probes
    def _role_arn(self, name: str) -> str | None:
        if name.startswith("arn:"):
            return name
        role = self.snapshot.role(name)
        if role:
            return role.arn
        if self.snapshot.account_id == "unknown":
            return None
        return f"arn:{self.snapshot.partition}:iam::{self.snapshot.account_id}:role/{name}"

    def _provider_arn(self, issuer: str) -> str:
        provider = self.snapshot.provider_for(issuer)
        if provider:
            return provider.arn
        return (f"arn:{self.snapshot.partition}:iam::{self.snapshot.account_id}:oidc-provider/"
                f"{issuer.removeprefix('https://')}")

    @staticmethod
    def session_name(conn: Connector) -> str:
        """The session name the preset's conditions expect, when it is one STS accepts."""
        wanted = conn.caller.get("session_name") or conn.caller.get("sts:RoleSessionName") or ""
        return wanted if SESSION_NAME.fullmatch(wanted) else DEFAULT_SESSION_NAME

    def _plan_probes(self, connectors: list[Connector], results: ExchangeResults) -> dict[str, list[_ProbePlan]]:
        plans: dict[str, dict[str, _ProbePlan]] = {}
        for conn in connectors:
            for audience in conn.needed_audiences:
                existing = plans.setdefault(conn.issuer, {}).get(audience)
                if existing:
                    existing.connectors.append(conn.name)
                    continue
                # A role of that audience; else any: STS refuses a forged token before it reads a trust policy.
                roles = [r for r in conn.roles if r.audience == audience] or list(conn.roles)
                role_arn = self._role_arn(roles[0].name) if roles else None
                if role_arn is None:
                    results.probes.append(ProbeResult(
                        conn.issuer, self._provider_arn(conn.issuer), audience, "", "", [conn.name],
                        skipped="no role of the connector to present the probe to" if not roles
                        else "the account id is unknown"))
                    continue
                plans[conn.issuer][audience] = _ProbePlan(
                    conn.issuer, audience, role_arn, self.session_name(conn),
                    conn.caller.get("sub") or str(uuid.uuid4()), [conn.name])
        return {issuer: list(by_aud.values()) for issuer, by_aud in plans.items() if by_aud}

    def _probe_provider(self, sts: Any, item: tuple[str, list[_ProbePlan]], key: Any = None) -> list[ProbeResult]:
        issuer, plans = item
        limiter = self.limiter_factory()
        provider_arn = self._provider_arn(issuer)
        out: list[ProbeResult] = []
        wall: ProbeResult | None = None  # a provider-wide answer: the rest inherit it
        silent = False  # STS did not answer at all: do not knock again this run
        for plan in plans:
            result = ProbeResult(issuer, provider_arn, plan.audience, plan.role_arn, plan.session_name,
                                 list(plan.connectors))
            out.append(result)
            if silent:
                result.skipped = "not probed: STS did not answer the previous probe"
                continue
            if wall is not None:
                for name in ("outcome", "check_id", "stage", "code", "message", "http_status"):
                    setattr(result, name, getattr(wall, name))
                result.inherited_from = wall.audience
                result.skipped = f"not probed: {wall.outcome.value if wall.outcome else '?'} for this provider already"
                continue
            if not limiter.acquire():
                result.skipped = f"not probed: at most {limiter.cap} probes per provider and run"
                continue
            token = forge_probe_token(issuer, plan.audience, plan.subject, key=key)
            answer = assume_role_with_web_identity(sts, plan.role_arn, plan.session_name, token)
            del token
            result.latency_ms = answer.latency_ms
            if not answer.answered:
                result.error, result.stage = answer.transport_error, "no-answer"
                self._read_error("sts:AssumeRoleWithWebIdentity", "NoAnswer", answer.transport_error or "", plan.role_arn)
                silent = True
                continue
            outcome = classify(answer.code, answer.message)
            result.outcome, result.check_id, result.stage = outcome, PROBE_CHECK[outcome], STAGE_OF[outcome]
            result.code, result.message, result.http_status = answer.code, answer.message, answer.http_status
            result.request_id, result.assumed_role_arn = answer.request_id, answer.assumed_role_arn
            if outcome in PROVIDER_WIDE:
                wall = result
        return out

    def _read_error(self, action: str, code: str, message: str, resource: str) -> None:
        with self._errors_lock:
            self.snapshot.read_errors.append(ReadError(action, code, message, resource or "*"))

    # ------------------------------------------------------------------ real exchanges
    def _jwks(self, issuer: str) -> tuple[dict[str, Any] | None, str | None]:
        if issuer not in self._jwks_cache:
            self._jwks_cache[issuer] = issuer_jwks(self.inspector, self.reports.get(issuer),
                                                   self.snapshot.provider_for(issuer))
        return self._jwks_cache[issuer]

    def _real_exchange(self, conn: Connector) -> list[RealExchangeResult]:
        settings = self.config.issuer_inspection
        fetched: TokenResult = fetch_token(conn.token_source, session=self.secrets_session,
                                           ca_bundle=settings.public_ca_bundle, timeout=settings.timeout_seconds,
                                           allow_private=settings.allow_private_addresses)
        base = dict(connector=conn.name, source=fetched.source)
        if not fetched.ok:
            return [RealExchangeResult(**base, stage="token-source", check_id="EXCHANGE_TOKEN_SOURCE_FAILED",
                                       resource_arn=f"connector:{conn.name}", reason=fetched.error or "no token",
                                       details=dict(fetched.details))]
        token: Secret = fetched.token  # type: ignore[assignment]
        fetched.token = None
        with protected(token):
            return self._with_token(conn, token, base)

    def _with_token(self, conn: Connector, token: Secret, base: dict[str, Any]) -> list[RealExchangeResult]:
        if not self.snapshot.providers_complete or not self.snapshot.roles_complete:
            return [RealExchangeResult(**base, stage="not-run", resource_arn=f"connector:{conn.name}",
                                       reason="the account's providers or roles could not be read completely")]
        targets = []
        for spec in conn.roles:
            role = self.snapshot.role(spec.name.rsplit("/", 1)[-1])
            arn = role.arn if role else (self._role_arn(spec.name) or spec.name)
            targets.append(RoleTarget(spec.name, arn, role))
        session_name = conn.caller.get("session_name") or conn.caller.get("sts:RoleSessionName") or DEFAULT_SESSION_NAME
        pre = run_preflight(
            token.reveal(), issuer=conn.issuer, providers=self.snapshot.providers, targets=targets,
            role_audiences={r.name: r.audience for r in conn.roles}, session_name=session_name,
            jwks=lambda: self._jwks(conn.issuer), region=self.config.region, now=self.clock(),
        )
        base["claims"] = pre.claims
        out: list[RealExchangeResult] = []
        if pre.failed_stage:
            return [RealExchangeResult(**base, stage="preflight", check_id="EXCHANGE_PREFLIGHT_FAILED",
                                       preflight_stage=pre.failed_stage, reason=pre.reason,
                                       resource_arn=(pre.provider.arn if pre.provider and pre.failed_stage != "issuer"
                                                     else f"connector:{conn.name}"))]
        for verdict in pre.refused:
            out.append(RealExchangeResult(**base, stage="preflight", check_id="EXCHANGE_PREFLIGHT_FAILED",
                                          preflight_stage="trust", reason=verdict.reason,
                                          resource_arn=verdict.target.arn, role_arn=verdict.target.arn))
        sts = self._sts()
        for verdict in pre.admitted[: self.max_real_exchanges]:
            out.append(self._exchange(sts, verdict.target.arn, session_name, token, base,
                                      uncertain=verdict.uncertain_keys))
        return out

    def _exchange(self, sts: Any, role_arn: str, session_name: str, token: Secret, base: dict[str, Any], *,
                  uncertain: list[str]) -> RealExchangeResult:
        result = RealExchangeResult(**base, stage="exchange", resource_arn=role_arn, role_arn=role_arn)
        if uncertain:
            result.details["preflight_undecided_keys"] = uncertain
        answer = assume_role_with_web_identity(sts, role_arn, session_name, token, keep_credentials=True)
        result.latency_ms = answer.latency_ms
        if not answer.answered:
            self._read_error("sts:AssumeRoleWithWebIdentity", "NoAnswer", answer.transport_error or "", role_arn)
            result.stage, result.reason = "not-run", f"STS did not answer: {answer.transport_error}"
            return result
        result.code, result.message, result.http_status = answer.code, answer.message, answer.http_status
        outcome = classify(answer.code, answer.message)
        result.details["outcome"] = outcome.value
        if outcome is not Outcome.CREDENTIALS_ISSUED:
            result.check_id = REAL_CHECK[outcome]
            result.reason = f"STS refused the token: {answer.code}: {answer.message}"
            return result
        creds = answer.credentials or {}
        answer.credentials = None
        with protected(creds.get("aws_secret_access_key"), creds.get("aws_session_token")):
            result.stage = "caller-identity"
            try:
                ident = self._sts(**creds).get_caller_identity()
            except ClientError as exc:
                err = exc.response.get("Error", {})
                result.check_id = "EXCHANGE_CREDENTIALS_UNUSABLE"
                result.code, result.message = str(err.get("Code") or "Unknown"), scrub(str(err.get("Message") or ""))
                result.http_status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                result.reason = f"sts:GetCallerIdentity with the issued credentials failed: {result.code}: {result.message}"
                return result
            except BotoCoreError as exc:
                result.check_id = "EXCHANGE_CREDENTIALS_UNUSABLE"
                result.reason = (f"sts:GetCallerIdentity with the issued credentials failed: "
                                 f"{exc.__class__.__name__}: {scrub(str(exc))[:200]}")
                return result
            finally:
                creds.clear()  # the temporary credentials are dropped here, used or not
        result.caller_arn = ident.get("Arn")
        role_name = role_arn.rsplit("/", 1)[-1]
        if f":assumed-role/{role_name}/" not in (result.caller_arn or ""):
            result.check_id = "EXCHANGE_CREDENTIALS_UNUSABLE"
            result.reason = f"the issued credentials identify as {result.caller_arn}, not as a session of {role_name}"
            return result
        result.stage = "done"
        return result
