"""The SQS message the fan-out sends for one account, and what the worker accepts back.

One message per account and run: `{"version": 1, "run_id": ..., "account_id": ..., "account_name": ...}`.
The worker derives the member role's ARN from its own config, so a message cannot steer it to another role.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

MESSAGE_VERSION = 1
_ACCOUNT = re.compile(r"^\d{12}$")


class BadMessage(ValueError):
    """A message the worker cannot act on (it fails, and after a few receives lands in the DLQ)."""


@dataclass(frozen=True)
class AccountMessage:
    run_id: str
    account_id: str
    account_name: str = ""
    version: int = MESSAGE_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @property
    def deduplication_key(self) -> str:
        """Run and account: a Lambda retry of the fan-out re-sends the same keys (the pipeline's run markers then
        keep alerts single)."""
        return f"{self.run_id}:{self.account_id}"

    @classmethod
    def from_json(cls, body: str) -> "AccountMessage":
        try:
            data = json.loads(body)
        except (TypeError, ValueError):
            raise BadMessage("the message body is not JSON") from None
        if not isinstance(data, dict):
            raise BadMessage("the message body is not a JSON object")
        if data.get("version") != MESSAGE_VERSION:
            raise BadMessage(f"unsupported message version {data.get('version')!r}")
        account, run_id = data.get("account_id"), data.get("run_id")
        if not isinstance(account, str) or not _ACCOUNT.match(account):
            raise BadMessage(f"account_id {account!r} is not a 12-digit account id")
        if not isinstance(run_id, str) or not run_id:
            raise BadMessage("run_id is missing")
        return cls(run_id=run_id, account_id=account, account_name=str(data.get("account_name") or ""))
