"""Sending items to a service that may take some of a batch and refuse others (Security Hub's FailedFindings,
EventBridge's FailedEntryCount), and what every integration reports back to the pipeline.

botocore's retry modes cover a call that fails as a whole (throttling, 5xx); they cannot see a call that succeeded
while refusing some of its items. Those items are sent again, alone, with a growing pause, a bounded number of
times; a refusal that cannot change by waiting (invalid input, no access) is not retried. What is still refused
after that is reported (the pipeline fails the run, so it alarms), and the item's sync marker stays behind, so the
next run delivers it again: nothing is dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from ..bounds import clip

T = TypeVar("T")

ATTEMPTS = 4  # the first send and three more for what was refused for a reason that may pass
FIRST_PAUSE_SECONDS = 0.5  # doubled after each attempt: 0.5 s, 1 s, 2 s


@dataclass(frozen=True)
class Refusal(Generic[T]):
    item: T
    code: str
    message: str
    final: bool = False  # waiting cannot change it: not sent again in this run


@dataclass
class DeliveryReport:
    """What one integration did in one run (the pipeline's summary and its errors)."""

    channel: str  # "security_hub" | "chat" | "eventbridge"
    delivered: int = 0
    refused: list[str] = field(default_factory=list)  # one line per refused item or failed call
    counts: dict[str, int] = field(default_factory=dict)  # e.g. {"active": 3, "archived": 1}

    def refuse(self, what: str, code: str, message: str) -> None:
        self.refused.append(f"{what}: {code}: {clip(' '.join(str(message).split()), 200)}")

    def as_dict(self) -> dict[str, Any]:
        return {"delivered": self.delivered, **self.counts, "refused": len(self.refused)}


def call_refusals(items: Sequence[T], exc: Exception) -> list[Refusal[T]]:
    """Every item of a call that failed as a whole, after botocore's own retries: final for this run."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, message = str(err.get("Code") or "ClientError"), str(err.get("Message") or exc)
    else:
        code, message = exc.__class__.__name__, str(exc)
    return [Refusal(item, code, message, final=True) for item in items]


def send_with_retries(send: Callable[[list[T]], list[Refusal[T]]], items: Sequence[T], *,
                      sleep: Callable[[float], None] = time.sleep, attempts: int = ATTEMPTS) -> list[Refusal[T]]:
    """Send `items`; what `send` reports refused for a passing reason is sent again (alone) up to `attempts`
    times in all. Returns what was still refused. A call that raises refuses all of its items (final)."""
    pending = list(items)
    given_up: list[Refusal[T]] = []
    for attempt in range(attempts):
        try:
            refusals = send(pending)
        except (ClientError, BotoCoreError) as exc:
            return given_up + call_refusals(pending, exc)
        given_up += [r for r in refusals if r.final]
        retry = [r for r in refusals if not r.final]
        if not retry:
            return given_up
        if attempt + 1 == attempts:
            return given_up + retry
        sleep(FIRST_PAUSE_SECONDS * 2 ** attempt)
        pending = [r.item for r in retry]
    return given_up


def pack(items: Sequence[T], size_of: Callable[[T], int], *, max_items: int, max_bytes: int) -> list[list[T]]:
    """Consecutive batches of at most `max_items` items and `max_bytes` bytes (an item is never split)."""
    batches: list[list[T]] = []
    used = 0
    for item in items:
        size = size_of(item)
        if not batches or len(batches[-1]) >= max_items or used + size > max_bytes:
            batches.append([])
            used = 0
        batches[-1].append(item)
        used += size
    return batches


def send_in_batches(send: Callable[[list[T]], list[Refusal[T]]], items: Sequence[T], size_of: Callable[[T], int], *,
                    max_items: int, max_bytes: int, sleep: Callable[[float], None] | None = None
                    ) -> dict[int, Refusal[T]]:
    """`items` packed into batches and each sent with its retries: what is still refused, by `id` of the item."""
    kwargs = {"sleep": sleep} if sleep is not None else {}
    refused: dict[int, Refusal[T]] = {}
    for batch in pack(items, size_of, max_items=max_items, max_bytes=max_bytes):
        for refusal in send_with_retries(send, batch, **kwargs):
            refused[id(refusal.item)] = refusal
    return refused
