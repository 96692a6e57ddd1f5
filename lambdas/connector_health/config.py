"""The configuration: one YAML file, one typed model, validated once.

Every validation error becomes a `ConfigError` whose one-line message names the field, the bad value and
the fix. `load_config` is the only entry point; the CLI turns `ConfigError` into exit status 2 and
`app.py` into a failed synth.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .catalog import DEFAULT_SEVERITY
from .findings import Severity
from .presets import PRESET_NAMES, Preset, RoleSpec, load_preset
from .schedule import parse_schedule


class ConfigError(Exception):
    """A configuration problem, already phrased for a person (one line)."""


SeverityName = Literal["critical", "high", "medium", "low", "info"]


def validate_issuer_url(value: str) -> str:
    """IAM's rules for a provider URL (FACTS.md), except that a port is allowed for local issuers."""
    if not isinstance(value, str) or not value:
        raise ValueError("must be an https:// URL such as https://token.actions.githubusercontent.com")
    parts = urlsplit(value)
    if parts.scheme != "https":
        raise ValueError("must start with https:// (IAM accepts only HTTPS issuers)")
    if not parts.hostname:
        raise ValueError("has no host name; write it as https://HOST[/PATH]")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query string or fragment (IAM rejects them)")
    if len(value) > 255:
        raise ValueError("is longer than the 255 characters IAM allows")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError(f"has an invalid port ({exc})") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EntraClientCredentials(_Strict):
    type: Literal["entra-client-credentials"]
    tenant_id: str
    client_id: str
    scope: str
    secret_arn: str | None = None
    secret_env: str | None = None
    # Token endpoint base; the default is Microsoft's. The sandbox points it at the local issuer.
    authority: str = Field(default="https://login.microsoftonline.com", pattern=r"^https://[^/?#@\s]+(/[^?#\s]*)?$")

    @model_validator(mode="after")
    def _one_secret(self) -> "EntraClientCredentials":
        if bool(self.secret_arn) == bool(self.secret_env):
            raise ValueError("set exactly one of secret_arn (AWS Secrets Manager) or secret_env (environment variable)")
        return self


class FileTokenSource(_Strict):
    type: Literal["file"]
    path: str


class EnvTokenSource(_Strict):
    type: Literal["env"]
    variable: str


class CommandTokenSource(_Strict):
    type: Literal["command"]
    argv: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(default=30, gt=0, le=300)


TokenSource = Annotated[
    Union[EntraClientCredentials, FileTokenSource, EnvTokenSource, CommandTokenSource],
    Field(discriminator="type"),
]


class ConnectorConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    preset: str
    enabled: bool = True
    issuer: str | None = None
    # Replaces the audiences the connector needs (default: those of its roles, or the preset's).
    audiences: list[str] | None = None
    # Further audiences that may sit in the provider's ClientIDList without a finding.
    extra_audiences: list[str] = Field(default_factory=list)
    # Subset of the preset's plans (default: all of them).
    plans: list[str] | None = None
    # Roles to add to (or, for presets without plans, to define) the connector's roles.
    roles: list[RoleSpec] = Field(default_factory=list)
    customer_tenant_id: str | None = None
    # Microsoft Sentinel: the Log Analytics workspace GUID (the session name's suffix).
    workspace_id: str | None = None
    # Values of the legitimate caller (e.g. sub: "repo:acme/infra:ref:refs/heads/main"); keys must belong to the
    # issuer's grammar (see README "How trust policies are judged").
    caller: dict[str, str] = Field(default_factory=dict)
    severities: dict[str, SeverityName] = Field(default_factory=dict)
    stack_name: str | None = None
    token_source: TokenSource | None = None
    # EXCHANGE_LIVE_SILENT: hours without a successful real exchange before the connector counts as silent
    # (default: the preset's; 0 turns the check off for this connector).
    expected_activity_hours: float | None = Field(default=None, ge=0, le=2160)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESET_NAMES:
            raise ValueError(f"unknown preset; use one of {', '.join(PRESET_NAMES)}")
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        return None if value is None else validate_issuer_url(value)

    @field_validator("customer_tenant_id", "workspace_id")
    @classmethod
    def _tenant(cls, value: str | None, info) -> str | None:
        if value is None:
            return None
        try:
            return str(uuid.UUID(value))
        except (ValueError, AttributeError, TypeError):
            what = "Azure tenant" if info.field_name == "customer_tenant_id" else "Log Analytics workspace"
            raise ValueError(f"must be the {what} GUID, e.g. 00000000-0000-0000-0000-000000000000") from None

    @field_validator("audiences", "extra_audiences")
    @classmethod
    def _audiences(cls, value: list[str] | None) -> list[str] | None:
        for aud in value or []:
            if not aud or len(aud) > 255:
                raise ValueError("each audience must be 1 to 255 characters (IAM's limit for a client ID)")
        return value

    @field_validator("severities")
    @classmethod
    def _severity_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for check_id in value:
            if check_id not in DEFAULT_SEVERITY:
                hint = difflib.get_close_matches(check_id, DEFAULT_SEVERITY, n=1)
                raise ValueError(
                    f"unknown check ID {check_id!r}" + (f"; did you mean {hint[0]}?" if hint else "; see CHECKS.md")
                )
        return value

    @model_validator(mode="after")
    def _against_preset(self) -> "ConnectorConfig":
        preset = load_preset(self.preset)
        for plan in self.plans or []:
            if plan not in preset.plans:
                known = ", ".join(preset.plans) or "none (define `roles` instead)"
                raise ValueError(f"plans: unknown plan {plan!r} for preset {self.preset}; its plans are: {known}")
        for required in preset.requires:
            if required == "issuer" and not (self.issuer or preset.issuer):
                raise ValueError(f"issuer: preset {self.preset} needs `issuer` (the provider URL, https://...)")
            if required == "customer_tenant_id" and not self.customer_tenant_id:
                raise ValueError(f"customer_tenant_id: preset {self.preset} needs the customer's Azure tenant GUID")
            if required == "audiences" and not (self.audiences or preset.audiences):
                raise ValueError(f"audiences: preset {self.preset} needs at least one audience")
            if required == "workspace_id" and not self.workspace_id:
                raise ValueError(f"workspace_id: preset {self.preset} needs the Sentinel workspace GUID")
        names = {r.name for roles in preset.plans.values() for r in roles}
        for role in self.roles:
            if role.replaces is not None and role.replaces not in names:
                known = ", ".join(sorted(names)) or "none"
                raise ValueError(f"roles: {role.name!r} replaces {role.replaces!r}, which is not a role of preset "
                                 f"{self.preset}; its roles are: {known}")
        self._check_caller_keys(preset)
        return self

    def _check_caller_keys(self, preset: Preset) -> None:
        from .trust.profiles import profile_for_preset, unknown_caller_keys, unparsable_caller

        issuer = (self.issuer or preset.issuer or "").removeprefix("https://")
        profile = profile_for_preset(self.preset, issuer)
        unknown = unknown_caller_keys(profile, self.caller)
        if unknown:
            raise ValueError(f"caller: unknown key {unknown[0]!r} for the {profile.kind} issuer; known keys: "
                             f"{', '.join(profile.caller_keys)}")
        unreadable = unparsable_caller(profile, self.caller)
        if unreadable:
            raise ValueError(f"caller: {unreadable}")


class IssuerInspection(_Strict):
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    max_document_bytes: int = Field(default=1_048_576, ge=1024, le=50_000_000)
    cert_warning_days: int = Field(default=30, ge=1, le=365)
    cert_critical_days: int = Field(default=7, ge=0, le=365)
    # The trust store that stands for "AWS's library of trusted root CAs"; default: certifi's bundle.
    public_ca_bundle: str | None = None
    max_workers: int = Field(default=8, ge=1, le=64)
    # Issuers, JWKS hosts and token endpoints on loopback, link-local, private or reserved addresses are refused
    # (an issuer must not steer the monitor onto internal services); true only for local and test issuers.
    allow_private_addresses: bool = False

    @model_validator(mode="after")
    def _windows(self) -> "IssuerInspection":
        if self.cert_critical_days > self.cert_warning_days:
            raise ValueError("cert_critical_days must not exceed cert_warning_days")
        if self.public_ca_bundle and not Path(self.public_ca_bundle).is_file():
            raise ValueError(f"public_ca_bundle: file {self.public_ca_bundle!r} does not exist")
        return self


SnsTopicArn = Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:sns:[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d:\d{12}:[A-Za-z0-9_-]{1,256}$")]


class AlertsConfig(_Strict):
    emails: list[str] = Field(default_factory=list)
    min_severity: SeverityName = "medium"
    reminder_hours: float = Field(default=24, gt=0)
    # A second topic for chat channels (Amazon Q Developer in chat applications, formerly AWS Chatbot): the same
    # changes as the e-mails, as custom-notification cards. An existing topic, or one the stack creates.
    chat_topic_arn: SnsTopicArn | None = None
    create_chat_topic: bool = False

    @model_validator(mode="after")
    def _one_chat_topic(self) -> "AlertsConfig":
        if self.chat_topic_arn and self.create_chat_topic:
            raise ValueError("set chat_topic_arn (an existing topic) or create_chat_topic: true, not both")
        return self

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for email in value:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
                raise ValueError(f"{email!r} is not an e-mail address")
        return value


class StateConfig(_Strict):
    table_name: str | None = None
    topic_arn: str | None = None
    # Resolved findings (and run markers) expire from the table after this many days (DynamoDB TTL).
    retention_days: int = Field(default=30, ge=1, le=3650)


RegionName = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")]


class LiveExchanges(_Strict):
    """The connectors' real AssumeRoleWithWebIdentity calls, read from CloudTrail (EXCHANGE_LIVE_*)."""

    enabled: bool = True
    # Regions whose CloudTrail is read (each logs the calls its STS endpoint served; the global endpoint logs in
    # us-east-1). Default: the config's region and us-east-1.
    regions: list[RegionName] = Field(default_factory=list)
    # The window of a run without state (first run, `check`): this far back (LookupEvents keeps 90 days), and at
    # least as far as the longest expected_activity_hours.
    lookback_hours: float = Field(default=24, gt=0, le=2160)
    # CloudTrail delivers events about 5 (up to 15) minutes after the call: the window ends this long before now.
    settle_minutes: float = Field(default=15, ge=0, le=120)
    # LookupEvents is limited to 2 requests per second per account and region; the reader stays under this.
    requests_per_second: float = Field(default=1.8, gt=0, le=2)
    # Budget per region and run (50 events per page); the newest events are read first.
    max_events_per_region: int = Field(default=10_000, ge=50, le=100_000)
    # EXCHANGE_LIVE_FAILURES findings per connector (the largest groups; the rest are counted in the first).
    top_causes: int = Field(default=10, ge=1, le=50)

    def region_list(self, default_region: str) -> list[str]:
        return list(dict.fromkeys(self.regions or [default_region, "us-east-1"]))


class SecurityHubIntegration(_Strict):
    """AWS Security Hub CSPM (ASFF): every finding imported into the scanned account and region, its lifecycle
    mirrored (integrations/securityhub.py). Security Hub must be enabled there."""

    enabled: bool = False


EVENT_BUS_PATTERN = r"^([A-Za-z0-9_.\-/]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9_.\-/]{1,256})$"


class EventBridgeIntegration(_Strict):
    """One EventBridge event per finding change (integrations/events.py)."""

    enabled: bool = False
    # The event bus: a name in the monitor's account and region ("default"), or an event bus ARN.
    bus: str = Field(default="default", pattern=EVENT_BUS_PATTERN)
    # The events' `source`; EventBridge refuses sources that start with "aws." from PutEvents.
    source: str = Field(default="connector-health", pattern=r"^[A-Za-z0-9_.\-/]{1,256}$")
    # Changes below this severity send no event.
    min_severity: SeverityName = "info"

    @field_validator("source")
    @classmethod
    def _not_aws(cls, value: str) -> str:
        if value.lower().startswith("aws."):
            raise ValueError("sources starting with 'aws.' are reserved for AWS services; use e.g. connector-health")
        return value


class IntegrationsConfig(_Strict):
    """Opt-in places where the monitor publishes its own findings (the only writes it makes outside its stack)."""

    security_hub: SecurityHubIntegration = Field(default_factory=SecurityHubIntegration)
    eventbridge: EventBridgeIntegration = Field(default_factory=EventBridgeIntegration)


AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]
OuId = Annotated[str, Field(pattern=r"^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$")]


class OrgConfig(_Strict):
    """Organisation (hub) mode: scan every selected member account through its member role."""

    enabled: bool = False
    # The read-only audit role the member stack creates in every member account.
    member_role_name: str = Field(default="connector-health-member", pattern=r"^[\w+=,.@-]{1,64}$")
    # Accounts to scan (default: every ACTIVE account) and accounts never to scan; exclude wins.
    include_accounts: list[AccountId] = Field(default_factory=list)
    exclude_accounts: list[AccountId] = Field(default_factory=list)
    # Organisational units (or the root, r-...) whose accounts, at any depth, are scanned / never scanned.
    include_ous: list[OuId] = Field(default_factory=list)
    exclude_ous: list[OuId] = Field(default_factory=list)
    # The management account: service-managed StackSets never deploy the member role there. Unset (auto): the hub
    # skips it when the hub *is* the management account (its own scheduled scan covers it) and scans it when the
    # hub is a delegated administrator (deploy the member template there as a plain stack: docs/org.md);
    # `check --org` skips it. true: always skip; false: always scan. The hub never fans out its own account.
    skip_management_account: bool | None = None
    # Test exchanges (EXCHANGE_*) in member accounts; off halves the STS calls of a large organisation.
    exchanges: bool = True
    # `check --org`: accounts scanned concurrently on this machine.
    max_workers: int = Field(default=8, ge=1, le=64)
    # Hub stack: the worker Lambda's reserved concurrency, SQS batch size, visibility timeout and the number of
    # receives before a message goes to the dead-letter queue.
    worker_concurrency: int = Field(default=5, ge=1, le=100)
    worker_batch_size: int = Field(default=5, ge=1, le=10)
    worker_timeout_seconds: int = Field(default=300, ge=30, le=900)
    max_receive_count: int = Field(default=3, ge=1, le=10)
    # The worker starts an account only while at least this much of its timeout is left; the rest of the batch
    # goes back to the queue (batch item failures) instead of being cut off by the timeout.
    worker_min_seconds_per_account: int = Field(default=60, ge=5, le=900)
    # The AWS Organizations id (o-...) the member roles require of the worker (aws:PrincipalOrgID). Only the
    # member stack reads it; it can also be given as a template parameter at deploy time.
    organization_id: str | None = Field(default=None, pattern=r"^o-[a-z0-9]{10,32}$")

    @model_validator(mode="after")
    def _disjoint(self) -> "OrgConfig":
        both = sorted(set(self.include_accounts) & set(self.exclude_accounts))
        if both:
            raise ValueError(f"account {both[0]} is in both include_accounts and exclude_accounts; keep it in one")
        both = sorted(set(self.include_ous) & set(self.exclude_ous))
        if both:
            raise ValueError(f"OU {both[0]} is in both include_ous and exclude_ous; keep it in one")
        if self.worker_min_seconds_per_account >= self.worker_timeout_seconds:
            raise ValueError(f"worker_min_seconds_per_account ({self.worker_min_seconds_per_account}) must be less "
                             f"than worker_timeout_seconds ({self.worker_timeout_seconds})")
        return self


class Config(_Strict):
    version: Literal[1] = 1
    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
    # EventBridge expression, checked by EventBridge's rules (connector_health.schedule).
    schedule: str = "rate(1 hour)"
    # Memory of the scan and worker functions (MB). CPU grows with it (a full vCPU at 1,769 MB). Default from a
    # measurement: bench/lambda_bench.py, README "Performance".
    function_memory_mb: int = Field(default=512, ge=128, le=10240)
    issuer_inspection: IssuerInspection = Field(default_factory=IssuerInspection)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    org: OrgConfig = Field(default_factory=OrgConfig)
    live_exchanges: LiveExchanges = Field(default_factory=LiveExchanges)
    integrations: IntegrationsConfig = Field(default_factory=IntegrationsConfig)
    connectors: list[ConnectorConfig] = Field(min_length=1)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        parse_schedule(value)  # ScheduleSyntaxError is a ValueError: one line naming the rule and the fix
        return value

    @field_validator("connectors")
    @classmethod
    def _unique_names(cls, value: list[ConnectorConfig]) -> list[ConnectorConfig]:
        seen: set[str] = set()
        for conn in value:
            if conn.name in seen:
                raise ValueError(f"connector name {conn.name!r} is used twice; names must be unique")
            seen.add(conn.name)
        return value

    def resolved_connectors(self) -> list["Connector"]:
        return [resolve_connector(c) for c in self.connectors if c.enabled]


# --------------------------------------------------------------------------------------------------
# Resolution: preset + overrides -> what the checks read.


@dataclass(frozen=True)
class Connector:
    name: str
    preset: Preset
    issuer: str
    needed_audiences: tuple[str, ...]
    accepted_audiences: frozenset[str]
    roles: tuple[RoleSpec, ...]
    customer_tenant_id: str | None
    caller: dict[str, str]
    severities: dict[str, Severity]
    stack_name: str | None
    token_source: Any = None
    plans: tuple[str, ...] = field(default=())
    # EXCHANGE_LIVE_SILENT window; None: not checked.
    expected_activity_hours: float | None = None

    @property
    def issuer_key(self) -> str:
        """The condition-key prefix IAM uses for this provider: the URL without https://."""
        return self.issuer.removeprefix("https://")

    def severity_for(self, check_id: str, default: Severity) -> Severity:
        return self.severities.get(check_id, default)

    def bind_roles(self, existing: Any) -> "Connector":
        """The connector with each role named as it exists in the account: a role absent under its name but present
        under one of its aliases (an earlier template's name) is looked at under that alias."""
        roles = []
        for spec in self.roles:
            if spec.name not in existing:
                alias = next((a for a in spec.aliases if a in existing), None)
                if alias:
                    spec = spec.model_copy(update={"name": alias, "aliases": [spec.name, *spec.aliases]})
            roles.append(spec)
        return dataclasses.replace(self, roles=tuple(roles))


def _fill(template: str, values: dict[str, str | None]) -> str:
    out = template
    for key, val in values.items():
        if val is not None:
            out = out.replace("{" + key + "}", val)
    return out


_LIST_FIELDS = ("aliases", "managed_policies", "inline_policies", "optional_policies", "required_actions",
                "expected_deny", "expected_principals")


def _merge_roles(preset_roles: list[RoleSpec], configured: list[RoleSpec]) -> list[RoleSpec]:
    """Preset roles with the config's roles: an entry naming a preset role adds to it (lists are united, settings it
    gives win); one with `replaces` also gives the preset role its own name (the old name stays an alias); others
    are new roles."""
    roles = list(preset_roles)
    for spec in configured:
        target = spec.replaces or spec.name
        index = next((i for i, r in enumerate(roles) if r.name == target), None)
        if index is None:
            roles.append(spec.model_copy(update={"replaces": None}))
            continue
        base = roles[index]
        update: dict[str, Any] = {k: getattr(spec, k) for k in spec.model_fields_set if k not in ("replaces", "plan")}
        for name in _LIST_FIELDS:
            mine = getattr(spec, name)
            update[name] = list({repr(v): v for v in [*getattr(base, name), *mine]}.values())
        update["required_resources"] = {**base.required_resources, **spec.required_resources}
        update["read_only"] = base.read_only or spec.read_only
        if spec.replaces and spec.name != base.name:
            update["aliases"] = [a for a in [*update["aliases"], base.name] if a != spec.name]
        roles[index] = base.model_copy(update=update)
    return roles


def resolve_connector(cfg: ConnectorConfig) -> Connector:
    preset = load_preset(cfg.preset)
    values = {"customer_tenant_id": cfg.customer_tenant_id, "workspace_id": cfg.workspace_id}
    issuer = cfg.issuer or _fill(preset.issuer or "", values)
    plans = tuple(cfg.plans if cfg.plans is not None else preset.plans)
    roles = _merge_roles([r for p in plans for r in preset.plans.get(p, [])], list(cfg.roles))
    if cfg.audiences is not None:
        needed = list(cfg.audiences)
    elif preset.plans:
        needed = [r.audience for r in roles if r.audience and r.audience_needed]
    else:
        needed = list(preset.audiences) + [r.audience for r in cfg.roles if r.audience and r.audience_needed]
    needed = list(dict.fromkeys(needed))
    accepted = frozenset(needed) | frozenset(preset.audiences) | frozenset(cfg.extra_audiences) \
        | frozenset(r.audience for r in roles if r.audience)
    caller = {k: _fill(v, values) for k, v in preset.caller.items()} | dict(cfg.caller)
    activity = cfg.expected_activity_hours if cfg.expected_activity_hours is not None else preset.expected_activity_hours
    return Connector(
        name=cfg.name,
        preset=preset,
        issuer=issuer,
        needed_audiences=tuple(needed),
        accepted_audiences=accepted,
        roles=tuple(roles),
        customer_tenant_id=cfg.customer_tenant_id,
        caller=caller,
        severities={k: Severity(v) for k, v in cfg.severities.items()},
        stack_name=cfg.stack_name,
        token_source=cfg.token_source,
        plans=plans,
        expected_activity_hours=activity or None,
    )


# --------------------------------------------------------------------------------------------------
# Loading and error phrasing.


def _loc(parts: tuple[Any, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("entra-client-credentials", "file", "env", "command"):
            continue  # discriminator tag pydantic inserts into the location
        else:
            name = str(part)  # a key with a line break or control character would break the one-line message
            out += ("." if out else "") + (name if name.isprintable() else repr(name))
    return out or "(top level)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _phrase(error: dict[str, Any], data: Any) -> str:
    loc = _loc(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        parent = _lookup_model_fields(error["loc"][:-1])
        hint = difflib.get_close_matches(name, parent, n=1)
        fix = f"did you mean {hint[0]!r}?" if hint else "remove it (see connector-health.example.yaml for every option)"
        return f"{loc}: unknown option; {fix}"
    if kind == "missing":
        return f"{loc}: required option is missing; add it (see connector-health.example.yaml)"
    msg = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, dict):  # a rule across several options: the message names the option
        return f"{loc}: {msg}"
    if kind in ("string_pattern_mismatch",):
        fixes = {
            "name": "use letters, digits, '.', '_' or '-' (up to 63 characters)",
            "region": "use an AWS region code such as us-east-1",
            "member_role_name": "use an IAM role name (letters, digits and +=,.@_-, up to 64 characters)",
            "organization_id": "use the organisation id from `aws organizations describe-organization`, e.g. o-a1b2c3d4e5",
            "regions": "use AWS region codes such as us-east-1",
            "chat_topic_arn": "use an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:chat-alerts",
            "bus": "use an event bus name (default) or an event bus ARN",
            "source": "use letters, digits, '.', '-', '_' or '/', not starting with 'aws.'",
        }
        fixes |= {
            "include_accounts": "use a 12-digit AWS account id", "exclude_accounts": "use a 12-digit AWS account id",
            "include_ous": "use an OU id such as ou-ab12-cd34ef56 or the root id r-ab12",
            "exclude_ous": "use an OU id such as ou-ab12-cd34ef56 or the root id r-ab12",
        }
        field_name = next((str(p) for p in reversed(error["loc"]) if not isinstance(p, int)), "")
        msg = fixes.get(field_name, msg)
    return f"{loc} = {_short(value)}: {msg}"


def _lookup_model_fields(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Config
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        fld = getattr(model, "model_fields", {}).get(part)
        if fld is None:
            if part == "token_source" or part in ("entra-client-credentials", "file", "env", "command"):
                return ["type", "tenant_id", "client_id", "scope", "secret_arn", "secret_env", "authority", "path",
                        "variable", "argv", "timeout_seconds"]
            return []
        ann = fld.annotation
        args = getattr(ann, "__args__", ()) or ()
        candidates = [ann, *args]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            for c in candidates:
                for inner in getattr(c, "__args__", ()) or ():
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        model = inner
    return list(getattr(model, "model_fields", {}))


def parse_config(data: Any, source: str = "config") -> Config:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the file must hold a YAML mapping with a `connectors` list, not {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        # A misspelt option explains the "missing" error that usually comes with it: report it first.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        first = errors[0]
        more = len(errors) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(f"{source}: {_phrase(first, data)}{suffix}") from None


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; pass --config FILE (start from connector-health.example.yaml)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.__class__.__name__}: {exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_config(data, str(path))
