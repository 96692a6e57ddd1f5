"""`connector-health explain`: why STS admits or refuses one caller for one role, stage by stage.

The role's trust policy comes from the account (`--role NAME|ARN`: the same read as a scan, so the providers'
ClientIDLists are known too) or from a file (`--policy FILE`: a policy document or `aws iam get-role` output;
offline, `--provider-audience` says what the provider's ClientIDList holds). The caller is:

- `--token JWT` (or `@FILE`, or `-` for standard input): decoded and checked locally as pre-flight checks a real
  token (`exchange.preflight`): provider for its `iss`, audience (`azp` when present) against the ClientIDList,
  signature against the issuer's live JWKS when it can be fetched (only for an issuer the policy or the account
  trusts), expiry with AWS's 5 minutes of skew, then every trust condition;
- `--claims JSON` (or `@FILE`): the same without signature (and expiry only when `exp` is given);
- `--cloudtrail-event FILE`: a record as CloudTrail stores it, the console's event record, `lookup-events`
  output or a log file: the stage STS recorded, and for AccessDenied the refusing statement and condition
  (`diagnosis`); a successful call is checked against the policy as it is now.

The token is never printed, logged or put in an error message: it lives in a `Secret` and library logs are
scrubbed while it is in use (`exchange.redact`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..collect.aws import AccountSnapshot, OidcProvider, SnapshotCollector, provider_key
from ..collect.issuer import IssuerInspector
from ..config import Config, IssuerInspection
from ..exchange.preflight import (audience_failure, claim_summary, decode_token, expiry_failure, signature_failure,
                                  token_context_keys)
from ..exchange.redact import Secret, protected
from ..exchange.runner import issuer_jwks
from ..findings import Finding, Severity
from ..policy import UNKNOWN, PolicyDocument, parse_policy
from .diagnosis import STAGES, AccountView, ExpectedCaller, diagnose, trust_diagnosis
from .events import WebIdentityCall, display, iter_records, parse_record
from .refusal import TrustExplanation, explain_trust, web_identity_context

MAX_INPUT_BYTES = 5_000_000


class ExplainInputError(Exception):
    """Input explain cannot use (one line, exit status 2)."""


@dataclass
class Stage:
    name: str
    status: str  # pass | fail | unknown | skipped | not-reached
    detail: str


@dataclass
class Explanation:
    kind: str  # token | claims | event
    subject: str
    role_arn: str
    caller: dict[str, Any]
    stages: list[Stage]
    trust: TrustExplanation | None = None
    fix: str = ""
    event: dict[str, Any] = field(default_factory=dict)

    @property
    def refusal(self) -> Stage | None:
        return next((s for s in self.stages if s.status == "fail"), None)

    @property
    def verdict(self) -> str:
        if self.refusal:
            return "refused"
        return "undecided" if any(s.status == "unknown" for s in self.stages) else "admitted"

    def as_dict(self) -> dict[str, Any]:
        refusal = self.refusal
        out: dict[str, Any] = {
            "kind": self.kind, "subject": self.subject, "role_arn": display(self.role_arn), "caller": self.caller,
            "verdict": self.verdict, "stages": [dataclasses.asdict(s) for s in self.stages],
            "first_refusal": {"stage": refusal.name, "detail": refusal.detail} if refusal else None, "fix": self.fix,
        }
        if self.trust is not None and self.trust.first is not None:
            out["first_refusing_condition"] = self.trust.first.as_dict()
        if self.event:
            out["event"] = self.event
        return out

    def finding(self, account: str) -> Finding | None:
        from ..checks import get_check

        refusal = self.refusal
        if refusal is None:
            return None
        live_failure = self.kind == "event" and self.event.get("error_code")
        check = get_check("EXCHANGE_LIVE_FAILURES" if live_failure else "EXCHANGE_PREFLIGHT_FAILED")
        details: dict[str, Any] = {"stage": refusal.name, "caller": self.caller}
        if self.trust is not None and self.trust.first is not None:
            details["condition"] = self.trust.first.as_dict()
        details |= {"event": self.event} if self.event else {}
        return Finding(check_id=check.id, severity=Severity.HIGH, connector="explain", account=account,
                       resource_arn=display(self.role_arn) or "", message=f"{self.subject}: refused at stage '{refusal.name}': "
                       f"{refusal.detail}.", remediation=self.fix or check.remediation, title=check.title,
                       details=details)


# ---------------------------------------------------------------------------------------------------- inputs

def read_text(value: str, what: str) -> str:
    """`-` reads standard input, `@FILE` a file, anything else is the value itself."""
    if value == "-":
        text = sys.stdin.read(MAX_INPUT_BYTES + 1)
    elif value.startswith("@"):
        text = read_file(Path(value[1:]), what)
    else:
        text = value
    if len(text) > MAX_INPUT_BYTES:
        raise ExplainInputError(f"{what}: larger than {MAX_INPUT_BYTES} bytes")
    return text.strip()


def read_file(path: Path, what: str) -> str:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise ExplainInputError(f"{what} {path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_INPUT_BYTES:
        raise ExplainInputError(f"{what} {path}: larger than {MAX_INPUT_BYTES} bytes")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExplainInputError(f"{what} {path}: not UTF-8 text") from None


def read_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ExplainInputError(f"{what}: invalid JSON ({exc.msg} at line {exc.lineno})") from None


@dataclass
class PolicySource:
    """Where trust policies and providers come from: the account (a snapshot) or one policy file."""

    snapshot: AccountSnapshot | None = None
    document: PolicyDocument | None = None
    file_role_arn: str = ""
    provider_audiences: list[str] = field(default_factory=list)
    label: str = ""  # the policy file, standing for its role

    @property
    def account(self) -> str:
        if self.snapshot is not None:
            return self.snapshot.account_id
        arn = self.file_role_arn or next(iter(self.federated()), "")
        return arn.split(":")[4] if arn.startswith("arn:") and arn.count(":") >= 5 else ""

    def federated(self) -> list[str]:
        if self.document is None:
            return []
        return [v for s in self.document.statements for v in s.federated]

    def role_arn(self, role: str | None) -> str:
        """The ARN of `role` (name or ARN) in the account; offline, the file's role (`get-role` output) or the file."""
        if self.snapshot is not None and role:
            found = self.snapshot.role(role.rsplit("/", 1)[-1])
            if found is None or (role.startswith("arn:") and found.arn != role):
                raise ExplainInputError(f"--role {role}: no such role in account {self.snapshot.account_id}")
            return found.arn
        return role or self.file_role_arn or self.label

    def view(self) -> AccountView:
        if self.snapshot is not None:
            return AccountView.of_snapshot(self.snapshot)
        providers = None
        if self.provider_audiences:
            providers = [OidcProvider(arn=arn, url="https://" + arn.split(":oidc-provider/", 1)[1],
                                      client_ids=list(self.provider_audiences), thumbprints=[])
                         for arn in self.federated() if ":oidc-provider/" in arn]
        document = self.document
        return AccountView(providers=providers, trust_of=lambda arn: document, account=self.account)


def policy_from_file(path: str) -> tuple[PolicyDocument, str]:
    from ..trust.lint import LintInputError, read_policy_file

    try:
        text, resource, _account = read_policy_file(Path(path))
    except LintInputError as exc:
        raise ExplainInputError(str(exc)) from None
    document = parse_policy(text, source=resource, require_principal=True)
    if not document.valid or not document.statements:
        reason = document.problems[0].message if document.problems else "no readable statement"
        raise ExplainInputError(f"{path}: not a policy document ({reason})")
    return document, resource if resource.startswith("arn:") else ""


def policy_from_account(session: Any, region: str) -> PolicySource:
    """The account as a scan reads it (roles with their trust policies, OIDC providers); any failed read stops here."""
    snapshot = SnapshotCollector(session, region).collect()
    if snapshot.read_errors or not snapshot.roles_complete:
        first = snapshot.read_errors[0] if snapshot.read_errors else None
        why = f"{first.action} failed ({first.code}: {first.message})" if first else "the roles could not be read"
        raise ExplainInputError(f"cannot read the account: {why[:300]}")
    return PolicySource(snapshot=snapshot)


# ---------------------------------------------------------------------------------------------------- stages

def _provider_stage(view: AccountView, key: str | None, iss: Any) -> tuple[Stage, OidcProvider | None]:
    if not isinstance(iss, str) or not iss:
        return Stage("provider", "fail", "the caller has no `iss` claim: STS cannot find a provider"), None
    if view.providers is None:
        return Stage("provider", "unknown", f"offline: whether an IAM OIDC provider for {iss} exists is not known "
                                            "(pass --role to read the account, or --provider-audience)"), None
    provider = view.provider(key)
    if provider is None:
        return Stage("provider", "fail", f"no IAM OIDC provider exists for {iss} (STS: \"No OpenIDConnect provider "
                                         f"found in your account for {iss}\")"), None
    return Stage("provider", "pass", f"IAM OIDC provider {provider.arn}"), provider


def _audience_stage(claims: dict[str, Any], provider: OidcProvider | None) -> Stage:
    if provider is None:
        return Stage("audience", "unknown", "the provider's ClientIDList is not known")
    refused = audience_failure(claims, provider)
    if refused:
        return Stage("audience", "fail", f"{refused} (STS: \"Incorrect token audience\")")
    return Stage("audience", "pass", "the audience STS compares is in the provider's ClientIDList")


def _signature_stage(token: Secret, header: dict[str, Any], claims: dict[str, Any], trusted: set[str],
                     provider: OidcProvider | None, settings: IssuerInspection) -> Stage:
    iss = claims.get("iss")
    key = provider_key(iss) if isinstance(iss, str) and iss else None
    if key not in trusted:
        return Stage("signature", "unknown", "not checked: the token's issuer is not one the policy or the account "
                                             "trusts, so its keys are not fetched")
    inspector = IssuerInspector(settings)
    report = inspector.inspect(str(iss), set(provider.thumbprints) if provider else set())
    document, error = issuer_jwks(inspector, report, provider)
    if document is None:
        return Stage("signature", "unknown", f"not checked: the issuer's JWKS cannot be fetched ({error})")
    refused = signature_failure(token.reveal(), header, document)
    if refused:
        return Stage("signature", "fail", refused)
    return Stage("signature", "pass", f"verified with the issuer's key {header.get('kid')!r}")


def _provider_arn(policy: PolicyDocument, view: AccountView, iss_key: str | None) -> str:
    """The provider's ARN: the account's, else the one the policy names for this issuer, else as IAM would name it."""
    provider = view.provider(iss_key)
    if provider is not None:
        return provider.arn
    suffix = f":oidc-provider/{iss_key}"
    named = [v for s in policy.statements for v in s.federated if v.endswith(suffix)]
    return named[0] if named else f"arn:aws:iam::{view.account or '111122223333'}{suffix if iss_key else ':oidc-provider/?'}"


def _trust_stage(policy: PolicyDocument | None, view: AccountView, role_arn: str, iss_key: str | None,
                 claims: dict[str, Any], session_name: str | None, region: str,
                 now: float) -> tuple[Stage, TrustExplanation | None, str]:
    if policy is None:
        return Stage("trust", "fail", f"the role {role_arn} does not exist"), None, \
            "Recreate the role or point the caller at the right one."
    provider_arn = _provider_arn(policy, view, iss_key)
    known = token_context_keys(region, now)
    if session_name is None:
        known["sts:RoleSessionName"] = UNKNOWN
    request = web_identity_context(policy, provider_arn=provider_arn, issuer_key=iss_key or "", claims=claims,
                                   session_name=session_name, role_arn=role_arn, known=known)
    trust = explain_trust(policy, request)
    reason = trust.reason(provider_arn, giver="the caller")
    if trust.verdict == "admitted":
        return Stage("trust", "pass", reason), trust, ""
    if trust.verdict == "undecided":
        hint = " (pass --session-name)" if "sts:RoleSessionName" in trust.undecided_keys else ""
        return Stage("trust", "unknown", reason + hint), trust, ""
    first = trust.first
    fix = (f"Change {first.operator} {first.key} in {first.statement} of the trust policy to admit this caller, or "
           "make the caller present what the policy names." if first else
           "Align the trust policy's statements with this caller (provider, action, conditions).")
    return Stage("trust", "fail", reason), trust, fix


def explain_token(token: Secret, source: PolicySource, role: str | None, *, session_name: str | None,
                  settings: IssuerInspection, region: str, now: float, claims_only: dict[str, Any] | None = None,
                  ) -> Explanation:
    """Every stage for a token (`claims_only`: for claims given by hand, which have no header or signature)."""
    role_arn = source.role_arn(role)
    view = source.view()
    stages: list[Stage] = []
    if claims_only is None:
        decoded = decode_token(token.reveal())
        if isinstance(decoded, str):
            return Explanation("token", f"token for {role_arn}", role_arn, {}, [Stage("decode", "fail", decoded)],
                               fix="Pass the token itself (three base64url parts separated by dots).")
        header, claims = decoded
        stages.append(Stage("decode", "pass", f"a JWT signed with {header.get('alg')!r}"))
        caller = claim_summary(claims, header)
    else:
        header, claims = {}, claims_only
        caller = claim_summary(claims, {})
    caller = {k: display(v) if isinstance(v, str) else v for k, v in caller.items()}
    if session_name is not None:
        caller["session_name"] = display(session_name)
    iss = claims.get("iss")
    iss_key = provider_key(iss) if isinstance(iss, str) and iss else None
    stage, provider = _provider_stage(view, iss_key, iss)
    stages += [stage, _audience_stage(claims, provider)]
    trusted = {provider_key(v.split(":oidc-provider/", 1)[1]) for v in source.federated() if ":oidc-provider/" in v}
    trusted |= {p.key for p in (view.providers or [])}
    if claims_only is None:
        stages.append(_signature_stage(token, header, claims, trusted, provider, settings))
        refused = expiry_failure(claims, now)
        stages.append(Stage("expiry", "fail" if refused else "pass", refused or "within `exp` (+5 minutes of skew)"))
    else:
        stages.append(Stage("signature", "skipped", "claims given without a token"))
        refused = expiry_failure(claims, now) if "exp" in claims else None
        stages.append(Stage("expiry", "fail" if refused else ("pass" if "exp" in claims else "skipped"),
                            refused or ("within `exp` (+5 minutes of skew)" if "exp" in claims else "no `exp` given")))
    policy = view.trust_of(role_arn) if view.trust_of else None
    trust_stage, trust, fix = _trust_stage(policy, view, role_arn, iss_key, claims, session_name, region, now)
    stages.append(trust_stage)
    first = next((s for s in stages if s.status == "fail"), None)
    if first is not None and first.name != "trust":
        fix = {
            "provider": "Create the IAM OIDC provider for the token's issuer (URL exactly as `iss`).",
            "audience": "Request the token for an audience the provider's ClientIDList holds, or add the audience.",
            "signature": "The issuer's keys do not verify the token: get a fresh token from the right issuer.",
            "expiry": "Get a fresh token (STS allows 5 minutes of clock skew past `exp`).",
            "decode": "Pass the token itself.",
        }.get(first.name, fix)
    kind = "token" if claims_only is None else "claims"
    return Explanation(kind, f"{kind} for {role_arn}", role_arn, caller, stages, trust, fix)


def explain_event(call: WebIdentityCall, source: PolicySource, role: str | None,
                  expected: ExpectedCaller | None) -> Explanation:
    """The stages STS went through for a recorded call, and for a success whether the policy still admits it."""
    # The recorded role, unless --role names another (the policy file stands for the recorded role).
    role_arn = source.role_arn(role) if role else (call.role_arn or source.role_arn(None))
    if role_arn != call.role_arn:
        call = dataclasses.replace(call, role_arn=role_arn)
    view = source.view()
    event = {"event_id": display(call.event_id), "time": call.time.strftime("%Y-%m-%dT%H:%M:%SZ") if call.time else None,
             "region": display(call.region), "error_code": display(call.error_code),
             "error_message": display(call.error_message, 300)}
    subject = f"CloudTrail event {event['event_id'] or '?'} ({event['time'] or 'no time'}) for {display(role_arn)}"
    if call.ok:
        stages = [Stage(name, "pass", "as recorded: STS issued credentials") for name in STAGES[:-1]]
        now = trust_diagnosis(call, view, expected)
        verdict = now.trust.verdict if now.trust is not None else ("refused" if now.cause == "role-missing" else "")
        status = {"admitted": "pass", "refused": "fail"}.get(verdict, "unknown")
        stages.append(Stage("trust", status, ("as recorded: admitted; the policy as it is now: " + now.summary)
                            if status != "fail" else f"admitted then, but the policy as it is now refuses the same "
                                                     f"caller: {now.summary}"))
        return Explanation("event", subject, role_arn, call.caller(), stages, now.trust,
                           now.fix if status == "fail" else "", event)
    diagnosis = diagnose(call, view, expected)
    detail = diagnosis.summary
    if diagnosis.trust is not None and diagnosis.trust.verdict != "refused":
        detail = f"STS refused it then (AccessDenied); the policy as it is now: {detail}"
    if diagnosis.stage not in STAGES:
        stages = [Stage("sts", "fail", detail)]
    else:
        failed = STAGES.index(diagnosis.stage)
        stages = [Stage(name, "pass", "as recorded: STS went past this stage") for name in STAGES[:failed]]
        stages.append(Stage(diagnosis.stage, "fail", detail))
        stages += [Stage(name, "not-reached", "STS stops at the first refusal") for name in STAGES[failed + 1:]]
    return Explanation("event", subject, role_arn, call.caller(), stages, diagnosis.trust, diagnosis.fix, event)


def expected_callers(config: Config | None) -> dict[str, ExpectedCaller]:
    if config is None:
        return {}
    return {provider_key(c.issuer): ExpectedCaller.of_connector(c) for c in config.resolved_connectors()
            if c.issuer and "{" not in c.issuer}


def explain_events(data: Any, source: PolicySource, role: str | None, config: Config | None) -> list[Explanation]:
    calls = [c for c in (parse_record(r) for r in iter_records(data)) if c is not None]
    if not calls:
        raise ExplainInputError("the file holds no AssumeRoleWithWebIdentity record (a CloudTrail event, the "
                                "console's event record, lookup-events output or a log file)")
    callers = expected_callers(config)
    return [explain_event(call, source, role, callers.get(call.provider_key or "")) for call in calls]


def run_explain(*, role: str | None, policy_file: str | None, token: Secret | None, claims: dict[str, Any] | None,
                event_data: Any, session_name: str | None, provider_audiences: list[str], config: Config | None,
                session: Any = None, now: float | None = None) -> tuple[list[Explanation], str]:
    """The explanations and the account they concern."""
    now = now if now is not None else dt.datetime.now(dt.timezone.utc).timestamp()
    settings = config.issuer_inspection if config else IssuerInspection()
    region = config.region if config else "us-east-1"
    if policy_file:
        document, file_role = policy_from_file(policy_file)
        source = PolicySource(document=document, file_role_arn=file_role, provider_audiences=provider_audiences,
                              label=policy_file)
    else:
        import boto3

        source = policy_from_account(session or boto3.session.Session(), region)
    if event_data is not None:
        return explain_events(event_data, source, role, config), source.account
    if role is None and policy_file is None:
        raise ExplainInputError("--role NAME|ARN or --policy FILE is needed with --token or --claims")
    with protected(token):
        explanation = explain_token(token or Secret(""), source, role, session_name=session_name, settings=settings,
                                    region=region, now=now, claims_only=claims)
    return [explanation], source.account


# ---------------------------------------------------------------------------------------------------- output

STATUS_STYLE = {"pass": "green", "fail": "bold red", "unknown": "yellow", "skipped": "dim", "not-reached": "dim"}


def render_explanations(explanations: list[Explanation], console) -> None:
    from rich.table import Table
    from rich.text import Text

    for item in explanations:
        console.print(Text(f"Explaining {item.subject}", style="bold"))
        shown = ", ".join(f"{k}={v}" for k, v in item.caller.items() if v is not None)
        if shown:
            console.print(Text(f"caller: {shown}", style="dim"))
        table = Table(show_lines=False, header_style="bold", expand=False)
        table.add_column("Stage", no_wrap=True)
        table.add_column("Result", no_wrap=True)
        table.add_column("Detail", overflow="fold")
        for stage in item.stages:
            table.add_row(stage.name, Text(stage.status.upper() if stage.status == "fail" else stage.status,
                                           style=STATUS_STYLE.get(stage.status, "")), stage.detail)
        console.print(table)
        refusal = item.refusal
        verdict = f"Verdict: {item.verdict}" + (f" at stage '{refusal.name}'" if refusal else "")
        console.print(Text(verdict, style="bold red" if refusal else "bold green" if item.verdict == "admitted"
                           else "bold yellow"))
        if item.trust is not None and item.trust.first is not None and refusal and refusal.name == "trust":
            first = item.trust.first
            console.print(f"First refusing condition: {first.statement}: {first.describe('the caller')}")
        if item.fix:
            console.print(Text("Fix: ", style="bold") + Text(item.fix))
        console.print()
