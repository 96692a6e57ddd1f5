"""The sandbox's CloudTrail: the STS stand-in records every AssumeRoleWithWebIdentity call here, shaped as AWS
logs it, and answers `LookupEvents` from it (boto3 sends CloudTrail calls to `AWS_ENDPOINT_URL_CLOUDTRAIL`; moto
does not implement LookupEvents).

Record shape: the web-identity example of the IAM user guide ("Logging IAM and AWS STS API calls with AWS
CloudTrail", 2024): `userIdentity` {`type` WebIdentityUser, `principalId` `<provider ARN>:<aud>:<sub>`, `userName`
`<sub>`, `identityProvider` `<provider ARN>`}, `requestParameters` {`roleArn`, `roleSessionName`,
`durationSeconds`}, on success `responseElements` {`credentials` {accessKeyId, sessionToken, expiration},
`subjectFromWebIdentityToken`, `assumedRoleUser`, `provider`, `audience`} and `additionalEventData`
{`identityProviderConnectionVerificationMethod`}; `readOnly`, `resources` (the role), `eventType` AwsApiCall,
`managementEvent`, `recipientAccountId`, `eventCategory` Management. On failure `errorCode` and `errorMessage` and
`responseElements` null; AccessDenied is recorded with "An unknown error occurred", as a real record shows
(its API answer is "Not authorized to perform sts:AssumeRoleWithWebIdentity"). Where no provider exists, the
sandbox's choice (AWS documents no example): `identityProvider` is the token's issuer without https://.

LookupEvents: the events of the caller's account, one `LookupAttributes` key (any of the eight AWS accepts), `StartTime`/`EndTime`, `MaxResults`
(1-50, default 50), `NextToken`; events newest first; errors as AWS names them. The quota (2 requests per second
per account and region) is enforced: a third request within one second gets `ThrottlingException`. Switches
(reset by `reset()`): `denied` (AccessDeniedException), `throttled` (every call throttled).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
import time
import uuid
from collections import deque
from typing import Any

EVENT_NAME = "AssumeRoleWithWebIdentity"
TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
ACCESS_DENIED_MESSAGE = "An unknown error occurred"
QUOTA_PER_SECOND = 2
MAX_RECORDS = 200_000  # the trail keeps the newest this many (a bench seeds 10,000)
LOOKUP_KEYS = {
    "EventId": lambda e: e["eventID"],
    "EventName": lambda e: e["eventName"],
    "ReadOnly": lambda e: "true" if e.get("readOnly") else "false",
    "Username": lambda e: (e.get("userIdentity") or {}).get("userName"),
    "ResourceType": lambda e: [r.get("type") for r in e.get("resources") or []],
    "ResourceName": lambda e: [r.get("ARN") for r in e.get("resources") or []],
    "EventSource": lambda e: e["eventSource"],
    "AccessKeyId": lambda e: ((e.get("responseElements") or {}).get("credentials") or {}).get("accessKeyId"),
}


class TrailError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def web_identity_record(*, role_arn: str, session_name: str, claims: dict[str, Any] | None, provider_arn: str | None,
                        region: str, error: tuple[str, str] | None = None, source_ip: str = "192.0.2.10",
                        user_agent: str = "aws-sdk", duration: int | None = None,
                        credentials: dict[str, str] | None = None, verification: str = "IAMTrustStore",
                        when: dt.datetime | None = None, request_id: str | None = None) -> dict[str, Any]:
    """One CloudTrail record of an AssumeRoleWithWebIdentity call (the module docstring says which shape)."""
    claims = claims or {}
    when = when or dt.datetime.now(dt.timezone.utc)
    iss = str(claims.get("iss") or "")
    provider = provider_arn or iss.removeprefix("https://")
    audiences = claims.get("azp") or claims.get("aud")
    audience = str(audiences[0] if isinstance(audiences, list) and audiences else audiences or "")
    subject = str(claims.get("sub") or "")
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    identity: dict[str, Any] = {"type": "WebIdentityUser"}
    if provider:
        identity |= {"principalId": f"{provider}:{audience}:{subject}", "userName": subject,
                     "identityProvider": provider}
    params: dict[str, Any] = {"roleArn": role_arn, "roleSessionName": session_name}
    if duration is not None:
        params["durationSeconds"] = duration
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": identity,
        "eventTime": _iso(when),
        "eventSource": "sts.amazonaws.com",
        "eventName": EVENT_NAME,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
    }
    if error:
        code, message = error
        record |= {"errorCode": code, "errorMessage": ACCESS_DENIED_MESSAGE if code == "AccessDenied" else message,
                   "requestParameters": params, "responseElements": None}
    else:
        creds = credentials or {}
        session = f"{role_arn.rsplit('/', 1)[-1]}/{session_name}"
        record |= {
            "requestParameters": params,
            "responseElements": {
                "credentials": {"accessKeyId": creds.get("AccessKeyId", ""), "sessionToken": creds.get("SessionToken", ""),
                                "expiration": creds.get("Expiration", "")},
                "subjectFromWebIdentityToken": subject,
                "assumedRoleUser": {"assumedRoleId": f"AROA{uuid.uuid4().hex[:17].upper()}:{session_name}",
                                    "arn": f"arn:aws:sts::{account}:assumed-role/{session}"},
                "provider": provider,
                "audience": audience,
            },
            "additionalEventData": {"identityProviderConnectionVerificationMethod": verification},
        }
    record |= {
        "requestID": request_id or str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": True,
        "resources": [{"accountId": account, "type": "AWS::IAM::Role", "ARN": role_arn}],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    return record


class Trail:
    """Recorded events per region, and LookupEvents over them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Per region, (epoch seconds, record) in the order recorded; `_query` keeps the matches of the last query
        # so that paging through it costs a page, not a scan of the trail.
        self._events: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self._query: tuple[str, int, list[tuple[float, dict[str, Any]]]] | None = None
        self._seen: dict[tuple[str, str], deque] = {}
        self.denied = False
        self.throttled = False
        self.lookups = 0
        self.throttles = 0
        self.lookup_times: deque = deque(maxlen=100_000)  # monotonic time of each accepted LookupEvents (bench)

    def reset(self) -> None:
        with self._lock:
            self._events.clear()
            self._query = None
            self._seen.clear()
            self.lookup_times.clear()
            self.denied = self.throttled = False
            self.lookups = self.throttles = 0

    def record(self, event: dict[str, Any]) -> None:
        """Keep one record (in the region its `awsRegion` names)."""
        when = dt.datetime.strptime(event["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
        with self._lock:
            events = self._events.setdefault(event["awsRegion"], [])
            events.append((when.timestamp(), event))
            if len(events) > MAX_RECORDS:
                del events[: len(events) - MAX_RECORDS]

    def records(self, region: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if region is not None:
                return [e for _, e in self._events.get(region, [])]
            return [e for events in self._events.values() for _, e in events]

    # ------------------------------------------------------------------ LookupEvents
    def _quota(self, caller: str, region: str) -> None:
        now = time.monotonic()
        with self._lock:
            recent = self._seen.setdefault((caller, region), deque())
            while recent and now - recent[0] >= 1.0:
                recent.popleft()
            if len(recent) >= QUOTA_PER_SECOND:
                self.throttles += 1
                raise TrailError("ThrottlingException", "Rate exceeded")
            recent.append(now)
            self.lookup_times.append(now)

    def lookup_events(self, request: dict[str, Any], *, caller: str, region: str,
                      account: str | None = None) -> dict[str, Any]:
        """The events of `account` (None: every account) in `region` that `request` asks for, a page at a time."""
        self.lookups += 1
        if self.denied:
            raise TrailError("AccessDeniedException", f"User: {caller} is not authorized to perform: "
                                                       "cloudtrail:LookupEvents because no identity-based policy "
                                                       "allows the cloudtrail:LookupEvents action")
        if self.throttled:
            self.throttles += 1
            raise TrailError("ThrottlingException", "Rate exceeded")
        self._quota(account or caller, region)
        attributes = request.get("LookupAttributes") or []
        if len(attributes) > 1:
            raise TrailError("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
        matcher = None
        if attributes:
            key, value = attributes[0].get("AttributeKey"), attributes[0].get("AttributeValue")
            if key not in LOOKUP_KEYS or not isinstance(value, str):
                raise TrailError("InvalidLookupAttributesException", f"Invalid lookup attribute: {key}")
            extract = LOOKUP_KEYS[key]

            def matcher(event: dict[str, Any]) -> bool:
                found = extract(event)
                return value in found if isinstance(found, list) else found == value

        start, end = request.get("StartTime"), request.get("EndTime")
        if start is not None and end is not None and start > end:
            raise TrailError("InvalidTimeRangeException", "Start time must be before end time.")
        size = request.get("MaxResults", 50)
        if not isinstance(size, int) or not 1 <= size <= 50:
            raise TrailError("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
        query = hashlib.sha256(json.dumps([attributes, start, end, region, account],
                                          sort_keys=True).encode()).hexdigest()[:16]
        offset = 0
        if request.get("NextToken"):
            try:
                token_query, token_offset = base64.b64decode(request["NextToken"]).decode().split(":")
                offset = int(token_offset)
            except (ValueError, UnicodeDecodeError):
                raise TrailError("InvalidNextTokenException", "Invalid NextToken.") from None
            if token_query != query:
                raise TrailError("InvalidNextTokenException", "The NextToken belongs to another query.")
        with self._lock:
            events = self._events.get(region, [])
            cached = self._query
            if cached is None or cached[0] != query or cached[1] != len(events) or not offset:
                chosen = [(when, event) for when, event in reversed(events)  # newest first
                          if (start is None or when >= start) and (end is None or when <= end)
                          and (account is None or event.get("recipientAccountId") == account)
                          and (matcher is None or matcher(event))]
                self._query = cached = (query, len(events), chosen)
        chosen = cached[2]
        page = chosen[offset: offset + size]
        out: dict[str, Any] = {"Events": [_summary(when, event) for when, event in page]}
        if offset + size < len(chosen):
            out["NextToken"] = base64.b64encode(f"{query}:{offset + size}".encode()).decode()
        return out


def _summary(when: float, event: dict[str, Any]) -> dict[str, Any]:
    """A LookupEvents entry: the searchable fields and the record itself as a JSON string."""
    identity = event.get("userIdentity") or {}
    out = {
        "EventId": event["eventID"], "EventName": event["eventName"],
        "ReadOnly": "true" if event.get("readOnly") else "false", "EventTime": when,
        "EventSource": event["eventSource"],
        "Resources": [{"ResourceType": r.get("type"), "ResourceName": r.get("ARN")} for r in event.get("resources") or []],
        "CloudTrailEvent": json.dumps(event),
    }
    if identity.get("userName"):
        out["Username"] = identity["userName"]
    key = ((event.get("responseElements") or {}).get("credentials") or {}).get("accessKeyId")
    if key:
        out["AccessKeyId"] = key
    return out
