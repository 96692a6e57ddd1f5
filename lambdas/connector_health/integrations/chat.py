"""Chat cards: the e-mail alerts' changes as Amazon Q Developer in chat applications (formerly AWS Chatbot) custom
notifications, published to a second SNS topic that the chat channels (Slack, Microsoft Teams) subscribe to.

Format: https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html ("Event schema"): `version` "1.0",
`source` "custom", an optional `id`, `content` {`textType` "client-markdown", `title`, `description`, `nextSteps`,
`keywords`} and optional `metadata` {`threadId`, `summary`, `eventType`, `relatedResources`, `additionalContext`}.
Anything else is dropped without a word, so the card is built to that shape (tests validate it against
tests/unit/integrations/chatbot_custom_notification.schema.json, written from that page).

One short card per connector and run: a title with the worst severity, the connector and the account; one line per
change (most severe first, at most `MAX_LINES`, then how many more); the fixes of the first changes as next steps.
The page gives no lengths, so the card keeps to what every channel shows whole: a description within Slack's
3,000-character section text, a title of one line. The e-mail keeps the full text; the card points to it.
Everything shown comes from watched accounts and may be hostile: it is shown inert (no mentions, links or code
fences can be formed from it).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Any

from ..alerts import KIND_LABEL, ORDER
from ..bounds import clip, utf8_len
from .feed import FeedChange

VERSION, SOURCE, TEXT_TYPE = "1.0", "custom", "client-markdown"
EVENT_TYPE = "connector-health finding change"
TITLE_CHARS = 200
DESCRIPTION_CHARS = 3000
LINE_CHARS = 400
NEXT_STEPS, NEXT_STEP_CHARS = 3, 300
KEYWORDS, KEYWORD_CHARS = 8, 64
RELATED_RESOURCES = 10
CARD_BYTES = 16 * 1024  # far below SNS's 256 KiB: a card is meant to be read at a glance
MAX_LINES = 8
EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:",
         "low": ":large_blue_circle:", "info": ":white_circle:", "resolved": ":white_check_mark:"}


def inert(value: Any, limit: int) -> str:
    """One line of text that chat markdown cannot turn into a mention, a link or code: angle brackets, pipes and
    backticks replaced, control characters and line breaks removed."""
    text = " ".join(str(value or "").split())
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    text = text.replace("<", "‹").replace(">", "›").replace("|", "¦").replace("`", "'").replace("@", "@\u200b")
    return clip(text, limit)


def _ordered(changes: list[FeedChange]) -> list[FeedChange]:
    return sorted(changes, key=lambda f: (f.change.kind == "resolved", -f.change.severity.rank,
                                          ORDER[f.change.kind], f.change.record.check_id))


def _line(f: FeedChange) -> str:
    c = f.change
    head = f"*{KIND_LABEL[c.kind]} {c.record.severity.upper()}*"
    if c.kind == "escalated" and c.previous_severity:
        head += f" (was {c.previous_severity.upper()})"
    title = inert(c.record.finding.get("title") or c.record.check_id, 120)
    return clip(f"{head} `{c.record.check_id}` {title}\n`{inert(c.record.resource_arn, 300)}`", LINE_CHARS)


def card(account: str, connector: str, changes: list[FeedChange]) -> dict[str, Any]:
    """The custom notification for one connector's changes in one run."""
    ordered = _ordered(changes)
    open_changes = [f for f in ordered if f.change.kind != "resolved"]
    worst = max((f.change.severity for f in (open_changes or ordered)), key=lambda s: s.rank)
    label = worst.value.upper() if open_changes else "RESOLVED"
    emoji = EMOJI[worst.value if open_changes else "resolved"]
    counts: dict[str, int] = {}
    for f in ordered:
        counts[f.change.kind] = counts.get(f.change.kind, 0) + 1
    summary = ", ".join(f"{n} {KIND_LABEL[k].lower()}" for k, n in sorted(counts.items(), key=lambda kv: ORDER[kv[0]]))
    where = f"{inert(connector, 64)} in {account}"
    title = clip(f"{emoji} {label} connector-health: {where}: {summary}", TITLE_CHARS)

    lines: list[str] = []
    more = f"\n… and {{n}} more change(s): see the e-mail alert (or Security Hub) for {where}."
    for n, f in enumerate(ordered):
        line = _line(f)
        left = len(ordered) - n
        if n == MAX_LINES or utf8_len("\n".join([*lines, line])) + len(more) + 8 > DESCRIPTION_CHARS:
            lines.append(more.format(n=left).strip())
            break
        lines.append(line)
    fixes: list[str] = []
    for f in open_changes:
        fix = f"{f.change.record.check_id}: {inert(f.change.record.finding.get('remediation'), NEXT_STEP_CHARS)}"
        if fix not in fixes:
            fixes.append(clip(fix, NEXT_STEP_CHARS))
        if len(fixes) == NEXT_STEPS:
            break
    check_ids = list(dict.fromkeys(f.change.record.check_id for f in ordered))
    keywords = [worst.value, inert(connector, KEYWORD_CHARS), account, *check_ids][:KEYWORDS]
    resources = list(dict.fromkeys(inert(f.change.record.resource_arn, 1024) for f in ordered
                                   if str(f.change.record.resource_arn).startswith("arn:")))[:RELATED_RESOURCES]
    digest = hashlib.sha256("\n".join(f.token + f.change.record.fingerprint for f in ordered).encode()).hexdigest()
    content: dict[str, Any] = {"textType": TEXT_TYPE, "title": title, "description": "\n".join(lines)}
    if fixes:
        content["nextSteps"] = fixes
    content["keywords"] = [clip(k, KEYWORD_CHARS) for k in keywords]
    return {
        "version": VERSION,
        "source": SOURCE,
        "id": f"connector-health-{digest[:32]}",
        "content": content,
        "metadata": {
            # One thread per connector and account, where the channel allows threads.
            "threadId": clip(f"connector-health-{account}-{inert(connector, 64)}", 128),
            "summary": clip(f"connector-health: {summary} for {where}", TITLE_CHARS),
            "eventType": EVENT_TYPE,
            "relatedResources": resources,
            "additionalContext": {"account": account, "connector": inert(connector, 64), "severity": worst.value,
                                  "changes": str(len(ordered))},
        },
    }


def publish(sns, topic_arn: str, account: str, connector: str, changes: list[FeedChange]) -> str:
    """Publish one card; returns the SNS message id. Message attributes as the e-mails have, for filter policies."""
    body = card(account, connector, changes)
    text = json.dumps(body, ensure_ascii=False)
    if utf8_len(text) > CARD_BYTES:  # bounded above; never hand SNS something it may refuse
        body["content"]["description"] = clip(body["content"]["description"], 1000)
        text = json.dumps(body, ensure_ascii=False)
    check_ids = sorted({f.change.record.check_id for f in changes})
    attributes = {
        "severity": {"DataType": "String", "StringValue": body["metadata"]["additionalContext"]["severity"]},
        "connector": {"DataType": "String", "StringValue": inert(connector, 256) or "?"},
        "account": {"DataType": "String", "StringValue": account},
        "check_ids": {"DataType": "String.Array", "StringValue": json.dumps(check_ids[:100])},
    }
    return sns.publish(TopicArn=topic_arn, Message=text, MessageAttributes=attributes).get("MessageId", "")
