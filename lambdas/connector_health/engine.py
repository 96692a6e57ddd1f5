"""The engine: collect one snapshot per account, inspect the issuers once, run every check per connector.

Used by the CLI and the Lambda handlers alike. One failing check or one unreachable issuer never stops the
others: it becomes a finding.

The scan also says which checks really ran, per connector (`ScanResult.coverage`): a check whose `needs` were not
read does not run, a check whose `reads` are missing ran on partial data, and a check that raised did not finish.
Only the checks that completed may resolve their earlier findings (the state lifecycle asks `Coverage`); the
others' findings stay open, and the MONITOR_* finding of the failed read names them.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Mapping

import boto3

from .checks import Check, CheckContext, all_checks
from .checks.monitor import ACCOUNT_WIDE
from .collect.aws import BOTO_CONFIG, AccountSnapshot, SerializedSession, SnapshotCollector
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


# Parts of a scan that checks depend on (`Check.needs`, `Check.reads`).
PARTS = (
    "roles",  # every role and managed policy (GetAccountAuthorizationDetails)
    "providers",  # every OIDC provider
    "issuer",  # the connector's issuer was inspected
    "issuer_tls",  # a TLS handshake with every host of the issuer succeeded
    "discovery",  # the discovery document was read
    "jwks",  # the JWKS was read and holds usable keys
    "exchanges",  # every probe and real exchange of the connector got STS's answer
    "stack",  # the onboarding stack was looked up (or the connector names none)
    "stack_drift",  # drift detection finished with IN_SYNC or DRIFTED (or there is no stack to check)
    "baseline",  # the connector has an accepted baseline
    "cloudtrail",  # the connector's real exchanges were read from CloudTrail for the whole window (EXCHANGE_LIVE_*)
)


@dataclass
class Coverage:
    """Which checks completed in this scan, per connector (``*`` for the account-wide ones), and why the others
    did not: only a check that completed may resolve its earlier findings."""

    completed: dict[str, frozenset[str]] = field(default_factory=dict)
    not_run: dict[str, dict[str, str]] = field(default_factory=dict)  # connector -> check id -> why

    def may_resolve(self, connector: str, check_id: str, details: Mapping[str, Any] | None = None) -> bool:
        from .checks import all_checks

        if check_id == "MONITOR_CHECK_ERROR" and connector != ACCOUNT_WIDE:
            # A check that raised last time: its error is over only once that check completed.
            check_id = str((details or {}).get("check_id") or check_id)
        if check_id not in {c.id for c in all_checks()}:
            return True  # a check this version no longer has: nothing will ever report it again
        return check_id in self.completed.get(connector, frozenset())

    def checks_not_run(self, part: str) -> list[str]:
        """The checks that did not run or ran on partial data because `part` was missing (any connector)."""
        return sorted({check for reasons in self.not_run.values() for check, why in reasons.items()
                       if part in why.split(", ")})


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
    coverage: Coverage = field(default_factory=Coverage)

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


def _exchanges_answered(conn: Connector, results: ExchangeResults | None) -> bool:
    if results is None or not conn.issuer or "{" in conn.issuer:
        return False
    probes_answered = all(p.outcome is not None and p.error is None for p in results.probes_for(conn.name))
    return probes_answered and all(e.stage != "not-run" for e in results.exchanges_for(conn.name))


def _connector_parts(account_parts: set[str], conn: Connector, report: IssuerReport | None,
                     exchanges: ExchangeResults | None, stack: Any, baseline: Any) -> set[str]:
    """What could be read for one connector, beyond the account's roles and providers."""
    parts = set(account_parts)
    if report is not None:
        parts.add("issuer")
        if report.hosts and not any(h.error for h in report.hosts):
            parts.add("issuer_tls")
        if report.discovery is not None:
            parts.add("discovery")
        if report.key_ids:
            parts.add("jwks")
    if _exchanges_answered(conn, exchanges):
        parts.add("exchanges")
    if stack is None or (not stack.errors and stack.exists is not None):
        parts.add("stack")
    if stack is None or stack.exists is False or (not stack.errors and stack.drift_status in ("IN_SYNC", "DRIFTED")):
        parts.add("stack_drift")
    if baseline:
        parts.add("baseline")
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


# Parts known as soon as the snapshot is read: a connector check that needs and reads nothing else may run while
# the issuers, STS and CloudTrail are being asked (it must not read `ctx.issuer` or the extras either: a check that
# does declares the part, see `Check.reads`).
SNAPSHOT_PARTS = frozenset({"roles", "providers"})


def _snapshot_check(check: Check) -> bool:
    declared = {*check.needs, *check.reads}
    return check.scope == "connector" and bool(declared) and declared <= SNAPSHOT_PARTS


def _snapshot_checks(config: Config, connectors: list[Connector], snapshot: AccountSnapshot, checks: list[Check],
                     available: set[str], baselines: dict[str, dict[str, Any]] | None, now: dt.datetime
                     ) -> dict[tuple[str, str], list[Finding] | Exception]:
    """The findings (or the exception) of every check that reads the snapshot alone, per (connector, check), run
    in the scan's order; the main loop takes them from here instead of running the check again."""
    out: dict[tuple[str, str], list[Finding] | Exception] = {}
    for conn in connectors:
        ctx = CheckContext(config=config, connector=conn, snapshot=snapshot, issuer=None, now=now,
                           extras={"baseline": (baselines or {}).get(conn.name)})
        for check in checks:
            if not _snapshot_check(check) or not set(check.needs) <= available:
                continue
            try:
                out[(conn.name, check.id)] = list(check.run(ctx))
            except Exception as exc:  # noqa: BLE001 - reported by the main loop, as if raised there
                out[(conn.name, check.id)] = exc
    return out


def _side_view(snapshot: AccountSnapshot) -> AccountSnapshot:
    """The same snapshot (roles, policies, providers and the parsed-document caches shared) with read errors and
    call counts of its own, for a phase that runs beside another one."""
    view = copy.copy(snapshot)
    view.read_errors = []
    view.api_calls = {}
    return view


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
    checks = all_checks()
    available = _parts_available(snapshot)

    # The two threads below (and the CloudTrail reader's, one per region) create clients from the scan's session.
    shared = SerializedSession.of(collector.session)
    secrets_session = (shared if secrets_session is None or secrets_session is collector.session
                       else SerializedSession.of(secrets_session))

    def inspect_and_exchange() -> tuple[dict[str, IssuerReport], ExchangeResults | None]:
        reports = inspector.inspect_all(issuers)
        if not exchanges:
            return reports, None
        # Test exchanges against STS (forged probes, real tokens); the EXCHANGE_* checks read the results.
        runner = ExchangeRunner(config, snapshot, reports, session=shared, inspector=inspector,
                                secrets_session=secrets_session)
        return reports, runner.run(connectors)

    def stacks_and_live(view: AccountSnapshot) -> tuple[dict[str, Any], LiveResults | None]:
        # Onboarding stacks (STACK_*): existence and drift detection, for connectors that name one.
        stacks = {}
        for conn in connectors:
            if conn.stack_name:
                cfn = shared.client("cloudformation", region_name=config.region, config=BOTO_CONFIG)
                stacks[conn.name] = inspect_stack(cfn, conn.stack_name)
        # The connectors' real exchanges, from CloudTrail (EXCHANGE_LIVE_*).
        live_results: LiveResults | None = None
        if live and config.live_exchanges.enabled:
            live_results = collect_live_exchanges(config, shared, view, connectors, now=now,
                                                  state=live_state)
        return stacks, live_results

    # What waits on the network (issuers, STS, CloudFormation, CloudTrail) runs in two threads while this one
    # evaluates the checks that read the snapshot alone (trust and permissions: the CPU-bound part). The second
    # thread writes its read errors and call counts to a view of the snapshot; they are added after the first
    # thread's, so the snapshot ends up exactly as when the phases ran one after another.
    view = _side_view(snapshot)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="scan-io") as pool:
        exchanging = pool.submit(inspect_and_exchange)
        reading = pool.submit(stacks_and_live, view)
        early = _snapshot_checks(config, connectors, snapshot, checks, available, baselines, now)
        reports, exchange_results = exchanging.result()
        stacks, live_results = reading.result()
    for status in stacks.values():
        snapshot.read_errors.extend(status.errors)
    snapshot.read_errors.extend(view.read_errors)
    for action, count in view.api_calls.items():
        snapshot.api_calls[action] = snapshot.api_calls.get(action, 0) + count

    if live_results and live_results.available:
        available = available | {"cloudtrail"}
    findings: list[Finding] = []
    coverage = Coverage()
    for conn in connectors:
        baseline = (baselines or {}).get(conn.name)
        ctx = CheckContext(config=config, connector=conn, snapshot=snapshot, issuer=reports.get(conn.issuer), now=now,
                           extras={"exchanges": exchange_results, "stacks": stacks, "baseline": baseline,
                                   "live": live_results})
        parts = _connector_parts(available, conn, reports.get(conn.issuer), exchange_results, stacks.get(conn.name),
                                 baseline)
        completed: set[str] = set()
        not_run: dict[str, str] = {}
        for check in checks:
            if check.scope != "connector":
                continue
            missing = [p for p in (*check.needs, *check.reads) if p not in parts]
            if not set(check.needs) <= parts:
                not_run[check.id] = ", ".join(missing)
                continue
            outcome = early.get((conn.name, check.id))
            try:
                if outcome is None:
                    findings.extend(check.run(ctx))
                elif isinstance(outcome, Exception):
                    raise outcome
                else:
                    findings.extend(outcome)
            except Exception as exc:  # noqa: BLE001 - a broken check becomes a finding, never a stopped run
                findings.append(_error_finding(ctx, check.id, exc))
                not_run[check.id] = "raised"
                continue
            if missing:
                not_run[check.id] = ", ".join(missing)
            else:
                completed.add(check.id)
        coverage.completed[conn.name] = frozenset(completed)
        coverage.not_run[conn.name] = not_run

    # Account-scoped checks (MONITOR_*) run once, under a pseudo-connector that stands for all of them.
    account_conn = Connector(
        name=ACCOUNT_WIDE, preset=None, issuer="", needed_audiences=(), accepted_audiences=frozenset(), roles=(),
        customer_tenant_id=None, caller={}, severities={}, stack_name=None,
    )
    actx = CheckContext(config=config, connector=account_conn, snapshot=snapshot, issuer=None, now=now,
                        extras={"coverage": coverage})
    account_completed: set[str] = set()
    for check in checks:
        if check.scope != "account":
            continue
        try:
            findings.extend(check.run(actx))
            account_completed.add(check.id)
        except Exception as exc:  # noqa: BLE001
            findings.append(_error_finding(actx, check.id, exc))
    coverage.completed[ACCOUNT_WIDE] = frozenset(account_completed)

    return ScanResult(
        account_id=snapshot.account_id,
        findings=sort_findings(findings),
        snapshot=snapshot,
        issuers=reports,
        connectors=connectors,
        duration_seconds=time.monotonic() - started,
        stats={"tls_handshakes": inspector.handshakes}
        | ({"exchange": exchange_results.metrics()} if exchange_results is not None else {}),
        live=live_results,
        coverage=coverage,
    )
