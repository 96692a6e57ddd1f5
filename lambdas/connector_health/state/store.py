"""The state store on DynamoDB: accepted baselines and the lifecycle of every finding.

Table schema (README "State table"): partition key `pk` (S), sort key `sk` (S), TTL attribute `expires_at`.

| pk                                   | sk                     | what                                              |
|--------------------------------------|------------------------|---------------------------------------------------|
| `ACCOUNT#<acct>#CONNECTOR#<name>`    | `BASELINE`             | accepted baseline (`baseline` JSON, `accepted_at`) |
| `ACCOUNT#<acct>#CONNECTOR#<name>`    | `FINDING#<fingerprint>`| one finding and its lifecycle (see `FindingRecord`) |
| `RUN#<run id>`                       | `ALERT#<acct>#<name>`  | "this run published its alert" (Lambda retries)   |

Every write that decides who alerts is conditional, so two concurrent runs cannot both alert one change, and a
run that fails to publish releases what it claimed (the next run alerts it).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ..collect.aws import BOTO_CONFIG

CLAIM_TIMEOUT_SECONDS = 900  # a claim older than this belongs to a run that died: it may be taken over


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

    def item(self, pk: str) -> dict[str, Any]:
        item = {
            "pk": pk, "sk": f"FINDING#{self.fingerprint}", "check_id": self.check_id, "severity": self.severity,
            "resource_arn": self.resource_arn, "status": self.status, "first_seen": self.first_seen,
            "last_seen": self.last_seen, "finding": json.dumps(self.finding, default=str),
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
            expires_at=num(item.get("expires_at")),
        )


class StateStore:
    def __init__(self, table_name: str, session: boto3.session.Session | None = None, region: str | None = None):
        session = session or boto3.session.Session()
        self.table_name = table_name
        self.table = session.resource("dynamodb", region_name=region, config=BOTO_CONFIG).Table(table_name)

    # ------------------------------------------------------------------ baseline
    def get_baseline(self, account: str, connector: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": partition(account, connector), "sk": "BASELINE"}, ConsistentRead=True).get("Item")
        return json.loads(item["baseline"]) if item else None

    def put_baseline(self, account: str, connector: str, baseline: dict[str, Any], now: dt.datetime, *,
                     only_if_absent: bool = False) -> bool:
        """Record a baseline. With `only_if_absent` (first run) a concurrent first run cannot overwrite another's."""
        kwargs: dict[str, Any] = {}
        if only_if_absent:
            kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
        try:
            self.table.put_item(Item={"pk": partition(account, connector), "sk": "BASELINE",
                                      "baseline": json.dumps(baseline, sort_keys=True), "accepted_at": _now_iso(now)}, **kwargs)
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

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
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def observe(self, account: str, connector: str, rec: FindingRecord) -> None:
        """Record what this run saw (status, severity, times). Lifecycle facts, not alert decisions: unconditional
        on the observation fields, leaving the notification and claim fields alone."""
        pk = partition(account, connector)
        names = {"#s": "status", "#sev": "severity"}
        values: dict[str, Any] = {":s": rec.status, ":sev": rec.severity, ":ls": rec.last_seen, ":fs": rec.first_seen,
                                  ":f": json.dumps(rec.finding, default=str), ":c": rec.check_id, ":r": rec.resource_arn}
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
        self.table.update_item(Key={"pk": pk, "sk": f"FINDING#{rec.fingerprint}"}, UpdateExpression=expr,
                               ExpressionAttributeNames=names, ExpressionAttributeValues=values)

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

    # ------------------------------------------------------------------ run markers (Lambda retries)
    def run_published(self, run_id: str, account: str, connector: str) -> bool:
        item = self.table.get_item(Key={"pk": f"RUN#{run_id}", "sk": f"ALERT#{account}#{connector}"}, ConsistentRead=True)
        return "Item" in item

    def mark_published(self, run_id: str, account: str, connector: str, message_id: str, now: dt.datetime,
                       retention_days: int) -> None:
        self.table.put_item(Item={
            "pk": f"RUN#{run_id}", "sk": f"ALERT#{account}#{connector}", "message_id": message_id,
            "published_at": _now_iso(now), "expires_at": int(now.timestamp()) + 86400 * retention_days,
        })
