"""Checks: one module per family (provider, trust, perms, exchange, stack, monitor); see registry.py."""

from .base import Check, CheckContext
from .registry import all_checks, get_check, required_permissions

__all__ = ["Check", "CheckContext", "all_checks", "get_check", "required_permissions"]
