"""One pass over an account's IAM: roles, managed policy documents and OIDC providers, into typed objects.

Checks never call boto3; they read the `AccountSnapshot`. A read that fails is recorded in
`snapshot.read_errors` (AccessDenied becomes MONITOR_ACCESS_DENIED naming the action, anything else
MONITOR_CHECK_ERROR) and the parts it would have filled are marked unavailable, so checks that depend on
them stay silent instead of reporting e.g. a provider as missing when it merely could not be listed.
"""

from __future__ import annotations

import datetime
import json
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from botocore.handlers import json_decode_policies
from botocore.parsers import ResponseParserError, ResponseParserFactory
from botocore.utils import parse_timestamp
from dateutil.tz import tzutc

ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "UnrecognizedClientException"}
)

# What an AWS call can raise besides our own bugs (an unparsable answer is not a BotoCoreError).
AWS_ERRORS = (ClientError, BotoCoreError, ResponseParserError)

# Standard/adaptive retry modes handle IAM's "Throttling: Rate exceeded" (FACTS.md); no loops of our own.
BOTO_CONFIG = BotoConfig(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="connector-health",
)


class SerializedSession:
    """A boto3 session from which several threads may create clients. boto3's clients are thread-safe, its sessions
    are not: creating clients from one session in parallel can fail (KeyError 'credential_provider' /
    'endpoint_resolver', boto/boto3#1592; botocore's maintainers: "client creation shouldn't be done in parallel
    using the same session"). Client and resource creation and credential resolution take one lock here; the
    clients then run in parallel. Everything else is the wrapped session's."""

    def __init__(self, session: boto3.session.Session) -> None:
        self._session = session
        self._lock = threading.RLock()

    @classmethod
    def of(cls, session: "boto3.session.Session | SerializedSession | None") -> "SerializedSession":
        """`session` wrapped once (None: a new default session, as boto3.client() would use)."""
        if isinstance(session, SerializedSession):
            return session
        return cls(session if session is not None else boto3.session.Session())

    def client(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._session.client(*args, **kwargs)

    def resource(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._session.resource(*args, **kwargs)

    def get_credentials(self) -> Any:
        with self._lock:
            return self._session.get_credentials()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


@dataclass(frozen=True)
class ReadError:
    action: str  # IAM action, e.g. "iam:GetAccountAuthorizationDetails"
    code: str
    message: str
    resource: str = "*"

    @property
    def access_denied(self) -> bool:
        return self.code in ACCESS_DENIED_CODES


@dataclass
class ManagedPolicy:
    arn: str
    name: str
    default_version_id: str
    document: Any  # parsed JSON (dict) or whatever IAM returned
    aws_managed: bool
    # The default version as IAM sent it (URL-decoded): the evaluator parses it once per process whatever account
    # carries it (`parse_policy_once`).
    document_text: str | None = None


@dataclass
class AttachedPolicy:
    name: str
    arn: str


class _AsSent:
    """Policy documents as IAM sent them, and how to decode them."""

    __slots__ = ("raw", "decode")

    def __init__(self, raw: Any, decode: Callable[[Any], Any]) -> None:
        self.raw, self.decode = raw, decode


def _decode_each(raw: dict[str, Any]) -> dict[str, Any]:
    return {name: _decode_policy(value) for name, value in raw.items()}


_NO_POLICIES = _AsSent({}, _decode_each)


class _DecodedWhenRead:
    """A dataclass field that may be given IAM's text (`_AsSent`) and decodes it the first time it is read: most
    roles' trust and inline policies are only ever parsed by the evaluator from the text, or not at all, so the
    collector keeps no decoded copy of 5,000 documents it may never need. `default`: what a Role built without
    the field gets (decoded per Role, never shared)."""

    def __init__(self, default: _AsSent | None = None) -> None:
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.slot = name, f"_{name}"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            if self.default is None:
                raise AttributeError(self.name)  # no default: the field stays required
            return self.default
        value = obj.__dict__[self.slot]
        if isinstance(value, _AsSent):
            value = obj.__dict__[self.slot] = value.decode(value.raw)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value


@dataclass
class Role:
    name: str
    arn: str
    path: str
    trust_policy: Any = _DecodedWhenRead()  # parsed JSON (dict), or the text if it could not be decoded
    # The document as IAM sent it (URL-decoded): TRUST_DUPLICATE_KEY reads it, because a JSON parser keeps only
    # one of two equal keys.
    trust_policy_text: str | None = None
    inline_policies: dict[str, Any] = _DecodedWhenRead(_NO_POLICIES)  # name -> parsed JSON, as trust_policy
    attached_policies: list[AttachedPolicy] = field(default_factory=list)
    boundary_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    last_used: str | None = None


@dataclass
class OidcProvider:
    arn: str
    url: str  # always with https://
    client_ids: list[str]
    thumbprints: list[str]
    create_date: str | None = None

    @property
    def key(self) -> str:
        return provider_key(self.url)


def provider_key(url: str) -> str:
    """How IAM names a provider: URL without scheme, host lower-cased, path kept as written."""
    rest = url.strip()
    for scheme in ("https://", "http://"):
        if rest.lower().startswith(scheme):
            rest = rest[len(scheme):]
    host, sep, path = rest.partition("/")
    return host.lower() + sep + path


@dataclass
class AccountSnapshot:
    account_id: str
    partition: str = "aws"
    roles: dict[str, Role] = field(default_factory=dict)
    managed_policies: dict[str, ManagedPolicy] = field(default_factory=dict)
    providers: list[OidcProvider] = field(default_factory=list)
    read_errors: list[ReadError] = field(default_factory=list)
    # Which parts could be read completely; checks that need a missing part do not run.
    roles_complete: bool = False
    providers_complete: bool = False
    api_calls: dict[str, int] = field(default_factory=dict)
    # What is derived from the snapshot once and shared by every check and connector (parsed trust documents, the
    # policy library, each role's permissions): it lives exactly as long as the snapshot.
    caches: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def role(self, name: str) -> Role | None:
        return self.roles.get(name)

    def trust_document(self, role: Role):
        """The role's parsed trust policy (every connector's checks ask for it): parsed once per text and process,
        so roles with the same trust policy share the parsed statements."""
        from ..policy import parse_policy_once

        cache = self.caches.setdefault("trust_documents", {})
        doc = cache.get(role.name)
        if doc is None:
            doc = cache[role.name] = parse_policy_once(role.trust_policy_text or role.trust_policy, source=role.arn,
                                                       require_principal=True)
        return doc

    def roles_trusting(self, federated: str) -> list[Role]:
        """The roles whose trust policy names `federated` (a provider ARN) as a Federated principal in any statement,
        valid or not, in the snapshot's order. Indexed once per snapshot: every connector asks."""
        index = self.caches.get("roles_by_federated")
        if index is None:
            index = {}
            for role in self.roles.values():
                named = {value for statement in self.trust_document(role).all_statements
                         for value in statement.federated}
                for value in named:
                    index.setdefault(value, []).append(role)
            self.caches["roles_by_federated"] = index
        return index.get(federated, [])

    def provider_for(self, issuer_url: str) -> OidcProvider | None:
        key = provider_key(issuer_url)
        return next((p for p in self.providers if p.key == key), None)


def _policy_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return urllib.parse.unquote(value) if value[:3].upper() == "%7B" else value


def _decode_policy(value: Any) -> Any:
    """IAM returns policy documents URL-encoded JSON text (the collector keeps botocore from decoding them)."""
    if isinstance(value, str):
        text = _policy_text(value) or ""
        try:
            return json.loads(text.lstrip("\ufeff"))
        except ValueError:
            return value
    return value


def parse_iso_timestamp(value: Any) -> datetime.datetime:
    """botocore's `parse_timestamp`, except that the form IAM answers with (``2024-01-02T03:04:05Z``, fractions
    optional) is read by `datetime.fromisoformat` instead of dateutil's general parser, which took a third of the
    XML parse of a 1,000-role GetAccountAuthorizationDetails answer. The same instant, at offset 0, either way."""
    if isinstance(value, str) and value.endswith("Z") and "T" in value:
        try:
            return datetime.datetime.fromisoformat(value[:-1]).replace(tzinfo=tzutc())
        except ValueError:
            pass
    return parse_timestamp(value)


def _read_iso_timestamps_directly(client: Any) -> None:
    """Give this client alone a response parser that uses `parse_iso_timestamp` (the session's other clients keep
    botocore's). botocore has no public setting for it: if its endpoint stops exposing the parser factory, the
    client keeps the default parser, as slow and as right as before."""
    endpoint = getattr(client, "_endpoint", None)
    if endpoint is not None and hasattr(endpoint, "_response_parser_factory"):
        factory = ResponseParserFactory()
        factory.set_parser_defaults(timestamp_parser=parse_iso_timestamp)
        endpoint._response_parser_factory = factory


def _error_of(exc: Exception, action: str, resource: str = "*") -> ReadError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return ReadError(action, str(err.get("Code", "Unknown")), str(err.get("Message", "")), resource)
    return ReadError(action, exc.__class__.__name__, str(exc), resource)


class SnapshotCollector:
    """Reads one account. `session` is a boto3 Session whose credentials point at that account."""

    def __init__(self, session: boto3.session.Session | None = None, region: str = "us-east-1"):
        self.session = session or boto3.session.Session()
        self.region = region
        self._iam = self.session.client("iam", region_name=region, config=BOTO_CONFIG)
        # Keep policy documents as text (botocore would json-decode them and silently merge duplicate keys).
        self._iam.meta.events.unregister("after-call.iam", json_decode_policies)
        _read_iso_timestamps_directly(self._iam)
        self._sts = self.session.client("sts", region_name=region, config=BOTO_CONFIG)

    def _count(self, snap: AccountSnapshot, op: str) -> None:
        snap.api_calls[op] = snap.api_calls.get(op, 0) + 1

    def collect(self, account_id: str | None = None) -> AccountSnapshot:
        snap = AccountSnapshot(account_id=account_id or "unknown")
        if account_id is None:
            try:
                self._count(snap, "sts:GetCallerIdentity")
                ident = self._sts.get_caller_identity()
                snap.account_id = ident["Account"]
                snap.partition = ident["Arn"].split(":")[1]
            except AWS_ERRORS as exc:
                snap.read_errors.append(_error_of(exc, "sts:GetCallerIdentity"))
        self._collect_authorization_details(snap)
        self._collect_providers(snap)
        return snap

    def _collect_authorization_details(self, snap: AccountSnapshot) -> None:
        action = "iam:GetAccountAuthorizationDetails"
        try:
            paginator = self._iam.get_paginator("get_account_authorization_details")
            pages = paginator.paginate(
                Filter=["Role", "LocalManagedPolicy", "AWSManagedPolicy"], PaginationConfig={"PageSize": 1000}
            )
            for page in pages:
                self._count(snap, action)
                for item in page.get("RoleDetailList", []):
                    role = self._role(item)
                    snap.roles[role.name] = role
                for item in page.get("Policies", []):
                    policy = self._policy(item)
                    if policy:
                        snap.managed_policies[policy.arn] = policy
            snap.roles_complete = True
        except AWS_ERRORS as exc:
            snap.read_errors.append(_error_of(exc, action))

    @staticmethod
    def _role(item: dict[str, Any]) -> Role:
        boundary = item.get("PermissionsBoundary") or {}
        last_used = (item.get("RoleLastUsed") or {}).get("LastUsedDate")
        return Role(
            name=item["RoleName"],
            arn=item["Arn"],
            path=item.get("Path", "/"),
            trust_policy=_AsSent(item.get("AssumeRolePolicyDocument"), _decode_policy),
            trust_policy_text=_policy_text(item.get("AssumeRolePolicyDocument")),
            inline_policies=_AsSent({p.get("PolicyName", "?"): p.get("PolicyDocument")
                                     for p in item.get("RolePolicyList", [])}, _decode_each),
            attached_policies=[
                AttachedPolicy(p.get("PolicyName", "?"), p.get("PolicyArn", "")) for p in item.get("AttachedManagedPolicies", [])
            ],
            boundary_arn=boundary.get("PermissionsBoundaryArn"),
            tags={t.get("Key", ""): t.get("Value", "") for t in item.get("Tags", [])},
            last_used=str(last_used) if last_used else None,
        )

    @staticmethod
    def _policy(item: dict[str, Any]) -> ManagedPolicy | None:
        default = item.get("DefaultVersionId")
        document = text = None
        for version in item.get("PolicyVersionList", []):
            if version.get("IsDefaultVersion") or version.get("VersionId") == default:
                document = _decode_policy(version.get("Document"))
                text = _policy_text(version.get("Document"))
                break
        arn = item.get("Arn", "")
        return ManagedPolicy(
            arn=arn,
            name=item.get("PolicyName", arn.rsplit("/", 1)[-1]),
            default_version_id=default or "",
            document=document,
            aws_managed=":aws:policy/" in arn,
            document_text=text,
        )

    def _collect_providers(self, snap: AccountSnapshot) -> None:
        try:
            self._count(snap, "iam:ListOpenIDConnectProviders")
            listed = self._iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", [])
        except AWS_ERRORS as exc:
            snap.read_errors.append(_error_of(exc, "iam:ListOpenIDConnectProviders"))
            return
        complete = True
        for entry in listed:
            arn = entry.get("Arn", "")
            try:
                self._count(snap, "iam:GetOpenIDConnectProvider")
                got = self._iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
                    continue  # deleted between list and get
                snap.read_errors.append(_error_of(exc, "iam:GetOpenIDConnectProvider", arn))
                complete = False
                continue
            except (BotoCoreError, ResponseParserError) as exc:
                snap.read_errors.append(_error_of(exc, "iam:GetOpenIDConnectProvider", arn))
                complete = False
                continue
            url = got.get("Url") or arn.split(":oidc-provider/", 1)[-1]
            if not url.lower().startswith("https://"):
                url = "https://" + url  # IAM (and moto) return the URL without its scheme
            created = got.get("CreateDate")
            snap.providers.append(
                OidcProvider(
                    arn=arn,
                    url=url,
                    client_ids=list(got.get("ClientIDList", [])),
                    thumbprints=[t.lower() for t in got.get("ThumbprintList", [])],
                    create_date=str(created) if created else None,
                )
            )
        snap.providers_complete = complete
