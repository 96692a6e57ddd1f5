"""`connector-health lint-trust FILE`: offline analysis of one trust policy (for CI pipelines and reviews).

`lint_policy` is the entry point for one role's policy (a document, its JSON text, or `aws iam get-role` output)
with what is known about it: the issuer, the provider's audiences (ClientIDList), the legitimate caller and the
preset. `lint_trust` reads a file and calls it. Template scanners call `lint_policy` once per role.

Without --preset or --issuer the issuers come from the policy's federated principals (IAM OIDC providers and AWS's
own federations: Cognito identity pools, Google, Facebook, Login with Amazon), and well-known issuers get their
grammar. Never reports TRUST_ROLE_MISSING or TRUST_DRIFT (CHECKS.md).
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..checks import get_check
from ..findings import Finding, sort_findings
from ..iac.discover import InputError, read_text
from ..policy import PolicyDocument, parse_policy
from ..policy.document import DuplicateKey
from ..presets import PRESET_NAMES, load_preset
from .analysis import BUILTIN_FEDERATIONS, ExpectedPrincipal, TrustIssue, TrustTarget, analyze_trust
from .profiles import (audience_from_caller, legit_identity, normalise_caller_key, profile_for_issuer,
                       profile_for_preset, unknown_caller_keys, unparsable_caller)

PLACEHOLDER_ACCOUNT = "111122223333"


class LintInputError(Exception):
    """The input is not something lint-trust can analyse (one line, exit status 2)."""


def _load(text: str, where: str) -> tuple[str, str, str]:
    """(policy text, resource name, account) from policy JSON or `aws iam get-role` output."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise LintInputError(f"{where}: invalid JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("Role"), dict):
        role = data["Role"]
        doc = role.get("AssumeRolePolicyDocument")
        arn = str(role.get("Arn") or where)
        account = arn.split(":")[4] if arn.startswith("arn:") and arn.count(":") >= 5 else ""
        if isinstance(doc, str):
            doc_text = urllib.parse.unquote(doc) if doc[:3].upper() == "%7B" else doc
        elif isinstance(doc, dict):
            doc_text = json.dumps(doc)
        else:
            raise LintInputError(f"{where}: Role.AssumeRolePolicyDocument is missing or not a policy")
        return doc_text, arn, account
    if not isinstance(data, dict) or "Statement" not in data:
        raise LintInputError(f"{where}: not a policy document (a JSON object with a Statement) nor `aws iam get-role` output")
    return text, where, ""


def _read(path: Path) -> str:
    try:
        return read_text(path)
    except InputError as exc:
        raise LintInputError(str(exc)) from None


def read_policy_file(path: Path) -> tuple[str, str, str]:
    """(policy text, resource name, account) of a trust-policy file or `aws iam get-role` output; LintInputError
    with one line otherwise. Shared by lint-trust and explain."""
    return _load(_read(path), str(path))


def _federated_values(document: PolicyDocument) -> list[str]:
    return [v for s in document.all_statements for v in s.federated]


def issuer_key_of(value: str) -> str | None:
    """The condition-key prefix of a Federated principal that is a web-identity issuer, else None (SAML, junk)."""
    m = re.match(r"^arn:aws[a-z-]*:iam::[^:]*:oidc-provider/(.+)$", value)  # the account may be a placeholder
    if m:
        return m[1]
    return value if value in BUILTIN_FEDERATIONS else None


def caller_values(pairs: Iterable[str] | Mapping[str, str] | None) -> dict[str, str]:
    """`--caller KEY=VALUE` options (or a mapping) as a dict."""
    if pairs is None:
        return {}
    if isinstance(pairs, Mapping):
        return {str(k).strip(): str(v).strip() for k, v in pairs.items()}
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise LintInputError(f"--caller {pair!r}: write KEY=VALUE, e.g. sub=repo:OWNER/REPO:ref:refs/heads/main")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _preset_role_audience(preset_name: str | None, role_name: str | None) -> str | None:
    """The audience the preset gives the role of that name (or alias), e.g. a Defender plan role's."""
    if not role_name or not preset_name or preset_name not in PRESET_NAMES:
        return None
    roles = [r for plan in load_preset(preset_name).plans.values() for r in plan]
    return next((r.audience for r in roles if role_name in (r.name, *r.aliases) and r.audience), None)


def _preset_expected_principals(preset_name: str | None) -> tuple[ExpectedPrincipal, ...]:
    if not preset_name or preset_name not in PRESET_NAMES:
        return ()
    preset = load_preset(preset_name)
    return tuple(ExpectedPrincipal(p.principal, p.external_id)
                 for roles in preset.plans.values() for role in roles for p in role.expected_principals)


def lint_policy(policy: Any, *, preset: str | None = None, issuer: str | None = None,
                provider_audiences: Iterable[str] | None = None, caller: Iterable[str] | Mapping[str, str] | None = None,
                resource: str = "trust policy", account: str = "",
                provider_audiences_by_issuer: Mapping[str, Iterable[str]] | None = None,
                duplicate_keys: Iterable[DuplicateKey] | None = None, role_name: str | None = None) -> list[Finding]:
    """Findings for one trust policy (dict or JSON text). `provider_audiences` is the provider's ClientIDList
    (None: unknown); `provider_audiences_by_issuer` gives it per issuer key where a template declares the provider;
    `caller` holds the legitimate caller's values (KEY=VALUE strings or a mapping). `duplicate_keys`: repeated keys a
    template loader saw (a dict cannot hold them; JSON text is searched for them by the parser). `role_name`: the
    role's name where a template or plan gives it; a role the preset names (or aliases) has the preset's audience."""
    if preset is not None and preset not in PRESET_NAMES:
        raise LintInputError(f"--preset {preset!r}: unknown preset; use one of {', '.join(PRESET_NAMES)}")
    document = parse_policy(policy, source=resource, require_principal=True)
    if duplicate_keys:
        document = dataclasses.replace(document, duplicate_keys=tuple(duplicate_keys))
    if document.valid and not document.statements and not any(isinstance(s.raw, dict) for s in document.invalid_statements):
        raise LintInputError(f"{resource}: not a policy document (no readable statement)")
    if not document.valid:
        reason = document.problems[0].message if document.problems else "no statements"
        raise LintInputError(f"{resource}: not a policy document ({reason})")
    callers = caller_values(caller)
    provider_list = tuple(dict.fromkeys(a for a in provider_audiences)) if provider_audiences is not None else None

    federated = _federated_values(document)
    preset_obj = load_preset(preset) if preset else None
    if issuer:
        keys = [issuer.strip().removeprefix("https://")]
    elif preset_obj and preset_obj.issuer and "{" not in preset_obj.issuer:
        keys = [preset_obj.issuer.removeprefix("https://")]
    else:
        keys = [k for k in (issuer_key_of(v) for v in federated) if k]
    keys = list(dict.fromkeys(keys))
    if not keys and any("*" in v or "?" in v for v in federated):
        keys = []  # only a wildcard Federated principal: a document IAM rejects (TRUST_INVALID_DOCUMENT)
    elif not keys:
        raise LintInputError(f"{resource}: the policy names no OIDC provider; pass --issuer URL (and --preset NAME)")

    any_account = next((v.split(":")[4] for v in federated if v.startswith("arn:") and v.count(":") >= 5), None)
    targets: list[tuple[str, TrustTarget]] = []
    for key in keys:
        detected, profile = profile_for_issuer(key)
        preset_name = preset or detected
        if preset:
            profile = profile_for_preset(preset, key)
        unknown = unknown_caller_keys(profile, callers)
        if unknown:
            raise LintInputError(f"--caller {unknown[0]!r}: not a key of the {profile.kind} grammar; known keys: "
                                 f"{', '.join(profile.caller_keys)}")
        unreadable = unparsable_caller(profile, callers)
        if unreadable:
            raise LintInputError(f"--caller {unreadable}")
        arn = next((v for v in federated if issuer_key_of(v) == key),
                   key if key in BUILTIN_FEDERATIONS else
                   f"arn:aws:iam::{account or any_account or PLACEHOLDER_ACCOUNT}:oidc-provider/{key}")
        preset_auds = tuple(load_preset(preset_name).audiences) if preset_name in PRESET_NAMES else ()
        aud = audience_from_caller(callers) or _preset_role_audience(preset_name, role_name)
        audiences = (aud,) if aud else _named_preset_audiences(document, key, preset_auds)
        by_issuer = (provider_audiences_by_issuer or {}).get(key)
        plist = tuple(dict.fromkeys(by_issuer)) if by_issuer is not None else provider_list
        if plist is None and len(preset_auds) > 1 and preset_name in PRESET_NAMES \
                and (load_preset(preset_name).issuer or "").removeprefix("https://") == key:
            plist = preset_auds  # a provider created by the preset's template holds all of them (Defender's six)
        targets.append((preset_name, TrustTarget(
            issuer_key=key, provider_arn=arn, profile=profile, audiences=audiences, provider_audiences=plist,
            legit=legit_identity(profile, {k: v for k, v in callers.items() if normalise_caller_key(k) != "aud"}),
            expected_principals=_preset_expected_principals(preset_name),
        )))

    connector = targets[0][0] if len(targets) == 1 else (preset or "lint-trust")
    return findings_of(analyze_trust(document, [t for _, t in targets]), connector=connector, account=account,
                       resource=resource)


def findings_of(issues: Iterable[TrustIssue], *, connector: str, account: str, resource: str) -> list[Finding]:
    """Findings for the issues of one policy, each with its check's title and remediation."""
    findings: list[Finding] = []
    for issue in issues:
        check = get_check(issue.check_id)
        findings.append(Finding(
            check_id=issue.check_id, severity=issue.severity or check.default_severity, connector=connector,
            account=account, resource_arn=resource, message=issue.message, remediation=check.remediation,
            title=check.title, details=issue.details,
        ))
    return sort_findings(_dedupe(findings))


def lint_trust(path: str | Path, *, preset: str | None = None, issuer: str | None = None,
               caller: list[str] | None = None, provider_audiences: Iterable[str] | None = None) -> list[Finding]:
    """`lint-trust FILE`: a trust-policy file or `aws iam get-role` output (a UTF-8 byte-order mark is accepted)."""
    path = Path(path)
    return lint_trust_text(_read(path), str(path), preset=preset, issuer=issuer, caller=caller,
                           provider_audiences=provider_audiences)


def lint_trust_text(file_text: str, where: str, *, preset: str | None = None, issuer: str | None = None,
                    caller: list[str] | None = None, provider_audiences: Iterable[str] | None = None) -> list[Finding]:
    """`lint_trust` of a file already read (`where` names it in the findings and the one-line errors)."""
    text, resource, account = _load(file_text, where)
    return lint_policy(text, preset=preset, issuer=issuer, provider_audiences=provider_audiences, caller=caller,
                       resource=resource, account=account)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    out = []
    for f in findings:
        if (f.check_id, f.message) not in seen:
            seen.add((f.check_id, f.message))
            out.append(f)
    return out


def _named_preset_audiences(document: PolicyDocument, issuer_key: str, preset_auds: tuple[str, ...]) -> tuple[str, ...]:
    """The preset's audiences the policy names (a Defender plan role names its plan's); empty: from the policy."""
    key = f"{issuer_key}:aud".lower()
    written = {v for s in document.statements if s.is_allow for c in s.conditions
               if c.key_lc == key and not c.negated for v in c.values}
    return tuple(a for a in preset_auds if a in written)


__all__ = ["LintInputError", "caller_values", "findings_of", "issuer_key_of", "lint_policy", "lint_trust",
           "lint_trust_text"]
