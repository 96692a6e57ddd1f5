"""Size bounds for what leaves the engine: state items (DynamoDB, 400 KB) and alerts (SNS, 256 KiB).

Evidence comes from watched accounts and issuers, so any string or list in it may be huge. `bounded` returns a
copy in which long strings are cut and long lists (and objects) keep their first items followed by one entry that
says how many more there were: the evidence stays readable and every count stays true, and the full evidence is
recomputed by every scan (`connector-health check`). `fit` tightens the bounds until a JSON rendering fits a
byte budget.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["bounded", "clip", "fit", "json_bytes", "utf8_len"]

_MAX_DEPTH = 24
# (items kept per list or object, characters kept per string), tried in order until the value fits its budget
_STEPS = ((100, 8192), (25, 1024), (5, 200), (1, 80), (0, 40))


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def clip(text: Any, limit: int) -> str:
    """`text` cut to at most `limit` characters, saying how long it was."""
    text = str(text)
    if len(text) <= limit:
        return text
    note = f"… ({len(text):,} characters in all)"
    return text[: max(0, limit - len(note))] + note


def _more(omitted: int, total: int) -> str:
    return f"… and {omitted:,} more ({total:,} in all)"


def bounded(value: Any, *, items: int = 100, chars: int = 8192, _depth: int = 0) -> Any:
    """A JSON-ready copy of `value` with strings of at most `chars` characters and lists/objects of at most
    `items` entries plus one entry counting the rest."""
    if isinstance(value, str):
        return clip(value, chars)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if _depth >= _MAX_DEPTH:
        return clip(json.dumps(value, default=str), min(chars, 200))
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for n, (key, item) in enumerate(value.items()):
            if n >= items:
                out["…"] = _more(len(value) - items, len(value))
                break
            out[clip(key, min(chars, 200))] = bounded(item, items=items, chars=chars, _depth=_depth + 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        seq = list(value) if not isinstance(value, (set, frozenset)) else sorted(value, key=str)
        kept = [bounded(item, items=items, chars=chars, _depth=_depth + 1) for item in seq[:items]]
        if len(seq) > items:
            kept.append(_more(len(seq) - items, len(seq)))
        return kept
    return clip(str(value), chars)


def json_bytes(value: Any) -> int:
    try:
        return utf8_len(json.dumps(value, default=str))
    except (RecursionError, ValueError):  # nested too deeply to render: certainly over any budget
        return 1 << 62


def fit(value: Any, budget: int) -> tuple[Any, bool]:
    """(`value` bounded as little as needed for its JSON to take at most `budget` bytes, whether it had to be
    bounded). If even the tightest bounds do not fit, the tightest result is returned (the caller decides)."""
    if json_bytes(value) <= budget:
        return value, False
    result = value
    for items, chars in _STEPS:
        result = bounded(value, items=items, chars=chars)
        if json_bytes(result) <= budget:
            break
    return result, True
