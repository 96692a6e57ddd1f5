"""The finding: what every check produces and what the CLI, alerts and state store consume."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(str, enum.Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: "Severity") -> bool:
        return self.rank >= other.rank

    @classmethod
    def parse(cls, value: str) -> "Severity":
        return cls(str(value).strip().lower())


_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


@dataclass
class Finding:
    check_id: str
    severity: Severity
    connector: str
    account: str
    resource_arn: str
    message: str
    remediation: str
    title: str = ""
    # Structured evidence (live and configured thumbprints, expiry dates, ...). Never secrets.
    details: dict[str, Any] = field(default_factory=dict)
    # Where the finding was written (lint-trust: file, resource, line, ...); None for findings about live resources.
    location: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "check_id": self.check_id,
            "severity": self.severity.value,
            "title": self.title,
            "connector": self.connector,
            "account": self.account,
            "resource_arn": self.resource_arn,
            "message": self.message,
            "remediation": self.remediation,
            "details": self.details,
        }
        if self.location is not None:
            out["location"] = self.location
        return out


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-f.severity.rank, f.connector, f.check_id, f.resource_arn))
