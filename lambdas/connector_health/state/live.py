"""Where each run's CloudTrail window ended, in the state table (README "State table").

| pk                         | sk       | holds                                                                  |
|----------------------------|----------|------------------------------------------------------------------------|
| `ACCOUNT#<account>#LIVE`   | `CURSOR` | `state` (JSON: per region read_until / covered_since, per connector last_success), `updated_at` |

Small by construction (a few timestamps per region and connector). Written by the pipeline only after a run whose
every region was read and whose alerts went out, so a retried run reads its window again.
"""

from __future__ import annotations

import datetime as dt
import json

import boto3

from ..collect.aws import BOTO_CONFIG
from ..live.runner import LiveState


def live_partition(account: str) -> str:
    return f"ACCOUNT#{account}#LIVE"


class LiveStateStore:
    def __init__(self, table_name: str, session: boto3.session.Session | None = None, region: str | None = None):
        session = session or boto3.session.Session()
        self.table = session.resource("dynamodb", region_name=region, config=BOTO_CONFIG).Table(table_name)

    def load(self, account: str) -> LiveState | None:
        item = self.table.get_item(Key={"pk": live_partition(account), "sk": "CURSOR"}, ConsistentRead=True).get("Item")
        if not item:
            return None
        try:
            return LiveState.from_dict(json.loads(item.get("state") or "{}"))
        except ValueError:
            return None  # an unreadable cursor is read again from the lookback, never a failed run

    def save(self, account: str, state: LiveState, now: dt.datetime) -> None:
        self.table.put_item(Item={
            "pk": live_partition(account), "sk": "CURSOR", "state": json.dumps(state.to_dict(), sort_keys=True),
            "updated_at": now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        })
