"""Alert e-mails: the SNS messages for one connector's changes in one run, each built to fit SNS.

The subject names the highest severity, the connector, the account and the counts; the plain-text body says, for
each change, what changed, why it matters, how to fix it, and the diff where there is one. Message attributes
`severity`, `connector`, `account` and `check_ids` (String.Array) let subscriptions filter. Nothing secret is ever
in a finding, so nothing secret reaches an alert.

SNS's limits (FACTS.md "Service limits") are part of the contract: a message is at most 262,144 bytes with its
attributes, the subject at most 100 ASCII characters without line breaks or control characters, at most 10
attributes. So `compose_all` builds to fit: every change is rendered as a block of bounded size (a huge diff is cut
and says how much was left out), blocks are packed into messages most severe first, and when a connector's changes
need more than `MAX_MESSAGES` messages, the last one summarises the rest: counts per check, most severe first, and
one line per change naming its resource for as many as fit, then where the rest is. Each message carries its own
changes, so the pipeline settles each change exactly once, with the message that told people about it.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from ..bounds import clip, utf8_len
from ..findings import Severity
from ..state.lifecycle import Change

KIND_LABEL = {"new": "NEW", "escalated": "ESCALATED", "resolved": "RESOLVED", "reminder": "STILL OPEN"}
ORDER = {"new": 0, "escalated": 1, "reminder": 2, "resolved": 3}

SNS_MESSAGE_BYTES = 262_144  # Publish: the message and its attributes together
SUBJECT_CHARS = 100
MAX_ATTRIBUTES = 10
MAX_MESSAGES = 10  # per connector and run; beyond it the last message summarises the rest
CHANGE_BYTES = 24 * 1024  # one change's block in a body
_MARGIN = 2048  # room left in every message for what the estimate may miss (JSON escaping of attributes, ...)
_DIFF_LINES = 60
_LINE_CHARS = 400
FOOTER = "Sent by connector-health. Filter these messages with the attributes severity, connector, account, check_ids."


@dataclass
class AlertMessage:
    subject: str
    body: str
    attributes: dict[str, dict[str, str]]
    severity: Severity
    check_ids: list[str]
    changes: list[Change] = field(default_factory=list, repr=False)  # the changes this message tells about

    @property
    def size(self) -> int:
        """Bytes SNS counts (body and attributes; the subject is counted too, to be safe)."""
        return utf8_len(self.body) + utf8_len(self.subject) + attributes_size(self.attributes)


def attributes_size(attributes: dict[str, dict[str, str]]) -> int:
    return sum(utf8_len(name) + utf8_len(a["DataType"]) + utf8_len(a["StringValue"]) for name, a in attributes.items())


def _risk(check_id: str) -> str:
    from ..checks import get_check

    try:
        return get_check(check_id).risk
    except KeyError:
        return ""


def _text(value: Any, limit: int) -> str:
    """One field of a block: printable text (no control characters but newlines and tabs), at most `limit`."""
    text = clip(value if isinstance(value, str) else str(value), limit)
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates from JSON cannot be sent
    return "".join(c if c in "\n\t" or unicodedata.category(c) != "Cc" else " " for c in text)


def _ordered(changes: list[Change]) -> list[Change]:
    """Open changes before resolutions, most severe first."""
    return sorted(changes, key=lambda c: (c.kind == "resolved", -c.severity.rank, ORDER[c.kind], c.record.check_id,
                                          c.record.resource_arn))


def _diff_lines(diff: Any) -> list[str]:
    if isinstance(diff, list):
        return [str(x) for x in diff]
    if isinstance(diff, dict):
        out = []
        for key, value in diff.items():
            if isinstance(value, dict) and {"was", "is"} <= set(value):
                out.append(f"{key}: {json.dumps(value['was'], default=str)} -> {json.dumps(value['is'], default=str)}")
            else:
                out.append(f"{key}: {json.dumps(value, default=str)}")
        return out
    return [str(diff)]


def change_block(number: int, change: Change) -> str:
    """One change, rendered for the body and bounded to `CHANGE_BYTES`."""
    f = change.record.finding
    head = f"{number}. {KIND_LABEL[change.kind]} {change.record.severity.upper()} {change.record.check_id}"
    if change.kind == "escalated":
        head += f" (was {str(change.previous_severity).upper()})"
    lines = [head, f"   {_text(f.get('title', ''), 300)}".rstrip(), f"   Resource: {_text(change.record.resource_arn, 1000)}"]
    if change.kind == "resolved":
        lines += [f"   Was: {_text(f.get('message', ''), 2000)}",
                  f"   First seen {change.record.first_seen}, resolved {change.record.resolved_at}."]
        return "\n".join(lines) + "\n"
    lines.append(f"   What: {_text(f.get('message', ''), 4000)}")
    risk = _risk(change.record.check_id)
    if risk:
        lines.append(f"   Why it matters: {risk}")
    lines.append(f"   Fix: {_text(f.get('remediation', ''), 2000)}")
    tail = [f"   Open since {change.record.first_seen}; last alerted {change.record.last_alerted}."] \
        if change.kind == "reminder" else []
    diff = (f.get("details") or {}).get("diff")
    if diff:
        all_lines = _diff_lines(diff)
        shown = [f"     {_text(line, _LINE_CHARS)}" for line in all_lines[:_DIFF_LINES]]
        budget = CHANGE_BYTES - utf8_len("\n".join(lines + tail)) - 200
        while shown and utf8_len("\n".join(shown)) > budget:
            shown.pop()
        lines.append("   Diff (was -> is):")
        lines += shown
        if len(shown) < len(all_lines):
            lines.append(f"     … {len(all_lines) - len(shown):,} more line(s) of diff: run `connector-health check "
                         f"--format json` for the whole evidence")
    lines += tail
    block = "\n".join(lines) + "\n"
    return block if utf8_len(block) <= CHANGE_BYTES else _text(block, CHANGE_BYTES // 4) + "\n"


def _summary_line(change: Change) -> str:
    return (f"- {KIND_LABEL[change.kind]} {change.record.severity.upper()} {change.record.check_id}: "
            f"{_text(change.record.resource_arn, 300)}")


def _ascii(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)


def _subject(label: str, connector: str, account: str, counts: str, part: str) -> str:
    """At most 100 printable ASCII characters, starting with "[" (punctuation); the part number is never cut."""
    text = _ascii(f"[{label}] connector-health: {connector} in {account}: {counts}")
    room = SUBJECT_CHARS - len(part)
    if len(text) > room:
        text = text[: room - 3] + "..."
    return text + part


def _counts(changes: list[Change]) -> str:
    counts: dict[str, int] = {}
    for c in changes:
        counts[c.kind] = counts.get(c.kind, 0) + 1
    return ", ".join(f"{n} {KIND_LABEL[k].lower()}" for k, n in sorted(counts.items(), key=lambda kv: ORDER[kv[0]]))


def _top(changes: list[Change]) -> tuple[Severity, str]:
    open_changes = [c for c in changes if c.kind != "resolved"]
    top = max((c.severity for c in (open_changes or changes)), key=lambda s: s.rank)
    return top, (top.value.upper() if open_changes else "RESOLVED")


def _attributes(account: str, connector: str, top: Severity, check_ids: list[str]) -> dict[str, dict[str, str]]:
    return {  # 4 of SNS's 10
        "severity": {"DataType": "String", "StringValue": top.value},
        "connector": {"DataType": "String", "StringValue": _text(connector, 256) or "?"},
        "account": {"DataType": "String", "StringValue": account},
        "check_ids": {"DataType": "String.Array", "StringValue": json.dumps(check_ids)},
    }


def _message(account: str, connector: str, changes: list[Change], body_parts: list[str], part: str) -> AlertMessage:
    top, label = _top(changes)
    check_ids = sorted({c.record.check_id for c in changes})
    subject = _subject(label, connector, account, _counts(changes), part)
    return AlertMessage(subject, "".join(body_parts), _attributes(account, connector, top, check_ids), top, check_ids,
                        list(changes))


def _header(account: str, connector: str, total: int, index: int = 1, count: int = 1) -> str:
    where = f" (message {index} of {count})" if count > 1 else ""
    return (f"connector-health found {total} change(s) for connector {_text(connector, 256)!r} in account "
            f"{account}{where}.\n\n")


def summary_body(account: str, connector: str, changes: list[Change], budget: int, *, note: str = "") -> str:
    """Counts per check (most severe first) and one line per change for as many as fit `budget` bytes, then a
    pointer to the rest."""
    counts: dict[tuple[int, str], int] = {}
    for c in changes:
        key = (-c.severity.rank, c.record.check_id)
        counts[key] = counts.get(key, 0) + 1
    lines = [note or f"{len(changes)} more change(s), summarised so that every message fits SNS's size limit.", "",
             "Changes per check (most severe first):"]
    lines += [f"  {check_id}: {n}" for (_, check_id), n in sorted(counts.items())]
    lines += ["", "Changes:"]
    text = "\n".join(lines) + "\n"

    def pointer(left: int) -> str:
        return (f"… and {left:,} more change(s), not listed to stay within SNS's limit: run `connector-health check "
                f"--format json` for account {account}, or read the state table's items under "
                f"ACCOUNT#{account}#CONNECTOR#{_text(connector, 256)}.\n")

    for n, change in enumerate(changes):
        line = _summary_line(change) + "\n"
        if utf8_len(text) + utf8_len(line) + utf8_len(pointer(len(changes))) > budget:
            return text + pointer(len(changes) - n)
        text += line
    return text


def compose_all(account: str, connector: str, changes: list[Change]) -> list[AlertMessage]:
    """The messages for one connector's changes, each within SNS's limits, most severe changes first. Every change
    is in exactly one message."""
    ordered = _ordered(changes)
    if not ordered:
        return []
    worst_attributes = attributes_size(_attributes(account, connector, Severity.CRITICAL,
                                                   sorted({c.record.check_id for c in ordered})))
    budget = SNS_MESSAGE_BYTES - _MARGIN - worst_attributes - SUBJECT_CHARS - utf8_len(FOOTER) - 512
    groups: list[tuple[list[Change], list[str]]] = []
    used = budget + 1
    for n, change in enumerate(ordered, 1):
        block = change_block(n, change) + "\n"
        size = utf8_len(block)
        if used + size > budget:
            groups.append(([], []))
            used = 0
        groups[-1][0].append(change)
        groups[-1][1].append(block)
        used += size
    if len(groups) > MAX_MESSAGES:
        kept = groups[: MAX_MESSAGES - 1]
        rest = [c for group, _ in groups[MAX_MESSAGES - 1:] for c in group]
        groups = kept + [(rest, [summary_body(account, connector, rest, budget)])]
    total = len(ordered)
    messages = []
    for i, (group, blocks) in enumerate(groups, 1):
        part = f" ({i}/{len(groups)})" if len(groups) > 1 else ""
        body = [_header(account, connector, total, i, len(groups)), *blocks, FOOTER]
        messages.append(_message(account, connector, group, body, part))
    return messages


def compose_summary(account: str, connector: str, changes: list[Change], *, reason: str) -> AlertMessage:
    """A message that only lists the changes (for a message SNS refused as it was)."""
    budget = SNS_MESSAGE_BYTES - _MARGIN - 8192
    body = summary_body(account, connector, _ordered(changes), budget, note=reason)
    return _message(account, connector, _ordered(changes), [_header(account, connector, len(changes)), body, FOOTER],
                    "")


def compose(account: str, connector: str, changes: list[Change]) -> AlertMessage:
    """The first message of `compose_all` (all of them when the changes fit one message)."""
    return compose_all(account, connector, changes)[0]
