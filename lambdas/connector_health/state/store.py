"""The state store on DynamoDB: accepted baselines and the lifecycle of every finding.

Table schema (README "State table"): partition key `pk` (S), sort key `sk` (S), TTL attribute `expires_at`.

| pk                                   | sk                     | what                                              |
|--------------------------------------|------------------------|---------------------------------------------------|
| `ACCOUNT#<acct>#CONNECTOR#<name>`    | `BASELINE`             | accepted baseline (`baseline` JSON, `accepted_at`) |
| `ACCOUNT#<acct>#CONNECTOR#<name>`    | `FINDING#<fingerprint>`| one finding and its lifecycle (see `FindingRecord`) |
| `ACCOUNT#<acct>#CONNECTOR#<name>`    | `BASELINE#<digest>#<n>`| one part of a baseline too large for one item      |
| `RUN#<run id>`                       | `ALERT#<acct>#<name>#<digest>` | one published alert message and the fingerprints of the changes it carried (Lambda retries) |

Every write that decides who alerts is conditional, so two concurrent runs cannot both alert one change, and a
run that fails to publish releases what it claimed (the next run alerts it).

Every item fits DynamoDB's 400 KB (attribute names included): a finding keeps bounded evidence (`bounds.fit`:
long lists summarised with their count, long strings cut; the full evidence is recomputed by every scan), and a
baseline that does not fit one item is stored zlib-compressed, and if that is still too large, split across
parts written before the item that names them. A write DynamoDB still refuses for its size is not a failed run:
it is recorded in `StateStore.problems`, which the pipeline reports as MONITOR_CHECK_ERROR.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import Binary
from botocore.exceptions import ClientError

from ..bounds import clip, fit, utf8_len
from ..collect.aws import BOTO_CONFIG

CLAIM_TIMEOUT_SECONDS = 900  # a claim older than this belongs to a run that died: it may be taken over
ITEM_LIMIT_BYTES = 400 * 1024  # DynamoDB's item size limit, attribute names included (FACTS.md)
FINDING_BYTES = 96 * 1024  # a finding's JSON in its item: every run writes it again, so it stays well below
BASELINE_ITEM_BYTES = 300 * 1024  # a baseline (or one part of it) per item, leaving room for the item's other fields
MAX_BASELINE_PARTS = 32  # ~9.6 MB compressed; a larger baseline is not stored (MONITOR_CHECK_ERROR says so)
RESOURCE_CHARS = 2048
# An open finding whose item would not change is written again only when its last_seen is this old (`observe`).
LAST_SEEN_REFRESH_HOURS = 24
# Per-integration markers on a finding item: what Security Hub, the chat topic or EventBridge last received for
# it (integrations/). A delivery that failed leaves its marker behind, so the next run delivers it again.
SYNC_PREFIX = "sync_"
_MAX_BASELINE_JSON = 256 * 1024 * 1024  # never inflate a stored baseline beyond this


@dataclass(frozen=True)
class StateProblem:
    """A state write that did not fit (or a stored item that could not be read back), for the pipeline to report."""

    connector: str
    item: str  # e.g. "FINDING#<fingerprint>", "BASELINE"
    action: str  # the DynamoDB action, e.g. "dynamodb:PutItem"
    size: int  # bytes it needed (0 when unknown)
    outcome: str  # what was done instead


def _is_size_error(exc: ClientError) -> bool:
    err = exc.response.get("Error", {})
    return err.get("Code") == "ValidationException" and "size" in str(err.get("Message", "")).lower()


def item_size(item: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for an item: attribute names plus values (strings as UTF-8, binary as is, numbers
    about one byte per two digits plus one, lists and maps three bytes plus their elements)."""

    def value_size(value: Any) -> int:
        if isinstance(value, str):
            return utf8_len(value)
        if isinstance(value, (bytes, bytearray, Binary)):
            return len(bytes(value))
        if isinstance(value, bool) or value is None:
            return 1
        if isinstance(value, (int, float)):
            return len(str(value).lstrip("-").replace(".", "")) // 2 + 2
        if isinstance(value, dict):
            return 3 + sum(utf8_len(str(k)) + value_size(v) + 1 for k, v in value.items())
        if isinstance(value, (list, tuple, set)):
            return 3 + sum(value_size(v) + 1 for v in value)
        return utf8_len(str(value))

    return sum(utf8_len(name) + value_size(value) for name, value in item.items())


def finding_json(finding: dict[str, Any]) -> str:
    """The finding as stored: its evidence bounded to `FINDING_BYTES` (the fingerprint was taken from the full
    finding before, so bounding never changes a finding's identity)."""
    stored, _ = fit(finding, FINDING_BYTES)
    text = json.dumps(stored, default=str)
    if utf8_len(text) > FINDING_BYTES:  # not even the tightest bounds fit: keep what says what it is
        text = json.dumps({k: clip(finding.get(k, ""), 500) for k in
                           ("check_id", "severity", "title", "connector", "account", "resource_arn", "message")}
                          | {"details": {"omitted": "the evidence is too large to store; run `connector-health "
                                                    "check` to see it"}})
    return text


def _unchanged(previous: FindingRecord | None, rec: FindingRecord, finding_text: str) -> bool:
    """Whether observing `rec` would only move `last_seen` of an item that says the same, and not far."""
    if previous is None or previous.status != "open" or rec.status != "open":
        return False
    if (previous.resolved_at, previous.expires_at, rec.resolved_at, rec.expires_at) != (None, None, None, None):
        return False
    if (previous.severity, previous.check_id, previous.resource_arn, previous.first_seen, previous.stored_finding) != \
            (rec.severity, rec.check_id, clip(rec.resource_arn, RESOURCE_CHARS), rec.first_seen, finding_text):
        return False
    try:
        seen = dt.datetime.strptime(previous.last_seen, "%Y-%m-%dT%H:%M:%SZ")
        now = dt.datetime.strptime(rec.last_seen, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return False
    return dt.timedelta(0) <= now - seen < dt.timedelta(hours=LAST_SEEN_REFRESH_HOURS)


def partition(account: str, connector: str) -> str:
    return f"ACCOUNT#{account}#CONNECTOR#{connector}"


def _now_iso(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FindingRecord:
    fingerprint: str
    check_id: str
    severity: str
    resource_arn: str
    status: str  # "open" | "resolved": what the last run observed
    first_seen: str
    last_seen: str
    finding: dict[str, Any]
    # What was last told to people: "open" / "resolved" and at which severity; None = never alerted.
    notified_status: str | None = None
    notified_severity: str | None = None
    last_alerted: str | None = None
    claim: str | None = None
    claim_at: int | None = None
    resolved_at: str | None = None
    expires_at: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The finding's JSON as the table holds it (read back, never written from here): whether a run would write it
    # again unchanged (`StateStore.observe`).
    stored_finding: str | None = field(default=None, repr=False, compare=False)

    def item(self, pk: str) -> dict[str, Any]:
        item = {
            "pk": pk, "sk": f"FINDING#{self.fingerprint}", "check_id": self.check_id, "severity": self.severity,
            "resource_arn": clip(self.resource_arn, RESOURCE_CHARS), "status": self.status,
            "first_seen": self.first_seen, "last_seen": self.last_seen, "finding": finding_json(self.finding),
        }
        for name in ("notified_status", "notified_severity", "last_alerted", "claim", "claim_at", "resolved_at", "expires_at"):
            value = getattr(self, name)
            if value is not None:
                item[name] = value
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "FindingRecord":
        def num(v: Any) -> int | None:
            return int(v) if v is not None else None

        return cls(
            fingerprint=item["sk"].removeprefix("FINDING#"), check_id=item.get("check_id", ""),
            severity=item.get("severity", "info"), resource_arn=item.get("resource_arn", ""),
            status=item.get("status", "open"), first_seen=item.get("first_seen", ""), last_seen=item.get("last_seen", ""),
            finding=json.loads(item.get("finding") or "{}"), notified_status=item.get("notified_status"),
            notified_severity=item.get("notified_severity"), last_alerted=item.get("last_alerted"),
            claim=item.get("claim"), claim_at=num(item.get("claim_at")), resolved_at=item.get("resolved_at"),
            expires_at=num(item.get("expires_at")), stored_finding=item.get("finding"),
            extra={k: str(v) for k, v in item.items() if k.startswith(SYNC_PREFIX)},
        )

    def synced(self, channel: str) -> str | None:
        """What the integration `channel` last received for this finding (None: nothing yet)."""
        return self.extra.get(SYNC_PREFIX + channel)


class StateStore:
    def __init__(self, table_name: str, session: boto3.session.Session | None = None, region: str | None = None):
        session = session or boto3.session.Session()
        self.table_name = table_name
        self.table = session.resource("dynamodb", region_name=region, config=BOTO_CONFIG).Table(table_name)
        self.problems: list[StateProblem] = []
        # The records each connector had when this run loaded them (`observe` skips writes that change nothing).
        self._loaded: dict[tuple[str, str], dict[str, FindingRecord]] = {}
        self.observations_skipped = 0

    # ------------------------------------------------------------------ baseline
    def get_baseline(self, account: str, connector: str) -> dict[str, Any] | None:
        pk = partition(account, connector)
        item = self.table.get_item(Key={"pk": pk, "sk": "BASELINE"}, ConsistentRead=True).get("Item")
        if not item:
            return None
        if "baseline" in item:
            return json.loads(item["baseline"])
        try:
            if "baseline_z" in item:
                packed = bytes(item["baseline_z"])
            else:
                packed = self._read_parts(pk, str(item.get("digest", "")), int(item.get("parts", 0)))
            inflater = zlib.decompressobj()
            text = inflater.decompress(packed, _MAX_BASELINE_JSON)
            if inflater.unconsumed_tail:
                raise ValueError("the stored baseline inflates beyond the limit")
            return json.loads(text)
        except (ValueError, zlib.error) as exc:
            self.problems.append(StateProblem(connector, "BASELINE", "dynamodb:GetItem", 0,
                                              f"the stored baseline cannot be read back ({exc}); drift is not "
                                              "checked until `baseline accept` records a new one"))
            return None

    def _read_parts(self, pk: str, digest: str, count: int) -> bytes:
        chunks: dict[str, bytes] = {}
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(pk) & Key("sk").begins_with(f"BASELINE#{digest}#"),
                                  "ConsistentRead": True}
        while True:
            page = self.table.query(**kwargs)
            for part in page.get("Items", []):
                chunks[part["sk"]] = bytes(part["chunk"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        packed = b"".join(chunks[k] for k in sorted(chunks))
        if len(chunks) != count or hashlib.sha256(packed).hexdigest()[:32] != digest:
            raise ValueError(f"{len(chunks)} of {count} parts found, or they do not add up")
        return packed

    def put_baseline(self, account: str, connector: str, baseline: dict[str, Any], now: dt.datetime, *,
                     only_if_absent: bool = False) -> bool:
        """Record a baseline. With `only_if_absent` (first run) a concurrent first run cannot overwrite another's.
        False when another run's baseline was there first, or when it is too large to store (`problems` says)."""
        pk = partition(account, connector)
        text = json.dumps(baseline, sort_keys=True)
        head: dict[str, Any] = {"pk": pk, "sk": "BASELINE", "accepted_at": _now_iso(now)}
        parts: list[bytes] = []
        if utf8_len(text) <= BASELINE_ITEM_BYTES:
            head["baseline"] = text
        else:
            packed = zlib.compress(text.encode("utf-8"), 9)
            if len(packed) <= BASELINE_ITEM_BYTES:
                head["baseline_z"] = packed
            else:
                parts = [packed[i:i + BASELINE_ITEM_BYTES] for i in range(0, len(packed), BASELINE_ITEM_BYTES)]
                if len(parts) > MAX_BASELINE_PARTS:
                    self.problems.append(StateProblem(
                        connector, "BASELINE", "dynamodb:PutItem", len(packed),
                        f"not stored: {len(packed):,} bytes compressed, over {MAX_BASELINE_PARTS} items of "
                        f"{BASELINE_ITEM_BYTES:,} bytes; drift is not checked for this connector"))
                    return False
                head |= {"digest": hashlib.sha256(packed).hexdigest()[:32], "parts": len(parts)}
        previous = self.table.get_item(Key={"pk": pk, "sk": "BASELINE"}, ConsistentRead=True).get("Item") or {}
        for n, chunk in enumerate(parts):  # parts first: the head that names them is written last
            self.table.put_item(Item={"pk": pk, "sk": f"BASELINE#{head['digest']}#{n:03d}", "chunk": chunk})
        kwargs: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"} if only_if_absent else {}
        try:
            self.table.put_item(Item=head, **kwargs)
        except ClientError as exc:
            written = head.get("digest")
            if written and written != previous.get("digest"):
                self._delete_parts(pk, written, len(parts))
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            if _is_size_error(exc):
                self.problems.append(StateProblem(connector, "BASELINE", "dynamodb:PutItem", item_size(head),
                                                  "not stored: DynamoDB refused the item for its size"))
                return False
            raise
        old = previous.get("digest")
        if old and old != head.get("digest"):
            self._delete_parts(pk, str(old), int(previous.get("parts", 0)))
        return True

    def _delete_parts(self, pk: str, digest: str, count: int) -> None:
        for n in range(count):
            self.table.delete_item(Key={"pk": pk, "sk": f"BASELINE#{digest}#{n:03d}"})

    # ------------------------------------------------------------------ findings
    def load_findings(self, account: str, connector: str) -> dict[str, FindingRecord]:
        pk = partition(account, connector)
        out: dict[str, FindingRecord] = {}
        kwargs: dict[str, Any] = {"KeyConditionExpression": "pk = :pk AND begins_with(sk, :f)",
                                  "ExpressionAttributeValues": {":pk": pk, ":f": "FINDING#"}, "ConsistentRead": True}
        while True:
            page = self.table.query(**kwargs)
            for item in page.get("Items", []):
                rec = FindingRecord.from_item(item)
                out[rec.fingerprint] = rec
            if "LastEvaluatedKey" not in page:
                self._loaded[(account, connector)] = out
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def observe(self, account: str, connector: str, rec: FindingRecord) -> None:
        """Record what this run saw (status, severity, times). Lifecycle facts, not alert decisions: unconditional
        on the observation fields, leaving the notification and claim fields alone.

        A finding still open exactly as its item says (same severity, check, resource, stored evidence; no
        resolution to clear) is not written again, unless its `last_seen` is `LAST_SEEN_REFRESH_HOURS` old: an
        hourly run of an account with 1,000 open findings would otherwise rewrite 1,000 items to move one
        timestamp. Nothing that decides alerts depends on it: claims and settlements are their own conditional
        writes on the notification fields, reminders read `last_alerted`, a resolution is always written. What
        it costs: the item's `last_seen` may lag the last run that saw the finding by up to that interval. The
        run's records of open findings (what alerts and integrations read) carry the run's time; a resolution
        carries the stored value, so its `last_seen` (Security Hub's LastObservedAt) may be up to a day early."""
        finding_text = finding_json(rec.finding)
        previous = self._loaded.get((account, connector), {}).get(rec.fingerprint)
        if _unchanged(previous, rec, finding_text):
            self.observations_skipped += 1
            return
        pk = partition(account, connector)
        names = {"#s": "status", "#sev": "severity"}
        values: dict[str, Any] = {":s": rec.status, ":sev": rec.severity, ":ls": rec.last_seen, ":fs": rec.first_seen,
                                  ":f": finding_text, ":c": rec.check_id,
                                  ":r": clip(rec.resource_arn, RESOURCE_CHARS)}
        sets = ["#s = :s", "#sev = :sev", "last_seen = :ls", "first_seen = if_not_exists(first_seen, :fs)", "finding = :f",
                "check_id = :c", "resource_arn = :r"]
        removes = []
        if rec.resolved_at:
            sets.append("resolved_at = :ra")
            values[":ra"] = rec.resolved_at
        else:
            removes.append("resolved_at")
        if rec.expires_at:
            sets.append("expires_at = :e")
            values[":e"] = rec.expires_at
        else:
            removes.append("expires_at")
        expr = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        key = {"pk": pk, "sk": f"FINDING#{rec.fingerprint}"}
        try:
            self.table.update_item(Key=key, UpdateExpression=expr, ExpressionAttributeNames=names,
                                   ExpressionAttributeValues=values)
        except ClientError as exc:
            if not _is_size_error(exc):
                raise
            # Bounded evidence should always fit; if DynamoDB still disagrees, keep the finding without it.
            needed = utf8_len(values[":f"])
            values[":f"] = json.dumps({k: clip(rec.finding.get(k, ""), 300) for k in ("check_id", "title", "message")})
            self.table.update_item(Key=key, UpdateExpression=expr, ExpressionAttributeNames=names,
                                   ExpressionAttributeValues=values)
            self.problems.append(StateProblem(connector, key["sk"], "dynamodb:UpdateItem", needed,
                                              "stored without its evidence"))

    def claim(self, account: str, connector: str, rec: FindingRecord, run_id: str) -> bool:
        """Take the right to alert this record's change: only if nobody told people since we looked
        (notified fields unchanged) and no live claim of another run exists."""
        now = int(time.time())
        values: dict[str, Any] = {":run": run_id, ":now": now, ":stale": now - CLAIM_TIMEOUT_SECONDS}
        cond = ["(attribute_not_exists(claim) OR claim = :run OR claim_at < :stale)"]
        for name in ("notified_status", "notified_severity"):
            old = getattr(rec, name)
            if old is None:
                cond.append(f"attribute_not_exists({name})")
            else:
                cond.append(f"{name} = :old_{name}")
                values[f":old_{name}"] = old
        try:
            self.table.update_item(
                Key={"pk": partition(account, connector), "sk": f"FINDING#{rec.fingerprint}"},
                UpdateExpression="SET claim = :run, claim_at = :now",
                ConditionExpression=" AND ".join(cond), ExpressionAttributeValues=values,
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def settle(self, account: str, connector: str, rec: FindingRecord, run_id: str, *, notified: bool,
               now: dt.datetime) -> None:
        """After a publish: record what people were told (notified=True), or just release the claim."""
        values: dict[str, Any] = {":run": run_id}
        sets: list[str] = []
        if notified:
            sets += ["notified_status = :ns", "notified_severity = :nsev", "last_alerted = :la"]
            values.update({":ns": rec.status, ":nsev": rec.severity, ":la": _now_iso(now)})
        expr = ("SET " + ", ".join(sets) + " " if sets else "") + "REMOVE claim, claim_at"
        try:
            self.table.update_item(
                Key={"pk": partition(account, connector), "sk": f"FINDING#{rec.fingerprint}"},
                UpdateExpression=expr, ConditionExpression="claim = :run", ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def mark_synced(self, account: str, connector: str, fingerprint: str, channel: str, value: str) -> None:
        """Record what an integration received for a finding; never creates an item (one that expired stays gone)."""
        try:
            self.table.update_item(
                Key={"pk": partition(account, connector), "sk": f"FINDING#{fingerprint}"},
                UpdateExpression="SET #m = :v", ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#m": SYNC_PREFIX + channel}, ExpressionAttributeValues={":v": value},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # ------------------------------------------------------------------ run markers (Lambda retries)
    def published_fingerprints(self, run_id: str, account: str, connector: str) -> set[str] | None:
        """Fingerprints of the changes this run already published for the connector (a Lambda retry of the same
        run skips them); None when a marker of the older one-message form says the run published everything."""
        legacy = self.table.get_item(Key={"pk": f"RUN#{run_id}", "sk": f"ALERT#{account}#{connector}"},
                                     ConsistentRead=True)
        if "Item" in legacy:
            return None
        found: set[str] = set()
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(f"RUN#{run_id}")
                                  & Key("sk").begins_with(f"ALERT#{account}#{connector}#"), "ConsistentRead": True}
        while True:
            page = self.table.query(**kwargs)
            for item in page.get("Items", []):
                found.update(str(f) for f in item.get("fingerprints") or ())
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def mark_published(self, run_id: str, account: str, connector: str, message_id: str, now: dt.datetime,
                       retention_days: int, fingerprints: list[str]) -> None:
        """One published message: its id and the fingerprints of the changes it carried (at most a few thousand
        32-character fingerprints: well within an item)."""
        digest = hashlib.sha256(",".join(sorted(fingerprints)).encode()).hexdigest()[:16]
        self.table.put_item(Item={
            "pk": f"RUN#{run_id}", "sk": f"ALERT#{account}#{connector}#{digest}", "message_id": message_id,
            "published_at": _now_iso(now), "expires_at": int(now.timestamp()) + 86400 * retention_days,
            "fingerprints": sorted(fingerprints),
        })
