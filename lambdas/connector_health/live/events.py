"""One `AssumeRoleWithWebIdentity` call as CloudTrail recorded it, rebuilt into what STS evaluated.

The record's shape (IAM user guide "Logging IAM and AWS STS API calls with AWS CloudTrail", web identity example,
2024; FACTS.md): `userIdentity` {`type` WebIdentityUser, `principalId` `<provider>:<aud>:<sub>`, `userName`
`<sub>`, `identityProvider` `<provider>`} where `<provider>` is the OIDC provider's ARN (older and built-in
providers: a host name such as accounts.google.com); `requestParameters` {`roleArn`, `roleSessionName`,
`durationSeconds`, optionally `sourceIdentity`, `principalTags`, `transitiveTagKeys`}; on failure `errorCode` and
`errorMessage` (a real AccessDenied record carries "An unknown error occurred", not the API's message); on success
`responseElements` {`subjectFromWebIdentityToken`, `audience`, `provider`, `credentials`, `assumedRoleUser`} and
`additionalEventData.identityProviderConnectionVerificationMethod` (IAMTrustStore or Thumbprint).

CloudTrail never records the web-identity token. The success record does carry the issued credentials'
`accessKeyId` and `sessionToken`: they are never read here. Every string kept is bounded, and values that look like
a JWT are replaced before anything is shown or stored (`display`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..collect.aws import provider_key

EVENT_NAME = "AssumeRoleWithWebIdentity"
MAX_VALUE = 4096  # characters of a claim or parameter kept for evaluation (STS's token is at most 20,000)
MAX_SHOWN = 200  # characters of a value shown in findings and output
MAX_RECORDS = 1000  # records explained from one file
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
_PROVIDER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):oidc-provider/(.+)$")
TOKEN_LIKE = "[token-like value removed]"


def display(value: Any, limit: int = MAX_SHOWN) -> str | None:
    """A value as findings may show it: JWT-looking parts removed, control characters escaped, bounded."""
    if value is None:
        return None
    text = _JWT.sub(TOKEN_LIKE, str(value))
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)
    return text[:MAX_VALUE]


def provider_key_of(provider: str | None) -> str | None:
    """IAM's name for an OIDC provider (its URL without https://) from what a record names it by: the provider ARN,
    the issuer URL, or a host name."""
    if not provider:
        return None
    match = _PROVIDER_ARN.match(provider)
    if match:
        return provider_key(match.group(2))
    return provider_key(provider)


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class WebIdentityCall:
    """What STS was asked and what it said, as far as CloudTrail recorded it (never the token)."""

    event_id: str
    time: dt.datetime | None
    region: str
    role_arn: str
    session_name: str | None
    provider: str | None  # as recorded: provider ARN, issuer URL or host
    audience: str | None
    subject: str | None
    error_code: str | None = None
    error_message: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    verification: str | None = None  # how STS verified the issuer's TLS (IAMTrustStore or Thumbprint)
    source_identity: str | None = None
    principal_tags: tuple[tuple[str, str], ...] = field(default=())
    provider_key: str | None = field(default=None, compare=False)  # IAM's name for `provider` (set from it)

    def __post_init__(self) -> None:
        if self.provider_key is None and self.provider:
            object.__setattr__(self, "provider_key", provider_key_of(self.provider))

    @property
    def ok(self) -> bool:
        return self.error_code is None

    @property
    def provider_arn(self) -> str | None:
        return self.provider if self.provider and _PROVIDER_ARN.match(self.provider) else None

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[-1]

    @property
    def account(self) -> str | None:
        parts = self.role_arn.split(":")
        return parts[4] if len(parts) >= 6 and parts[4] else None

    def claims(self) -> dict[str, Any]:
        """The token claims STS put into the request context that the record shows (aud, sub)."""
        out: dict[str, Any] = {}
        if self.audience is not None:
            out["aud"] = self.audience
        if self.subject is not None:
            out["sub"] = self.subject
        return out

    def caller(self) -> dict[str, Any]:
        """Who called, as findings show it."""
        return {"aud": display(self.audience), "sub": display(self.subject), "session_name": display(self.session_name)}


def _split_principal(principal: str | None, provider: str | None, subject: str | None) -> str | None:
    """The audience from `principalId` `<provider>:<aud>:<sub>` (provider, aud and sub may all hold colons, so the
    known provider and subject are cut off the ends)."""
    if not principal or not provider or not principal.startswith(provider + ":"):
        return None
    rest = principal[len(provider) + 1:]
    if subject is not None:
        if rest == subject:
            return None
        if rest.endswith(":" + subject):
            return rest[: -len(subject) - 1]
        return None
    return None


def parse_record(record: Any) -> WebIdentityCall | None:
    """A CloudTrail record of an AssumeRoleWithWebIdentity call, or None for anything else."""
    if not isinstance(record, dict) or record.get("eventName") != EVENT_NAME:
        return None
    identity = record.get("userIdentity") if isinstance(record.get("userIdentity"), dict) else {}
    params = record.get("requestParameters") if isinstance(record.get("requestParameters"), dict) else {}
    response = record.get("responseElements") if isinstance(record.get("responseElements"), dict) else {}
    extra = record.get("additionalEventData") if isinstance(record.get("additionalEventData"), dict) else {}
    provider = _text(identity.get("identityProvider")) or _text(response.get("provider"))
    subject = _text(response.get("subjectFromWebIdentityToken")) or _text(identity.get("userName"))
    audience = _text(response.get("audience")) or _split_principal(_text(identity.get("principalId")), provider,
                                                                   subject)
    role_arn = _text(params.get("roleArn")) or ""
    if not role_arn:
        resources = record.get("resources") if isinstance(record.get("resources"), list) else []
        role_arn = next((str(r.get("ARN")) for r in resources if isinstance(r, dict)
                         and r.get("type") == "AWS::IAM::Role" and r.get("ARN")), "")[:MAX_VALUE]
    tags = params.get("principalTags") if isinstance(params.get("principalTags"), dict) else {}
    code = record.get("errorCode")
    return WebIdentityCall(
        event_id=str(record.get("eventID") or "")[:128],
        time=_time(record.get("eventTime")),
        region=str(record.get("awsRegion") or "")[:32],
        role_arn=role_arn,
        session_name=_text(params.get("roleSessionName")),
        provider=provider,
        audience=audience,
        subject=subject,
        error_code=str(code)[:128] if code else None,
        error_message=_text(record.get("errorMessage")),
        source_ip=_text(record.get("sourceIPAddress")),
        user_agent=_text(record.get("userAgent")),
        verification=_text(extra.get("identityProviderConnectionVerificationMethod")),
        source_identity=_text(params.get("sourceIdentity")),
        principal_tags=tuple((str(k)[:128], str(v)[:256]) for k, v in list(tags.items())[:50]),
    )


def iter_records(data: Any) -> Iterator[dict[str, Any]]:
    """CloudTrail records from what people have at hand: one record (the console's "event record"), a log file
    from S3 (`{"Records": [...]}`), `aws cloudtrail lookup-events` output (`{"Events": [{"CloudTrailEvent": "..."}]}`)
    or a list of any of these. At most MAX_RECORDS."""
    count = 0
    stack = [data]
    while stack and count < MAX_RECORDS:
        item = stack.pop(0)
        if isinstance(item, list):
            stack[:0] = item[: MAX_RECORDS]
            continue
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("Records"), list):
            stack[:0] = item["Records"][: MAX_RECORDS]
        elif isinstance(item.get("Events"), list):
            stack[:0] = item["Events"][: MAX_RECORDS]
        elif "CloudTrailEvent" in item:
            inner = item["CloudTrailEvent"]
            if isinstance(inner, str):
                try:
                    inner = json.loads(inner)
                except ValueError:
                    continue
            if isinstance(inner, dict):
                count += 1
                yield inner
        elif "eventName" in item:
            count += 1
            yield item
