"""The sandbox's STS stand-in: validates `AssumeRoleWithWebIdentity` the way AWS does, forwards the rest to moto.

moto's STS returns credentials for any string (FACTS.md, emulation notes), so the sandbox puts this small HTTP
server in front of it (boto3 honours `AWS_ENDPOINT_URL_STS`). It speaks the STS query protocol: form-encoded
POST (or GET with a query string), XML answers shaped like AWS's, errors as
`<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>` with AWS's HTTP status.

`AssumeRoleWithWebIdentity` is validated in the order FACTS.md describes, answering with its exact messages:

1. input constraints (RoleSessionName 2-64 `[\\w+=,.@-]*`, token 4-20000 characters, DurationSeconds 900-43200)
   -> `ValidationError`;
2. the provider is looked up from the token's `iss` in IAM (on moto) -> "No OpenIDConnect provider found in your
   account for <iss>"; `aud` present -> "Missing a required claim: aud"; `aud` (or `azp`, which IAM maps to aud)
   in the provider's ClientIDList -> "Incorrect token audience";
3. discovery and JWKS are fetched from the issuer over TLS. A chain that verifies against the sandbox's CA bundle
   (its "library of trusted root CAs") is used as is; otherwise the last certificate's SHA-1 must be one of the
   provider's thumbprints -> "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint".
   A timeout -> `IDPCommunicationError`; any other failure (refused connection, HTTP error, not JSON, no key)
   -> "Couldn't retrieve verification key from your identity provider,  please reference ..." (double space);
4. the signature against the key with the token's `kid` (RS256/384/512, ES256/384/512); no public message is
   known for a bad signature, so the answer is `InvalidIdentityToken` with the generic text of the STS API
   reference; then `exp` with 5 minutes of skew -> `ExpiredTokenException` "Token expired: ...";
5. the role's trust policy through the shared evaluator (`connector_health.policy`), with the request context
   STS builds (`web_identity_request`) plus `aws:SourceIp` (the caller's address), `aws:CurrentTime`,
   `aws:EpochTime`, `aws:SecureTransport`, `aws:RequestedRegion`, `aws:UserAgent` -> `AccessDenied`
   "Not authorized to perform sts:AssumeRoleWithWebIdentity" (also for a role that does not exist);
6. then the call is forwarded to moto for credentials, and the answer gets the members moto leaves out
   (`SubjectFromWebIdentityToken`, `Audience`, `Provider`).

`AssumeRole` (hub mode's member roles) is validated too: the role must exist in the account of its ARN and its
trust policy must admit the caller (the identity moto gives the request's credentials) with `aws:PrincipalArn`,
`aws:PrincipalAccount` and `aws:PrincipalOrgID` (the emulated organisation's id) -> `AccessDenied` "User: <caller>
is not authorized to perform: sts:AssumeRole on resource: <role>". Provider and role look-ups for web identity
read the IAM of the account the role ARN names (moto keeps accounts apart by assumed-role credentials).

Every `AssumeRoleWithWebIdentity` call, answered or refused, is also recorded as a CloudTrail event in `trail`
(sandbox/cloudtrail.py, shaped as AWS logs it), and CloudTrail's `LookupEvents` (JSON protocol, sent here through
`AWS_ENDPOINT_URL_CLOUDTRAIL`) is answered from it; other CloudTrail calls go to moto.

Switches (reset by `Sandbox.restore()`): `accept_anything` (step 2-5 skipped: a broken STS, for
EXCHANGE_FORGED_TOKEN_ACCEPTED), `region_disabled` (`RegionDisabledException` for web-identity calls, as when
the account has not activated the region's STS endpoint), `assume_role_errors` ({account id: error code} that
`AssumeRole` into that account answers, e.g. `RegionDisabledException`: an error that is not a refusal), `invalidate_issued_credentials` (credentials this
stand-in issued are refused by `GetCallerIdentity` with `InvalidClientTokenId`, as session tokens that are
not valid in a region or were revoked).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import boto3
import jwt
import requests
from botocore.exceptions import ClientError

from ..collect.aws import provider_key
from ..collect.issuer import IssuerInspector, discovery_url_for
from ..config import IssuerInspection
from ..policy import RequestContext, evaluate, parse_policy
from ..policy.webidentity import web_identity_request
from .cloudtrail import TARGET_PREFIX, Trail, TrailError, web_identity_record
from .serving import BackgroundServer

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
SKEW_SECONDS = 300
ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
SESSION_NAME = re.compile(r"[\w+=,.@-]*")

MSG_NO_PROVIDER = "No OpenIDConnect provider found in your account for {iss}"
MSG_AUDIENCE = "Incorrect token audience"
MSG_MISSING_AUD = "Missing a required claim: aud"
MSG_THUMBPRINT = "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint"
MSG_NO_KEY = ("Couldn't retrieve verification key from your identity provider,  please reference "
              "AssumeRoleWithWebIdentity documentation for requirements")
MSG_IDP_COMMUNICATION = ("The request could not be fulfilled because the identity provider (IDP) that was asked to "
                         "verify the incoming identity token could not be reached. This is often a transient error "
                         "caused by network conditions.")
# The generic text of InvalidIdentityTokenException in the STS API reference (no public message names the cause).
MSG_INVALID_TOKEN = ("The web identity token that was passed could not be validated by Amazon Web Services. Get a new "
                     "identity token from the identity provider and then retry the request.")
MSG_EXPIRED = "Token expired: current date/time {now} must be before the expiration date/time{exp}"
MSG_ACCESS_DENIED = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
MSG_REGION = ("STS is not activated in this region for account:{account}. Your account administrator can activate "
              "STS in this region using the IAM Console.")
MSG_INVALID_CLIENT_TOKEN = "The security token included in the request is invalid."
MSG_ASSUME_ROLE_DENIED = "User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role}"

STATUS = {
    "InvalidIdentityToken": 400, "ExpiredTokenException": 400, "IDPCommunicationError": 400,
    "IDPRejectedClaim": 403, "AccessDenied": 403, "RegionDisabledException": 403, "ValidationError": 400,
    "InvalidClientTokenId": 403, "MalformedPolicyDocument": 400, "PackedPolicyTooLarge": 400,
}


class StsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def error_body(code: str, message: str, request_id: str) -> bytes:
    kind = "Receiver" if code == "IDPCommunicationError" else "Sender"
    return (
        f'<ErrorResponse xmlns="{NAMESPACE}">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{escape(code)}</Code>\n'
        f"    <Message>{escape(message)}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n"
        f"</ErrorResponse>\n"
    ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], standin: "StsStandIn") -> None:
        self.standin = standin
        super().__init__(addr, _Handler)

    def handle_error(self, request, client_address):  # clients that hang up are normal here
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - never log (bodies hold tokens)
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch(b"")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self._dispatch(self.rfile.read(length) if length else b"")

    def _dispatch(self, body: bytes) -> None:
        standin = self.server.standin
        target = self.headers.get("X-Amz-Target") or ""
        if target.startswith(TARGET_PREFIX):
            self._cloudtrail(target.removeprefix(TARGET_PREFIX), body)
            return
        params = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if body and "x-www-form-urlencoded" in (self.headers.get("Content-Type") or "x-www-form-urlencoded"):
            params |= {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        action = params.get("Action", "")
        request_id = str(uuid.uuid4())
        seen: dict[str, Any] = {}
        try:
            if action == "AssumeRoleWithWebIdentity":
                status, payload = standin.assume_role_with_web_identity(
                    params, self.client_address[0], self.headers.get("User-Agent", ""), self._forwarder(body), seen)
            elif action == "AssumeRole":
                status, payload = standin.assume_role(params, dict(self.headers.items()), self._forwarder(body))
            elif action == "GetCallerIdentity" and standin.refuses_credentials(self.headers.get("Authorization", "")):
                raise StsError("InvalidClientTokenId", MSG_INVALID_CLIENT_TOKEN)
            else:
                status, headers, payload = self._forward(body)
                standin.record(action, None if status < 400 else f"HTTP {status}")
                self._reply(status, payload, headers.get("Content-Type", "text/xml"), headers.get("x-amzn-RequestId"))
                return
        except StsError as exc:
            standin.record(action, exc.code)
            if action == "AssumeRoleWithWebIdentity":
                standin.record_web_identity(params, seen, self.client_address[0], self.headers.get("User-Agent", ""),
                                            request_id, error=(exc.code, exc.message))
            self._reply(STATUS.get(exc.code, 400), error_body(exc.code, exc.message, request_id), "text/xml", request_id)
            return
        except Exception as exc:  # noqa: BLE001 - a stand-in bug must look like an AWS 500, not a hang
            standin.record(action, "InternalFailure")
            self._reply(500, error_body("InternalFailure", f"stand-in error: {exc.__class__.__name__}", request_id),
                        "text/xml", request_id)
            return
        standin.record(action, None)
        if action == "AssumeRoleWithWebIdentity":
            standin.record_web_identity(params, seen, self.client_address[0], self.headers.get("User-Agent", ""),
                                        request_id, response=payload)
        self._reply(status, payload, "text/xml", request_id)

    def _cloudtrail(self, operation: str, body: bytes) -> None:
        """CloudTrail's JSON protocol: LookupEvents from the trail, anything else forwarded to moto."""
        standin = self.server.standin
        if operation != "LookupEvents":
            status, headers, payload = self._forward(body)
            self._reply(status, payload, headers.get("Content-Type", "application/x-amz-json-1.1"),
                        headers.get("x-amzn-RequestId"))
            return
        request_id = str(uuid.uuid4())
        scope = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/", self.headers.get("Authorization", ""))
        region = scope.group(1) if scope else standin.region
        # CloudTrail answers with the events of the caller's own account (moto knows whose the credentials are; it
        # routes by the signature's service, so the question goes to its STS with the scope of STS).
        headers = dict(self.headers.items())
        headers["Authorization"] = re.sub(r"/cloudtrail/aws4_request", "/sts/aws4_request",
                                          headers.get("Authorization", ""))
        caller = standin._caller(headers)
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise TrailError("SerializationException", "the request body is not a JSON object")
            answer = standin.trail.lookup_events(request, caller=caller["Arn"], account=caller["Account"],
                                                 region=region)
            self._reply(200, json.dumps(answer).encode(), "application/x-amz-json-1.1", request_id)
        except (TrailError, ValueError) as exc:
            code = exc.code if isinstance(exc, TrailError) else "SerializationException"
            message = exc.message if isinstance(exc, TrailError) else "the request body is not JSON"
            error = json.dumps({"__type": code, "message": message}).encode()
            self._reply(400, error, "application/x-amz-json-1.1", request_id)

    def _forwarder(self, body: bytes):
        def forward() -> tuple[int, dict[str, str], bytes]:
            return self._forward(body)
        return forward

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send the request to moto unchanged and return its answer."""
        target = urlsplit(self.server.standin.moto_endpoint)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            return resp.status, {k: v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def _reply(self, status: int, payload: bytes, ctype: str, request_id: str | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        if request_id:
            self.send_header("x-amzn-RequestId", request_id)
        self.end_headers()
        self.wfile.write(payload)


class StsStandIn:
    """A validating STS endpoint in front of moto. `url` is what `AWS_ENDPOINT_URL_STS` points at."""

    def __init__(self, moto_endpoint: str, ca_bundle: str, *, idp_timeout: float = 2.0, region: str = "us-east-1",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.moto_endpoint = moto_endpoint
        self.ca_bundle = str(ca_bundle)
        self.idp_timeout = idp_timeout
        self.region = region
        self._addr = (host, port)
        self._background = BackgroundServer("sts-stand-in")
        self._lock = threading.Lock()
        self._iam = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing",
            region_name=region,
        ).client("iam", endpoint_url=moto_endpoint)
        self._moto_sts = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing",
            region_name=region,
        ).client("sts", endpoint_url=moto_endpoint)
        self._account_iam: dict[str, Any] = {}
        self.default_account = "123456789012"  # moto's account for the "testing" credentials
        self._org_id: tuple[str | None, frozenset[str]] | None = None
        # Switches
        self.accept_anything = False
        self.assume_role_errors: dict[str, str] = {}
        self.region_disabled = False
        self.invalidate_issued_credentials = False
        # What happened (tests read it): (action, error code or None)
        self.calls: list[tuple[str, str | None]] = []
        self.issued_keys: set[str] = set()
        # The account's CloudTrail (AssumeRoleWithWebIdentity events) and the region its records are logged in.
        self.trail = Trail()
        self.trail_region = region

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "StsStandIn":
        self._addr = self._background.serve(_Server(self._addr, self))[:2]
        return self

    def stop(self) -> None:
        self._background.stop()

    @property
    def url(self) -> str:
        return f"http://{self._addr[0]}:{self._addr[1]}"

    def reset(self) -> None:
        """Switches off, history cleared."""
        self.accept_anything = False
        self.region_disabled = False
        self.invalidate_issued_credentials = False
        self.assume_role_errors = {}
        with self._lock:
            self.calls.clear()
            self.issued_keys.clear()
        self.trail.reset()
        self.trail_region = self.region
        self.forget_accounts()

    def forget_accounts(self) -> None:
        """Drop the per-account clients and the organisation (moto's reset forgets the keys behind them)."""
        with self._lock:
            self._account_iam.clear()
            self._org_id = None

    # ------------------------------------------------------------------ accounts
    def iam_for(self, account: str):
        """An IAM client on `account` (moto maps the credentials of a role assumed there to that account)."""
        with self._lock:
            client = self._account_iam.get(account)
        if client is not None:
            return client
        creds = self._moto_sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/sandbox-sts-stand-in",
                                           RoleSessionName="sts-stand-in")["Credentials"]
        client = boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"], region_name=self.region,
        ).client("iam", endpoint_url=self.moto_endpoint)
        with self._lock:
            self._account_iam[account] = client
        return client

    def _organization(self) -> tuple[str | None, frozenset[str]]:
        """(organisation id, its account ids) of the emulated organisation, if there is one."""
        with self._lock:
            cached = self._org_id
        if cached is not None:
            return cached
        orgs = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing",
            region_name=self.region,
        ).client("organizations", endpoint_url=self.moto_endpoint)
        try:
            org_id = orgs.describe_organization()["Organization"]["Id"]
            accounts = frozenset(a["Id"] for page in orgs.get_paginator("list_accounts").paginate()
                                 for a in page["Accounts"])
        except ClientError:
            org_id, accounts = None, frozenset()
        with self._lock:
            self._org_id = (org_id, accounts)
        return org_id, accounts

    # ------------------------------------------------------------------ AssumeRole
    def assume_role(self, params: dict[str, str], headers: dict[str, str], forward) -> tuple[int, bytes]:
        role_arn = params.get("RoleArn", "")
        parts = role_arn.split(":")
        caller = self._caller(headers)
        denied = StsError("AccessDenied", MSG_ASSUME_ROLE_DENIED.format(caller=caller["Arn"], role=role_arn))
        if len(parts) < 6 or not parts[5].startswith("role/"):
            raise denied
        account = parts[4]
        if account in self.assume_role_errors:
            code = self.assume_role_errors[account]
            raise StsError(code, f"sandbox switch: AssumeRole into {account} answers {code}")
        try:
            role = self.iam_for(account).get_role(RoleName=parts[5].rsplit("/", 1)[-1])["Role"]
        except ClientError:
            raise denied from None
        if role["Arn"] != role_arn:
            raise denied
        policy = parse_policy(role.get("AssumeRolePolicyDocument"), source="trust policy", require_principal=True)
        principal_arn = caller["Arn"]
        match = re.match(r"^arn:([^:]+):sts::(\d{12}):assumed-role/([^/]+)/", principal_arn)
        if match:  # aws:PrincipalArn of a role session is the role's ARN
            principal_arn = f"arn:{match.group(1)}:iam::{match.group(2)}:role/{match.group(3)}"
        org_id, members = self._organization()
        keys: dict[str, Any] = {"aws:PrincipalArn": principal_arn, "aws:PrincipalAccount": caller["Account"],
                                "aws:PrincipalType": "AssumedRole" if match else "User"}
        if org_id and caller["Account"] in members:
            keys["aws:PrincipalOrgID"] = org_id
        request = RequestContext(action="sts:AssumeRole", resource=role_arn, principal=("AWS", caller["Arn"]),
                                 keys=keys)
        if not evaluate([policy], request, assume="deny").allowed:
            raise denied
        status, _headers, payload = forward()
        return status, payload

    def _caller(self, headers: dict[str, str]) -> dict[str, str]:
        """Who sends the request: moto's GetCallerIdentity for the same credentials (moto reads the access key
        from the Authorization header and does not check signatures)."""
        target = urlsplit(self.moto_endpoint)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        body = b"Action=GetCallerIdentity&Version=2011-06-15"
        keep = {k: v for k, v in headers.items() if k.lower() in ("authorization", "x-amz-date", "x-amz-security-token")}
        try:
            conn.request("POST", "/", body=body, headers={**keep, "Content-Type": "application/x-www-form-urlencoded",
                                                          "Content-Length": str(len(body))})
            text = conn.getresponse().read().decode("utf-8", "replace")
        finally:
            conn.close()
        arn = re.search(r"<Arn>([^<]+)</Arn>", text)
        account = re.search(r"<Account>([^<]+)</Account>", text)
        return {"Arn": arn.group(1) if arn else "unknown", "Account": account.group(1) if account else ""}

    def record(self, action: str, code: str | None) -> None:
        with self._lock:
            self.calls.append((action, code))

    def record_web_identity(self, params: dict[str, str], seen: dict[str, Any], source_ip: str, user_agent: str,
                            request_id: str, *, error: tuple[str, str] | None = None,
                            response: bytes | None = None) -> None:
        """Log the call in the trail as AWS logs it (the token itself never: CloudTrail does not record it)."""
        text = (response or b"").decode("utf-8", "replace")
        credentials = {name: found.group(1) for name in ("AccessKeyId", "SessionToken", "Expiration")
                       if (found := re.search(rf"<{name}>([^<]+)</{name}>", text))}
        duration = params.get("DurationSeconds")
        provider = seen.get("provider") or {}
        self.trail.record(web_identity_record(
            role_arn=params.get("RoleArn", ""), session_name=params.get("RoleSessionName", ""),
            claims=seen.get("claims"), provider_arn=provider.get("arn"), region=self.trail_region, error=error,
            source_ip=source_ip, user_agent=user_agent, duration=int(duration) if (duration or "").isdigit() else None,
            credentials=credentials, verification=seen.get("verification", "IAMTrustStore"), request_id=request_id,
        ))

    def web_identity_calls(self) -> list[str | None]:
        with self._lock:
            return [code for action, code in self.calls if action == "AssumeRoleWithWebIdentity"]

    def refuses_credentials(self, authorization: str) -> bool:
        if not self.invalidate_issued_credentials:
            return False
        match = re.search(r"Credential=([A-Z0-9]+)/", authorization)
        with self._lock:
            return bool(match and match.group(1) in self.issued_keys)

    # ------------------------------------------------------------------ AssumeRoleWithWebIdentity
    def assume_role_with_web_identity(self, params: dict[str, str], source_ip: str, user_agent: str,
                                      forward, seen: dict[str, Any] | None = None) -> tuple[int, bytes]:
        """`seen` receives the token's claims and the provider as they are found (for the CloudTrail record)."""
        seen = {} if seen is None else seen
        role_arn = params.get("RoleArn", "")
        session_name = params.get("RoleSessionName", "")
        token = params.get("WebIdentityToken", "")
        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else "000000000000"
        if self.region_disabled:
            raise StsError("RegionDisabledException", MSG_REGION.format(account=account))
        self._validate_input(params)
        if self.accept_anything:
            seen["claims"] = _unverified(token) or {}
            return self._credentials(forward, params, claims=seen["claims"], provider=None)
        claims = _unverified(token)
        header = _unverified_header(token)
        if claims is None or header is None:
            raise StsError("InvalidIdentityToken", MSG_INVALID_TOKEN)
        seen["claims"] = {k: claims[k] for k in ("iss", "aud", "azp", "sub") if k in claims}
        iss = claims.get("iss")
        provider = self._provider(account, iss) if isinstance(iss, str) else None
        seen["provider"] = provider
        if provider is None:
            raise StsError("InvalidIdentityToken", MSG_NO_PROVIDER.format(iss=iss))
        if claims.get("aud") in (None, "", []):
            raise StsError("InvalidIdentityToken", MSG_MISSING_AUD)
        audiences = _values(claims.get("azp")) or _values(claims.get("aud"))
        if not set(audiences) & set(provider["client_ids"]):
            raise StsError("InvalidIdentityToken", MSG_AUDIENCE)
        jwks = self._jwks(iss, provider["thumbprints"])
        self._verify_signature(token, header, jwks)
        now = int(time.time())
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or now > exp + SKEW_SECONDS:
            raise StsError("ExpiredTokenException", MSG_EXPIRED.format(now=now, exp=exp))
        self._trust(role_arn, provider, claims, session_name, source_ip, user_agent)
        return self._credentials(forward, params, claims=claims, provider=provider)

    def _iam_of(self, account: str):
        """The default account's client, or one on the member account the role ARN names."""
        if not re.fullmatch(r"\d{12}", account or "") or account == self.default_account:
            return self._iam
        return self.iam_for(account)

    @staticmethod
    def _validate_input(params: dict[str, str]) -> None:
        problems = []
        session = params.get("RoleSessionName", "")
        if not 2 <= len(session) <= 64:
            problems.append(f"Value '{session}' at 'roleSessionName' failed to satisfy constraint: Member must have "
                            "length less than or equal to 64" if len(session) > 64 else
                            f"Value '{session}' at 'roleSessionName' failed to satisfy constraint: Member must have "
                            "length greater than or equal to 2")
        elif not SESSION_NAME.fullmatch(session):
            problems.append(f"Value '{session}' at 'roleSessionName' failed to satisfy constraint: Member must "
                            r"satisfy regular expression pattern: [\w+=,.@-]*")
        token = params.get("WebIdentityToken", "")
        if not 4 <= len(token) <= 20000:
            problems.append("Value at 'webIdentityToken' failed to satisfy constraint: Member must have length "
                            + ("less than or equal to 20000" if len(token) > 20000 else "greater than or equal to 4"))
        duration = params.get("DurationSeconds")
        if duration is not None and (not duration.isdigit() or not 900 <= int(duration) <= 43200):
            problems.append(f"Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have "
                            "value between 900 and 43200")
        if len(params.get("RoleArn", "")) < 20:
            problems.append("Value at 'roleArn' failed to satisfy constraint: Member must have length greater than "
                            "or equal to 20")
        if problems:
            count = len(problems)
            raise StsError("ValidationError", f"{count} validation error{'s' if count > 1 else ''} detected: "
                                              + "; ".join(problems))

    def _provider(self, account: str, iss: str) -> dict[str, Any] | None:
        key = provider_key(iss)
        iam = self._iam_of(account)
        for entry in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
            arn = entry["Arn"]
            if arn.split(":")[4] != account:
                continue
            try:
                got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
            except ClientError:
                continue
            url = got.get("Url") or arn.split(":oidc-provider/", 1)[-1]
            # IAM matches the token's iss exactly (host case aside); moto returns the URL without https://
            if provider_key(url if "://" in url else "https://" + url) == key:
                return {"arn": arn, "key": key, "client_ids": list(got.get("ClientIDList", [])),
                        "thumbprints": [t.lower() for t in got.get("ThumbprintList", [])]}
        return None

    def _jwks(self, iss: str, thumbprints: list[str]) -> dict[str, Any]:
        inspector = IssuerInspector(IssuerInspection(timeout_seconds=self.idp_timeout, public_ca_bundle=self.ca_bundle,
                                                     allow_private_addresses=True))  # the local issuer: loopback
        discovery = self._fetch(inspector, discovery_url_for(iss), thumbprints)
        jwks_uri = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
        if not isinstance(jwks_uri, str) or not jwks_uri.lower().startswith("https://"):
            raise StsError("InvalidIdentityToken", MSG_NO_KEY)
        jwks = self._fetch(inspector, jwks_uri, thumbprints)
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise StsError("InvalidIdentityToken", MSG_NO_KEY)
        return jwks

    def _fetch(self, inspector: IssuerInspector, url: str, thumbprints: list[str]) -> Any:
        parts = urlsplit(url)
        tls = inspector.host_tls((parts.hostname or "").lower(), parts.port or 443)
        if tls.error:
            if "timed out" in tls.error:
                raise StsError("IDPCommunicationError", MSG_IDP_COMMUNICATION)
            raise StsError("InvalidIdentityToken", MSG_NO_KEY)
        verify: str | bool = self.ca_bundle
        if not tls.publicly_trusted:
            # AWS uses the thumbprints only for chains its CA library does not trust (FACTS.md).
            if not tls.top or tls.top.sha1 not in thumbprints:
                raise StsError("InvalidIdentityToken", MSG_THUMBPRINT)
            verify = False
        try:
            import warnings

            from urllib3.exceptions import InsecureRequestWarning

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InsecureRequestWarning)
                resp = requests.get(url, timeout=(self.idp_timeout, self.idp_timeout), verify=verify,
                                    headers={"User-Agent": "sts-stand-in"})
        except requests.exceptions.Timeout:
            raise StsError("IDPCommunicationError", MSG_IDP_COMMUNICATION) from None
        except requests.exceptions.RequestException:
            raise StsError("InvalidIdentityToken", MSG_NO_KEY) from None
        if resp.status_code != 200 or len(resp.content) > 1_048_576:
            raise StsError("InvalidIdentityToken", MSG_NO_KEY)
        try:
            return resp.json()
        except ValueError:
            raise StsError("InvalidIdentityToken", MSG_NO_KEY) from None

    @staticmethod
    def _verify_signature(token: str, header: dict[str, Any], jwks: dict[str, Any]) -> None:
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise StsError("InvalidIdentityToken", MSG_INVALID_TOKEN)
        keys = [k for k in jwks["keys"] if isinstance(k, dict)]
        kid = header.get("kid")
        candidates = [k for k in keys if k.get("kid") == kid] if kid is not None else keys[:1] if len(keys) == 1 else []
        for key in candidates:
            try:
                jwt.decode(token, jwt.PyJWK(key, algorithm=alg).key, algorithms=[alg],
                           options={"verify_signature": True, "verify_exp": False, "verify_nbf": False,
                                    "verify_iat": False, "verify_aud": False, "verify_iss": False})
                return
            except Exception:  # noqa: BLE001 - any failure is "could not be validated"
                continue
        raise StsError("InvalidIdentityToken", MSG_INVALID_TOKEN)

    def _trust(self, role_arn: str, provider: dict[str, Any], claims: dict[str, Any], session_name: str,
               source_ip: str, user_agent: str) -> None:
        name = role_arn.rsplit("/", 1)[-1]
        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
        try:
            role = self._iam_of(account).get_role(RoleName=name)["Role"]
        except ClientError:
            raise StsError("AccessDenied", MSG_ACCESS_DENIED) from None
        if role["Arn"] != role_arn:
            raise StsError("AccessDenied", MSG_ACCESS_DENIED)
        policy = parse_policy(role.get("AssumeRolePolicyDocument"), source=f"{name} trust policy",
                              require_principal=True)
        request = web_identity_request(provider["arn"], provider["key"], claims, session_name)
        now = dt.datetime.now(dt.timezone.utc)
        keys = dict(request.keys) | {
            "aws:SourceIp": source_ip,
            "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:EpochTime": str(int(now.timestamp())),
            "aws:SecureTransport": "true",
            "aws:RequestedRegion": self.region,
            "aws:UserAgent": user_agent,
        }
        decision = evaluate([policy], dataclasses.replace(request, resource=role_arn, keys=keys), assume="deny")
        if not decision.allowed:
            raise StsError("AccessDenied", MSG_ACCESS_DENIED)

    def _credentials(self, forward, params: dict[str, str], *, claims: dict[str, Any],
                     provider: dict[str, Any] | None) -> tuple[int, bytes]:
        status, _headers, body = forward()
        text = body.decode("utf-8", "replace")
        if status != 200:
            return status, body
        match = re.search(r"<AccessKeyId>([^<]+)</AccessKeyId>", text)
        if match:
            with self._lock:
                self.issued_keys.add(match.group(1))
        # AWS's answer also carries these (moto leaves them out), and PackedPolicySize only with a session policy.
        audience = (_values(claims.get("azp")) or _values(claims.get("aud")) or [""])[0]
        extra = (f"<SubjectFromWebIdentityToken>{escape(str(claims.get('sub', '')))}</SubjectFromWebIdentityToken>"
                 f"<Audience>{escape(audience)}</Audience>")
        text = text.replace("<AssumeRoleWithWebIdentityResult>", "<AssumeRoleWithWebIdentityResult>" + extra, 1)
        text = text.replace("</AssumeRoleWithWebIdentityResult>",
                            f"<Provider>{escape(str(claims.get('iss', '')))}</Provider></AssumeRoleWithWebIdentityResult>", 1)
        if "Policy" not in params:
            text = re.sub(r"<PackedPolicySize>\d+</PackedPolicySize>", "", text)
        return status, text.encode()


def _unverified(token: str) -> dict[str, Any] | None:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except Exception:  # noqa: BLE001
        return None
    return claims if isinstance(claims, dict) else None


def _unverified_header(token: str) -> dict[str, Any] | None:
    try:
        header = jwt.get_unverified_header(token)
    except Exception:  # noqa: BLE001
        return None
    return header if isinstance(header, dict) else None


def _values(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]
