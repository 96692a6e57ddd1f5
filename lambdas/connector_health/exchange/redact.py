"""Keeping tokens, client secrets and temporary credentials out of logs.

Our own code never logs them, but libraries do at DEBUG level: botocore logs request parameters (the
`WebIdentityToken`), response bodies (the issued `SecretAccessKey` and `SessionToken`) and canonical requests
(the session token header). While an exchange runs, every value it handles is registered here and a filter on
those libraries' loggers replaces it with `[REDACTED]` before any handler sees the record.

`Secret` wraps a value so that `str`, `repr` and f-strings never show it; `.reveal()` is explicit.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator

REDACTED = "[REDACTED]"
# Loggers of libraries that may log request or response bodies (botocore at DEBUG), plus the sandbox servers.
_LOGGER_PREFIXES = ("botocore", "boto3", "urllib3", "requests", "s3transfer", "moto", "werkzeug", "connector_health")
# Credentials botocore logs before we could register them (response bodies, parsed dicts, signed headers).
_FIELD = r"SecretAccessKey|SessionToken|WebIdentityToken|SecretString|client_secret|access_token|id_token"
_SENSITIVE = re.compile(_FIELD)
_PATTERNS = (
    re.compile(rf"(<({_FIELD})>)[^<]*(</\2>)"),
    re.compile(rf"((?:['\"])(?:{_FIELD})(?:['\"])\s*:\s*b?['\"])[^'\"]*", re.IGNORECASE),
    re.compile(rf"(\b(?:{_FIELD})=)[^&\s'\"]+"),
    re.compile(r"(x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[^'\"\s,}]+", re.IGNORECASE),
)


class Secret:
    """A value that must not be printed. Compare and use it only through `reveal()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret([REDACTED])"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __reduce__(self):  # never pickled into a result or a cache
        raise TypeError("a Secret cannot be pickled")


class _Redactor(logging.Filter):
    def __init__(self) -> None:
        super().__init__("connector-health-redactor")
        self._lock = threading.Lock()
        self._values: dict[str, int] = {}

    def add(self, value: str) -> None:
        if len(value) < 8:  # too short to redact without mangling ordinary text; never a real secret here
            return
        with self._lock:
            self._values[value] = self._values.get(value, 0) + 1

    def remove(self, value: str) -> None:
        with self._lock:
            count = self._values.get(value, 0) - 1
            if count <= 0:
                self._values.pop(value, None)
            else:
                self._values[value] = count

    def scrub(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + REDACTED + (m.group(3) if m.re.groups >= 3 else ""), text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the logging module's business, not ours
            return True
        scrubbed = message
        if record.name.startswith("botocore.parsers") and _SENSITIVE.search(message):
            # A response body with credentials or a secret (nested, escaped JSON defeats any pattern): drop it.
            scrubbed = message.split("\n", 1)[0] + f" {REDACTED} (the body holds credentials or secrets)"
        scrubbed = self.scrub(scrubbed)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True


_REDACTOR = _Redactor()


def install() -> None:
    """Attach the filter to every existing logger of the libraries above (idempotent; cheap)."""
    manager = logging.Logger.manager
    for name in list(manager.loggerDict):
        if name.split(".", 1)[0] in _LOGGER_PREFIXES:
            logger = manager.loggerDict[name]
            if isinstance(logger, logging.Logger) and _REDACTOR not in logger.filters:
                logger.addFilter(_REDACTOR)
    for name in _LOGGER_PREFIXES:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


@contextlib.contextmanager
def protected(*values: str | Secret | None) -> Iterator[None]:
    """Redact `values` from library logs while the block runs."""
    plain = [v.reveal() if isinstance(v, Secret) else v for v in values if v]
    install()
    for value in plain:
        _REDACTOR.add(value)
    try:
        yield
    finally:
        for value in plain:
            _REDACTOR.remove(value)


def scrub(text: str) -> str:
    """Remove every currently protected value from `text` (for error messages built from library exceptions)."""
    return _REDACTOR.scrub(text)
