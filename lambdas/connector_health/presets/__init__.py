"""Presets are data: one YAML file per connector kind, validated by the same typed model as the config."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field


class RoleSpec(BaseModel):
    """A role a connector expects, with what its plan needs."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    audience: str | None = None
    plan: str = ""
    read_only: bool = False
    managed_policies: list[str] = Field(default_factory=list)
    required_actions: list[str] = Field(default_factory=list)
    expected_deny: list[str] = Field(default_factory=list)


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    # May hold `{customer_tenant_id}`; None means the config must give it.
    issuer: str | None = None
    audiences: list[str] = Field(default_factory=list)
    thumbprints: list[str] = Field(default_factory=list)
    # True for issuers many tenants/owners share (GitHub, GitLab, EKS): the subject must be pinned.
    shared_issuer: bool = False
    identity_keys: list[str] = Field(default_factory=list)
    caller: dict[str, str] = Field(default_factory=dict)
    # Connector fields the config must supply for this preset.
    requires: list[str] = Field(default_factory=list)
    plans: dict[str, list[RoleSpec]] = Field(default_factory=dict)


PRESET_NAMES = ("defender-for-cloud", "github-actions", "eks-irsa", "gitlab", "entra-app", "generic")


@lru_cache(maxsize=None)
def load_preset(name: str) -> Preset:
    if name not in PRESET_NAMES:
        raise KeyError(name)
    text = resources.files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    preset = Preset.model_validate(yaml.safe_load(text))
    for plan, roles in preset.plans.items():
        for role in roles:
            role.plan = plan
    return preset
