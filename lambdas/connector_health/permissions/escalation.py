"""The privilege-escalation actions PERMS_PRIVILEGE_ESCALATION looks for: data in escalation.yaml, with sources."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml

__all__ = ["EscalationAction", "escalation_actions", "escalation_sources"]

SCOPES = ("any", "every-role")


@dataclass(frozen=True)
class EscalationAction:
    action: str
    scope: str  # "any" | "every-role" (see escalation.yaml)
    why: str
    sources: tuple[str, ...]

    def resource(self, partition: str, account: str) -> tuple[str, str]:
        """(resource, wildcards) to ask the evaluator: some resource, or every role of the account."""
        if self.scope == "every-role":
            return f"arn:{partition}:iam::{account}:role/*", "all"
        return "*", "any"


@functools.lru_cache(maxsize=1)
def _load() -> tuple[dict[str, str], tuple[EscalationAction, ...]]:
    data = yaml.safe_load(resources.files(__package__).joinpath("escalation.yaml").read_text(encoding="utf-8"))
    sources = {str(k): str(v) for k, v in data["sources"].items()}
    actions = []
    for item in data["actions"]:
        entry = EscalationAction(str(item["action"]), str(item["scope"]), str(item["why"]),
                                 tuple(str(s) for s in item["sources"]))
        if entry.scope not in SCOPES or not entry.sources or set(entry.sources) - set(sources):
            raise ValueError(f"escalation.yaml: bad entry {item!r}")
        actions.append(entry)
    return sources, tuple(actions)


def escalation_actions() -> tuple[EscalationAction, ...]:
    return _load()[1]


def escalation_sources() -> dict[str, str]:
    return dict(_load()[0])
