"""Metrics the handlers emit (Powertools EMF), from the definitions in metrics.py that the dashboard also reads."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from . import metrics as M
from .engine import ScanResult
from .findings import Severity


def _emit(defn: M.MetricDef, value: float, dimensions: dict[str, str], service: str) -> None:
    if set(dimensions) != set(defn.dimensions):  # the dashboard reads exactly the defined dimensions
        raise ValueError(f"{defn.name}: dimensions {sorted(dimensions)} differ from the definition {list(defn.dimensions)}")
    with single_metric(name=defn.name, unit=MetricUnit[defn.unit], value=value, namespace=M.NAMESPACE,
                       default_dimensions={"service": service}) as metric:
        for key, val in dimensions.items():
            metric.add_dimension(name=key, value=val)


def emit_scan_metrics(scan: ScanResult, *, service: str = M.SERVICE, heartbeat: bool = True) -> list[dict[str, Any]]:
    """Emit the per-connector and per-run metrics; returns what was emitted (for logs and tests)."""
    emitted: list[dict[str, Any]] = []

    def put(defn: M.MetricDef, value: float, **dims: str) -> None:
        _emit(defn, value, dims, service)
        emitted.append({"name": defn.name, "value": value, **dims})

    medium = Severity.MEDIUM
    for conn in scan.connectors:
        mine = [f for f in scan.findings if f.connector == conn.name]
        put(M.HEALTHY, 0 if any(f.severity.at_least(medium) for f in mine) else 1, Connector=conn.name)
        for sev in Severity:
            put(M.OPEN_FINDINGS, sum(1 for f in mine if f.severity is sev), Connector=conn.name, Severity=sev.value)
        report = scan.issuers.get(conn.issuer)
        expiries = [c.not_after for h in (report.hosts if report else []) if not h.error for c in (h.leaf, h.top) if c]
        if expiries:
            days = (min(expiries) - dt.datetime.now(dt.timezone.utc)).total_seconds() / 86400
            put(M.CERT_DAYS_LEFT, round(days, 2), Connector=conn.name)
        activity = scan.live.activity.get(conn.name) if scan.live is not None and scan.live.available else None
        if activity is not None:
            put(M.LIVE_SUCCESSES, activity.successes, Connector=conn.name)
            put(M.LIVE_FAILURES, activity.failures, Connector=conn.name)
        probe = _probe_metrics(scan, conn.name)
        if probe is not None:
            stage, latency = probe
            put(M.PROBE_STAGE, stage, Connector=conn.name)
            if latency is not None:
                put(M.PROBE_LATENCY, latency, Connector=conn.name)
    errors = sum(1 for f in scan.findings if f.check_id in ("MONITOR_CHECK_ERROR", "MONITOR_ACCESS_DENIED"))
    put(M.SCAN_ERRORS, errors)
    put(M.SCAN_DURATION, round(scan.duration_seconds, 3))
    if heartbeat:
        put(M.HEARTBEAT, 1)
    return emitted


def _probe_metrics(scan: ScanResult, connector: str) -> tuple[float, float | None] | None:
    """(lowest stage index reached, highest latency ms) of the connector's forged probes that were sent."""
    probes = [p for p in (scan.stats.get("exchange") or {}).get("probes", [])
              if connector in (p.get("connectors") or ()) and p.get("latency_ms") is not None and not p.get("inherited_from")]
    if not probes:
        return None
    if any(p.get("stage") == "credentials" for p in probes):
        stage = 0.0  # a forged token got credentials: the least healthy outcome, whatever its stage index
    else:
        stage = min(float(p.get("stage_index", -1)) for p in probes)
    return stage, max(float(p["latency_ms"]) for p in probes)


def emit_account_metrics(account: str, findings, *, service: str = M.SERVICE) -> list[dict[str, Any]]:
    """Hub mode: one account's health and its count of findings at or above medium (dimension Account)."""
    loud = sum(1 for f in findings if f.severity.at_least(Severity.MEDIUM))
    emitted = []
    for defn, value in ((M.ACCOUNT_HEALTHY, 0 if loud else 1), (M.ACCOUNT_FINDINGS, loud)):
        _emit(defn, value, {"Account": account}, service)
        emitted.append({"name": defn.name, "value": value, "Account": account})
    return emitted
