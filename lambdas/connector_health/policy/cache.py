"""Bounded, process-wide caches of verdicts keyed by content.

A verdict about a policy depends only on what the documents say and on the question, never on which role or account
carries them: the same trust document judged against the same target, the same set of policies asked the same
actions, the same AWS managed policy parsed again. Keys are therefore content (document text or digests, the
question's values, account-specific values such as the account id when they can change the answer), never object
identity or a role's name. Each cache holds at most `maxsize` entries and drops the least recently used one beyond
that, so a long-lived process (a warm Lambda container, a hub worker going through many accounts) keeps a bounded
amount of memory whatever it scans.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, Callable, Generic, Hashable, TypeVar

__all__ = ["BoundedCache", "all_caches", "content_digest"]

V = TypeVar("V")
_MISSING = object()
_REGISTRY: list["BoundedCache[Any]"] = []


def content_digest(*parts: Any) -> bytes:
    """A 16-byte digest of texts (or their repr for other values): a compact key for large content."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part if isinstance(part, bytes) else (part if isinstance(part, str) else repr(part)).encode("utf-8",
                                                                                                             "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.digest()


class BoundedCache(Generic[V]):
    """A thread-safe LRU mapping of at most `maxsize` entries (the hub's worker threads share it)."""

    def __init__(self, name: str, maxsize: int) -> None:
        self.name = name
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        _REGISTRY.append(self)

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable, default: Any = None) -> V | Any:
        with self._lock:
            value = self._data.get(key, _MISSING)
            if value is _MISSING:
                self.misses += 1
                return default
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: V) -> V:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached value, or `compute()` stored under `key` (computed outside the lock: two threads may compute
        the same value once each, and both get an equal answer)."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            value = self.put(key, compute())
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._data), "maxsize": self.maxsize, "hits": self.hits, "misses": self.misses}


def all_caches() -> dict[str, dict[str, int]]:
    """Entries, bound, hits and misses of every cache (bench/ prints them)."""
    return {cache.name: cache.stats() for cache in _REGISTRY}
