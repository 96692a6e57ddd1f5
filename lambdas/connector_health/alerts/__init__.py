"""Alert e-mails: one SNS message per connector per run that has changes.

The subject names the highest severity, the connector and the count; the plain-text body says, for each change,
what changed, why it matters, how to fix it, and the diff where there is one. Message attributes `severity`,
`connector`, `account` and `check_ids` (String.Array) let subscriptions filter. Nothing secret is ever in a
finding, so nothing secret reaches an alert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..findings import Severity
from ..state.lifecycle import Change

KIND_LABEL = {"new": "NEW", "escalated": "ESCALATED", "resolved": "RESOLVED", "reminder": "STILL OPEN"}
ORDER = {"new": 0, "escalated": 1, "reminder": 2, "resolved": 3}


@dataclass
class AlertMessage:
    subject: str
    body: str
    attributes: dict[str, dict[str, str]]
    severity: Severity
    check_ids: list[str]


def _risk(check_id: str) -> str:
    from ..checks import get_check

    try:
        return get_check(check_id).risk
    except KeyError:
        return ""


def compose(account: str, connector: str, changes: list[Change]) -> AlertMessage:
    ordered = sorted(changes, key=lambda c: (ORDER[c.kind], -c.severity.rank, c.record.check_id))
    open_changes = [c for c in ordered if c.kind != "resolved"]
    top = max((c.severity for c in (open_changes or ordered)), key=lambda s: s.rank)
    counts: dict[str, int] = {}
    for c in ordered:
        counts[c.kind] = counts.get(c.kind, 0) + 1
    what = ", ".join(f"{n} {KIND_LABEL[k].lower()}" for k, n in sorted(counts.items(), key=lambda kv: ORDER[kv[0]]))
    label = top.value.upper() if open_changes else "RESOLVED"
    subject = f"[{label}] connector-health: {connector} in {account}: {what}"
    if len(subject) > 100:  # SNS's limit for e-mail subjects
        subject = subject[:97] + "..."

    lines = [
        f"connector-health found {len(ordered)} change(s) for connector {connector!r} in account {account}.",
        "",
    ]
    for i, change in enumerate(ordered, 1):
        f = change.record.finding
        sev = change.record.severity.upper()
        head = f"{i}. {KIND_LABEL[change.kind]} {sev} {change.record.check_id}"
        if change.kind == "escalated":
            head += f" (was {str(change.previous_severity).upper()})"
        lines += [head, f"   {f.get('title', '')}".rstrip(), f"   Resource: {change.record.resource_arn}"]
        if change.kind == "resolved":
            lines += [f"   Was: {f.get('message', '')}", f"   First seen {change.record.first_seen}, resolved {change.record.resolved_at}.", ""]
            continue
        lines.append(f"   What: {f.get('message', '')}")
        risk = _risk(change.record.check_id)
        if risk:
            lines.append(f"   Why it matters: {risk}")
        lines.append(f"   Fix: {f.get('remediation', '')}")
        diff = (f.get("details") or {}).get("diff")
        if diff:
            lines.append("   Diff (was -> is):")
            lines += [f"     {line}" for line in _diff_lines(diff)]
        if change.kind == "reminder":
            lines.append(f"   Open since {change.record.first_seen}; last alerted {change.record.last_alerted}.")
        lines.append("")
    lines.append("Sent by connector-health. Filter these messages with the attributes severity, connector, account, check_ids.")
    check_ids = sorted({c.record.check_id for c in ordered})
    attributes = {
        "severity": {"DataType": "String", "StringValue": top.value},
        "connector": {"DataType": "String", "StringValue": connector},
        "account": {"DataType": "String", "StringValue": account},
        "check_ids": {"DataType": "String.Array", "StringValue": json.dumps(check_ids)},
    }
    return AlertMessage(subject, "\n".join(lines), attributes, top, check_ids)


def _diff_lines(diff: Any) -> list[str]:
    if isinstance(diff, list):
        return [str(x) for x in diff][:60]
    if isinstance(diff, dict):
        out = []
        for key, value in diff.items():
            if isinstance(value, dict) and {"was", "is"} <= set(value):
                out.append(f"{key}: {json.dumps(value['was'], default=str)} -> {json.dumps(value['is'], default=str)}")
            else:
                out.append(f"{key}: {json.dumps(value, default=str)}")
        return out[:60]
    return [str(diff)]
