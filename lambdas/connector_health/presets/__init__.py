"""Presets are data: one YAML file per connector kind, validated by the same typed model as the config."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field


class ExpectedPrincipalSpec(BaseModel):
    """A principal a role is expected to trust besides the provider (not TRUST_UNEXPECTED_PRINCIPAL), e.g. the AWS
    user Microsoft's Defender for Containers uses, which must present an external id."""

    model_config = ConfigDict(extra="forbid")

    # An AWS account id or principal ARN (account root, user or role).
    principal: str = Field(pattern=r"^(\d{12}|arn:aws[a-z-]*:iam::\d{12}:(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+))$")
    # The sts:ExternalId the trust policy must require; null: some literal external id, whichever.
    external_id: str | None = Field(default=None, min_length=2, max_length=1224)


class RoleSpec(BaseModel):
    """A role a connector expects, with what its plan needs."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    # Earlier names of the same role (e.g. a template renamed it): the role is found under any of them.
    aliases: list[str] = Field(default_factory=list)
    # Config only: this role stands in for the preset's role of that name (same plan, audience and policies).
    replaces: str | None = None
    audience: str | None = None
    # False when the role's audience need not be in the provider's ClientIDList (a web-identity path the service
    # does not use, e.g. the Defender data-collection role's, whose caller is Microsoft's AWS user).
    audience_needed: bool = True
    # Principals the role is expected to trust besides the provider.
    expected_principals: list[ExpectedPrincipalSpec] = Field(default_factory=list)
    plan: str = ""
    # Read-only per preset: PERMS_WRITE_UNEXPECTED reports Write, Permissions-management and Tagging actions
    # beyond `required_actions`.
    read_only: bool = False
    # Managed policies (name or ARN) the role is expected to carry. When this, `inline_policies` or
    # `optional_policies` is set, any other attached or inline policy is PERMS_UNEXPECTED_POLICY.
    managed_policies: list[str] = Field(default_factory=list)
    # Inline policy names the role is expected to carry.
    inline_policies: list[str] = Field(default_factory=list)
    # Managed or inline policies that may also be there (e.g. a template's least-privilege variant).
    optional_policies: list[str] = Field(default_factory=list)
    # Actions the plan needs (globs allowed). PERMS_REQUIRED_MISSING when one is not allowed; never reported by
    # PERMS_PRIVILEGE_ESCALATION or PERMS_WRITE_UNEXPECTED.
    required_actions: list[str] = Field(default_factory=list)
    # Resource a required action must be allowed on, for every resource the pattern names (`{partition}` and
    # `{account}` are filled in). Without an entry the action must be allowed on some resource.
    required_resources: dict[str, str] = Field(default_factory=dict)
    # Actions (globs) that must come out explicitly denied, e.g. the CSPM billing deny.
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
    # Role names the service itself requires (glob): roles trusting the provider whose names match belong to this
    # connector when the provider is shared (Sentinel's `OIDC_*` roles on Defender's issuer).
    role_patterns: list[str] = Field(default_factory=list)
    # Public sources of the preset's values.
    sources: list[str] = Field(default_factory=list)
    # EXCHANGE_LIVE_SILENT: the service calls at least this often when it works (None: no expectation).
    expected_activity_hours: float | None = Field(default=None, gt=0)


PRESET_NAMES = ("defender-for-cloud", "microsoft-sentinel", "github-actions", "eks-irsa", "gitlab", "entra-app", "generic")


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
