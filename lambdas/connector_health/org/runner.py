"""One member account, the way hub mode sees it: assume its member role, then scan it (CLI) or run the whole
pipeline for it (worker). A refused member role is a finding for that account only, never a stopped run.

`scan_organization` is the local fan-out of `check --org`: the same per-account step on a bounded thread pool
(the Lambda hub fans out through SQS instead; nothing here schedules work across machines).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import boto3

from ..checks import get_check
from ..checks.monitor import account_context
from ..collect.aws import BOTO_CONFIG
from ..collect.issuer import IssuerInspector
from ..config import Config
from ..engine import scan_account
from ..findings import Finding, Severity, sort_findings
from .accounts import AccountSelection, MemberAccount, SkippedAccount, select_accounts
from .session import MemberRoleRefused, member_session, partition_of

SCANNED, FAILED = "scanned", "failed"


def refusal_finding(config: Config, account_id: str, refused: MemberRoleRefused, partition: str = "aws") -> Finding:
    """MONITOR_ACCESS_DENIED for an account whose member role is missing or does not admit the hub."""
    ctx = account_context(config, account_id, partition)
    return get_check("MONITOR_ACCESS_DENIED").finding(
        ctx, refused.role_arn,
        f"sts:AssumeRole on the member role {refused.role_arn} was refused ({refused.code}): {refused.message}. "
        f"No check ran in account {account_id}.",
        remediation=(f"Deploy the connector-health member stack to account {account_id} (the StackSet's target OUs "
                     f"must include it), or fix the role's trust policy: it must admit the hub's worker role with "
                     f"aws:PrincipalOrgID of your organisation. Role name expected: "
                     f"{config.org.member_role_name}."),
        details={"action": "sts:AssumeRole", "code": refused.code, "role_arn": refused.role_arn},
    )


def error_finding(config: Config, account_id: str, exc: Exception, partition: str = "aws") -> Finding:
    """MONITOR_CHECK_ERROR for an account whose scan failed for another reason (throttling, network, a bug)."""
    ctx = account_context(config, account_id, partition)
    return get_check("MONITOR_CHECK_ERROR").finding(
        ctx, f"arn:{partition}:iam::{account_id}:root",
        f"Account {account_id} could not be scanned: {exc.__class__.__name__}: {str(exc)[:300]}",
        details={"error": exc.__class__.__name__},
    )


@dataclass
class AccountOutcome:
    account_id: str
    name: str
    status: str  # SCANNED or FAILED (not scanned: the member role refused, or an error)
    findings: list[Finding]
    duration_seconds: float
    error: str | None = None
    api_calls: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        by_sev = {s.value: 0 for s in Severity}
        for f in self.findings:
            by_sev[f.severity.value] += 1
        return by_sev

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account_id, "name": self.name, "status": self.status, "findings": len(self.findings),
                "by_severity": self.counts(), "duration_seconds": round(self.duration_seconds, 3), "error": self.error}


def scan_member(config: Config, base: boto3.session.Session, account: MemberAccount, *, exchanges: bool,
                inspector: IssuerInspector | None = None, sts=None) -> AccountOutcome:
    """Scan one member account (no state, no alerts). `sts`: a client of `base` shared across threads (boto3
    clients are thread-safe, sessions are not)."""
    started = time.monotonic()
    partition = partition_of(base, config.region)
    try:
        session = member_session(base, account.account_id, config.org.member_role_name, config.region, sts=sts)
    except MemberRoleRefused as refused:
        return AccountOutcome(account.account_id, account.name, FAILED,
                              [refusal_finding(config, account.account_id, refused, partition)],
                              time.monotonic() - started, error=str(refused), api_calls={"sts:AssumeRole": 1})
    except Exception as exc:  # noqa: BLE001 - one account never stops the others
        return AccountOutcome(account.account_id, account.name, FAILED,
                              [error_finding(config, account.account_id, exc, partition)],
                              time.monotonic() - started, error=f"{exc.__class__.__name__}: {exc}",
                              api_calls={"sts:AssumeRole": 1})
    try:
        result = scan_account(config, session=session, account_id=account.account_id, exchanges=exchanges,
                              inspector=inspector)
    except Exception as exc:  # noqa: BLE001
        return AccountOutcome(account.account_id, account.name, FAILED,
                              [error_finding(config, account.account_id, exc, partition)],
                              time.monotonic() - started, error=f"{exc.__class__.__name__}: {exc}",
                              api_calls={"sts:AssumeRole": 1})
    return AccountOutcome(account.account_id, account.name, SCANNED, result.findings, time.monotonic() - started,
                          api_calls={"sts:AssumeRole": 1, **result.snapshot.api_calls})


@dataclass
class OrgScanResult:
    outcomes: list[AccountOutcome]
    selection: AccountSelection
    duration_seconds: float

    @property
    def findings(self) -> list[Finding]:
        return sort_findings([f for o in self.outcomes for f in o.findings])

    def summary(self) -> dict[str, Any]:
        findings = self.findings
        by_sev = {s.value: 0 for s in Severity}
        for f in findings:
            by_sev[f.severity.value] += 1
        calls: dict[str, int] = dict(self.selection.api_calls)
        for o in self.outcomes:
            for op, n in o.api_calls.items():
                calls[op] = calls.get(op, 0) + n
        return {
            "mode": "org",
            "management_account": self.selection.management_account,
            "accounts_scanned": sum(1 for o in self.outcomes if o.status == SCANNED),
            "accounts_failed": sum(1 for o in self.outcomes if o.status == FAILED),
            "accounts_skipped": len(self.selection.skipped),
            "findings": len(findings),
            "by_severity": by_sev,
            "duration_seconds": round(self.duration_seconds, 3),
            "api_calls": dict(sorted(calls.items())),
            "accounts": [o.to_dict() for o in sorted(self.outcomes, key=lambda o: o.account_id)],
            "skipped": [{"account": s.account_id, "name": s.name, "reason": s.reason} for s in self.selection.skipped],
        }


def scan_organization(config: Config, session: boto3.session.Session | None = None, *, exchanges: bool | None = None,
                      max_workers: int | None = None, selection: AccountSelection | None = None,
                      on_selected: Callable[[AccountSelection], None] | None = None,
                      on_done: Callable[[AccountOutcome], None] | None = None) -> OrgScanResult:
    """`check --org`: every selected account on a bounded thread pool. One issuer inspector serves the run, so
    an issuer shared by all accounts costs one TLS handshake per host, not one per account."""
    started = time.monotonic()
    session = session or boto3.session.Session()
    selection = selection or select_accounts(config.org, session)
    if on_selected:
        on_selected(selection)
    exchanges = config.org.exchanges if exchanges is None else exchanges
    inspector = IssuerInspector(config.issuer_inspection)
    sts = session.client("sts", region_name=config.region, config=BOTO_CONFIG)
    outcomes: list[AccountOutcome] = []
    lock = threading.Lock()
    workers = max(1, min(max_workers or config.org.max_workers, len(selection.selected) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="org-scan") as pool:
        futures = [pool.submit(scan_member, config, session, acct, exchanges=exchanges, inspector=inspector,
                               sts=sts)
                   for acct in selection.selected]
        for fut in as_completed(futures):
            outcome = fut.result()
            with lock:
                outcomes.append(outcome)
            if on_done:
                on_done(outcome)
    return OrgScanResult(outcomes, selection, time.monotonic() - started)


__all__ = ["FAILED", "SCANNED", "AccountOutcome", "OrgScanResult", "SkippedAccount", "error_finding",
           "refusal_finding", "scan_member", "scan_organization"]
