"""The explicit check registry: importing a family module registers its checks (no file-system discovery)."""

from __future__ import annotations

from ..catalog import DEFAULT_SEVERITY
from .base import Check

_REGISTRY: dict[str, Check] = {}


def register(cls: type[Check]) -> type[Check]:
    if cls.id not in DEFAULT_SEVERITY:
        raise ValueError(f"{cls.__name__}: {cls.id} is not in the check catalogue (CHECKS.md)")
    if cls.id in _REGISTRY:
        raise ValueError(f"{cls.id} registered twice")
    _REGISTRY[cls.id] = cls()
    return cls


def all_checks() -> list[Check]:
    from . import drift, exchange, live, monitor, perms, provider, stack, trust  # noqa: F401 - registers the families

    return list(_REGISTRY.values())


def get_check(check_id: str) -> Check:
    all_checks()
    return _REGISTRY[check_id]


def required_permissions() -> list[str]:
    """The IAM actions the monitor needs: the union of what every check declares."""
    return sorted({action for check in all_checks() for action in check.permissions})
