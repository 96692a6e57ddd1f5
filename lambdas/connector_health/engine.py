"""The engine: collect one snapshot per account, inspect the issuers once, run every check per connector.

Used by the CLI and the Lambda handlers alike. One failing check or one unreachable issuer never stops the
others: it becomes a finding.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import boto3

from .checks import CheckContext, all_checks
from .checks.monitor import ACCOUNT_WIDE
from .collect.aws import BOTO_CONFIG, AccountSnapshot, SnapshotCollector
from .collect.stacks import inspect_stack
from .collect.issuer import IssuerInspector, IssuerReport
from .config import Config, Connector
from .exchange import ExchangeResults, ExchangeRunner, exchange_summary
from .findings import Finding, Severity, sort_findings
from .live.runner import LiveResults, LiveState, collect_live_exchanges

# Reads the collector makes for every account; the execution role is built from these plus the checks' own.
COLLECTOR_PERMISSIONS = (
    "sts:GetCallerIdentity",
    "iam:GetAccountAuthorizationDetails",
    "iam:ListOpenIDConnectProviders",
    "iam:GetOpenIDConnectProvider",
)


@dataclass
class ScanResult:
    account_id: str
    findings: list[Finding]
    snapshot: AccountSnapshot
    issuers: dict[str, IssuerReport]
    connectors: list[Connector]
    duration_seconds: float
    stats: dict[str, Any] = field(default_factory=dict)
    # The live-exchange phase (CloudTrail); None when it did not run.
    live: LiveResults | None = None

    def unreadable(self) -> str | None:
        """Why nothing of the account could be read (who the credentials are, its roles, its providers), or None.
        Such a run checked nothing: its findings describe the monitor's blindness, not the account."""
        snap = self.snapshot
        if snap.account_id != "unknown" or snap.roles_complete or snap.providers_complete or not snap.read_errors:
            return None
        first = snap.read_errors[0]
        return (f"{first.action} failed ({first.code}: {' '.join(first.message.split())[:200]}); check the AWS "
                "credentials and region (or AWS_ENDPOINT_URL for the sandbox)")

    def summary(self) -> dict[str, Any]:
        by_sev = {s.value: 0 for s in Severity}
        for f in self.findings:
            by_sev[f.severity.value] += 1
        return {
            "account": self.account_id,
            "connectors": [c.name for c in self.connectors],
            "findings": len(self.findings),
            "by_severity": by_sev,
            "duration_seconds": round(self.duration_seconds, 3),
            "api_calls": dict(sorted(self.snapshot.api_calls.items())),
            "tls_handshakes": self.stats.get("tls_handshakes", 0),
            # Probe stage reached and latency per provider, and how each real exchange ended (exchange/runner.py).
            **exchange_summary(self.stats.get("exchange")),
            **({"live_exchanges": self.live.summary()} if self.live is not None else {}),
        }


def _parts_available(snapshot: AccountSnapshot) -> set[str]:
    parts = set()
    if snapshot.roles_complete:
        parts.add("roles")
    if snapshot.providers_complete:
        parts.add("providers")
    return parts


def _error_finding(ctx: CheckContext, check_id: str, exc: Exception) -> Finding:
    from .checks import get_check

    monitor = get_check("MONITOR_CHECK_ERROR")
    return monitor.finding(
        ctx,
        f"connector:{ctx.connector.name}",
        f"Check {check_id} could not complete: {exc.__class__.__name__}: {str(exc)[:300]}",
        details={"check_id": check_id, "error": exc.__class__.__name__},
    )


def scan_account(
    config: Config,
    *,
    session: boto3.session.Session | None = None,
    account_id: str | None = None,
    inspector: IssuerInspector | None = None,
    now: dt.datetime | None = None,
    exchanges: bool = True,
    baselines: dict[str, dict[str, Any]] | None = None,
    secrets_session: boto3.session.Session | None = None,
    live: bool = True,
    live_state: LiveState | None = None,
) -> ScanResult:
    """Scan one account. `baselines` maps connector names to their accepted baseline (drift checks compare
    against it; without one they are silent). `secrets_session` reads token-source secrets (default: `session`;
    in hub mode the hub's own, since `session` is then the member account's role). `live_state`: where the
    previous run's CloudTrail window ended (without it the window is the configured lookback)."""
    started = time.monotonic()
    now = now or dt.datetime.now(dt.timezone.utc)
    collector = SnapshotCollector(session, config.region)
    snapshot = collector.collect(account_id)
    # Roles a template created under an earlier name are looked at under that name (RoleSpec.aliases).
    connectors = [conn.bind_roles(snapshot.roles) for conn in config.resolved_connectors()]

    issuers: dict[str, set[str]] = {}
    for conn in connectors:
        if "{" in conn.issuer or not conn.issuer:
            continue  # MONITOR_CONFIG_ERROR reports it
        provider = snapshot.provider_for(conn.issuer)
        issuers.setdefault(conn.issuer, set()).update(provider.thumbprints if provider else ())
    inspector = inspector or IssuerInspector(config.issuer_inspection)
    reports = inspector.inspect_all(issuers)

    # Test exchanges against STS (forged probes, real tokens); the EXCHANGE_* checks read the results.
    exchange_results: ExchangeResults | None = None
    if exchanges:
        runner = ExchangeRunner(config, snapshot, reports, session=collector.session, inspector=inspector,
                                secrets_session=secrets_session)
        exchange_results = runner.run(connectors)

    # Onboarding stacks (STACK_*): existence and drift detection, for connectors that name one.
    stacks = {}
    for conn in connectors:
        if conn.stack_name:
            cfn = collector.session.client("cloudformation", region_name=config.region, config=BOTO_CONFIG)
            stacks[conn.name] = inspect_stack(cfn, conn.stack_name)
            snapshot.read_errors.extend(stacks[conn.name].errors)

    # The connectors' real exchanges, from CloudTrail (EXCHANGE_LIVE_*).
    live_results: LiveResults | None = None
    if live and config.live_exchanges.enabled:
        live_results = collect_live_exchanges(config, collector.session, snapshot, connectors, now=now,
                                              state=live_state)

    checks = all_checks()
    available = _parts_available(snapshot) | ({"cloudtrail"} if live_results and live_results.available else set())
    findings: list[Finding] = []
    # Checks that did not run because a part could not be read: their findings are unknown, not resolved.
    not_run: dict[str, list[str]] = {}
    for conn in connectors:
        ctx = CheckContext(config=config, connector=conn, snapshot=snapshot, issuer=reports.get(conn.issuer), now=now,
                           extras={"exchanges": exchange_results, "stacks": stacks,
                                   "baseline": (baselines or {}).get(conn.name), "live": live_results})
        for check in checks:
            if check.scope != "connector":
                continue
            if not set(check.needs) <= available:
                not_run.setdefault(conn.name, []).append(check.id)
                continue
            try:
                findings.extend(check.run(ctx))
            except Exception as exc:  # noqa: BLE001 - a broken check becomes a finding, never a stopped run
                findings.append(_error_finding(ctx, check.id, exc))

    # Account-scoped checks (MONITOR_*) run once, under a pseudo-connector that stands for all of them.
    account_conn = Connector(
        name=ACCOUNT_WIDE, preset=None, issuer="", needed_audiences=(), accepted_audiences=frozenset(), roles=(),
        customer_tenant_id=None, caller={}, severities={}, stack_name=None,
    )
    actx = CheckContext(config=config, connector=account_conn, snapshot=snapshot, issuer=None, now=now)
    for check in checks:
        if check.scope != "account":
            continue
        try:
            findings.extend(check.run(actx))
        except Exception as exc:  # noqa: BLE001
            findings.append(_error_finding(actx, check.id, exc))

    return ScanResult(
        account_id=snapshot.account_id,
        findings=sort_findings(findings),
        snapshot=snapshot,
        issuers=reports,
        connectors=connectors,
        duration_seconds=time.monotonic() - started,
        stats={"tls_handshakes": inspector.handshakes, "checks_not_run": not_run}
        | ({"exchange": exchange_results.metrics()} if exchange_results is not None else {}),
        live=live_results,
    )
