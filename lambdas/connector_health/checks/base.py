"""What a check is: a self-describing unit (ID, severity, title, risk, remediation, IAM actions it needs)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..catalog import DEFAULT_SEVERITY
from ..collect.aws import AccountSnapshot
from ..collect.issuer import IssuerReport
from ..config import Config, Connector
from ..findings import Finding, Severity


@dataclass
class CheckContext:
    """Everything a check may read for one connector in one account. Checks never call AWS themselves."""

    config: Config
    connector: Connector
    snapshot: AccountSnapshot
    issuer: IssuerReport | None
    now: Any  # datetime (UTC); injected so tests can move time
    extras: dict[str, Any] = field(default_factory=dict)


class Check:
    id: ClassVar[str]
    title: ClassVar[str]
    risk: ClassVar[str] = ""
    remediation: ClassVar[str]
    # IAM actions the monitor's role needs for this check (the CDK execution role is built from these).
    permissions: ClassVar[tuple[str, ...]] = ()
    # Snapshot parts this check reads; if one could not be read completely the check does not run
    # (MONITOR_ACCESS_DENIED / MONITOR_CHECK_ERROR already say why).
    needs: ClassVar[tuple[str, ...]] = ()
    # Parts without which the check still runs but its silence proves nothing (the issuer's hosts, discovery,
    # JWKS, the exchanges, the onboarding stack, the baseline): while one is missing, the check's earlier findings
    # stay open instead of being resolved. The parts are listed in `engine.PARTS`. A check that needs and reads
    # only "roles" and "providers" runs while the issuers, STS and CloudTrail are still being asked (ctx.issuer is
    # then None and the extras hold only the baseline): one that reads more must declare it here.
    reads: ClassVar[tuple[str, ...]] = ()
    # "connector": run once per connector; "account": once per scanned account.
    scope: ClassVar[str] = "connector"

    @property
    def default_severity(self) -> Severity:
        return DEFAULT_SEVERITY[self.id]

    def run(self, ctx: CheckContext) -> Iterable[Finding]:  # pragma: no cover - interface
        raise NotImplementedError

    def finding(
        self,
        ctx: CheckContext,
        resource_arn: str,
        message: str,
        *,
        severity: Severity | None = None,
        remediation: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Finding:
        """Build a finding; an explicit per-connector severity in the config wins over the check's own choice."""
        chosen = severity or self.default_severity
        chosen = ctx.connector.severities.get(self.id, chosen)
        return Finding(
            check_id=self.id,
            severity=chosen,
            connector=ctx.connector.name,
            account=ctx.snapshot.account_id,
            resource_arn=resource_arn,
            message=message,
            remediation=remediation or self.remediation,
            title=self.title,
            details=details or {},
        )


def provider_arn(ctx: CheckContext) -> str:
    """ARN of the connector's provider, as it is or as it would be if it existed."""
    existing = ctx.snapshot.provider_for(ctx.connector.issuer)
    if existing:
        return existing.arn
    return f"arn:{ctx.snapshot.partition}:iam::{ctx.snapshot.account_id}:oidc-provider/{ctx.connector.issuer_key}"


def connector_roles(connector: Connector, snapshot: AccountSnapshot, provider_arn: str,
                    others: Sequence[Connector] = ()) -> list[str]:
    """The roles a connector is about: those its preset or config names (that exist) and every role whose trust
    policy names its provider as a Federated principal, except those another connector on the same provider claims
    (`others`: by name, by its preset's role-name pattern, or because the policy names only that connector's
    audiences; e.g. Sentinel's `OIDC_*` roles on Defender's issuer). Trust checks and the baseline read this set."""
    names = {r.name for r in connector.roles if r.name in snapshot.roles}
    for role in snapshot.roles_trusting(provider_arn):
        if role.name in names:
            continue
        doc = snapshot.trust_document(role)
        strongest_other = max((_claim(other, role.name, doc) for other in others), default=0)
        if strongest_other == 0 or _claim(connector, role.name, doc) >= strongest_other:
            names.add(role.name)
    return sorted(names)


def named_audiences(document: Any) -> set[str]:
    """Values an Allow statement of a trust policy writes on some provider's `:aud` key."""
    return {v for s in document.statements if s.is_allow for c in s.conditions if c.key_lc.endswith(":aud")
            for v in c.values if isinstance(v, str)}


def _claim(connector: Connector, role_name: str, document: Any) -> int:
    """How strongly a role trusting a shared provider belongs to `connector`: 3 named, 2 by its preset's role-name
    pattern, 1 because every audience the policy names is one the connector accepts, 0 not at all."""
    if any(role_name == r.name or role_name in r.aliases for r in connector.roles):
        return 3
    if connector.preset is not None and any(fnmatch.fnmatchcase(role_name, p) for p in connector.preset.role_patterns):
        return 2
    named = named_audiences(document)
    return 1 if named and named <= set(connector.accepted_audiences) else 0
