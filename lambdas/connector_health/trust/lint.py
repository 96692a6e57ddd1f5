"""`connector-health lint-trust FILE`: offline analysis of one trust policy (for CI pipelines and reviews).

Input: a trust-policy document or the output of `aws iam get-role` (the document is taken from
`Role.AssumeRolePolicyDocument`, URL-decoded if needed); a UTF-8 byte-order mark is accepted. Without --preset or
--issuer the issuers come from the policy's federated principals, and well-known issuers get their profile.
Never reports TRUST_ROLE_MISSING or TRUST_DRIFT (CHECKS.md).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

from ..checks import get_check
from ..findings import Finding, sort_findings
from ..policy import parse_policy
from ..presets import PRESET_NAMES, load_preset
from .analysis import FOREIGN_AUDIENCE, TrustTarget, analyze_trust
from .profiles import PROFILES, legit_identity, profile_for_issuer

PLACEHOLDER_ACCOUNT = "111122223333"


class LintInputError(Exception):
    """The input is not something lint-trust can analyse (one line, exit status 2)."""


def _read(path: Path) -> tuple[str, str, str]:
    """(policy text, resource name, account) from a policy file or `aws iam get-role` output."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LintInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LintInputError(f"{path}: not UTF-8 text") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise LintInputError(f"{path}: invalid JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("Role"), dict):
        role = data["Role"]
        doc = role.get("AssumeRolePolicyDocument")
        arn = str(role.get("Arn") or path)
        account = arn.split(":")[4] if arn.startswith("arn:") and arn.count(":") >= 5 else ""
        if isinstance(doc, str):
            doc_text = urllib.parse.unquote(doc) if doc[:3].upper() == "%7B" else doc
        elif isinstance(doc, dict):
            doc_text = json.dumps(doc)
        else:
            raise LintInputError(f"{path}: Role.AssumeRolePolicyDocument is missing or not a policy")
        return doc_text, arn, account
    if not isinstance(data, dict) or "Statement" not in data:
        raise LintInputError(f"{path}: not a policy document (a JSON object with a Statement) nor `aws iam get-role` output")
    return text, str(path), ""


def _federated_values(document) -> list[str]:
    return [v for s in document.all_statements for v in ((s.principals or {}).get("Federated") or ())]


def _issuer_key_of(value: str) -> str | None:
    m = re.match(r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/(.+)$", value)
    return m[1] if m else None


def _caller_values(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise LintInputError(f"--caller {pair!r}: write KEY=VALUE, e.g. sub=repo:acme/infra:ref:refs/heads/main")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def lint_trust(path: str | Path, *, preset: str | None = None, issuer: str | None = None,
               caller: list[str] | None = None) -> list[Finding]:
    path = Path(path)
    if preset is not None and preset not in PRESET_NAMES:
        raise LintInputError(f"--preset {preset!r}: unknown preset; use one of {', '.join(PRESET_NAMES)}")
    text, resource, account = _read(path)
    document = parse_policy(text, source=resource, require_principal=True)
    if document.valid and not document.statements and not any(isinstance(s.raw, dict) for s in document.invalid_statements):
        raise LintInputError(f"{path}: not a policy document (no readable statement)")
    if not document.valid:
        reason = document.problems[0].message if document.problems else "no statements"
        raise LintInputError(f"{path}: not a policy document ({reason})")
    callers = _caller_values(caller or [])

    federated = _federated_values(document)
    keys: list[str] = []
    if issuer:
        keys = [issuer.strip().removeprefix("https://")]
    elif preset and load_preset(preset).issuer and "{" not in (load_preset(preset).issuer or ""):
        keys = [load_preset(preset).issuer.removeprefix("https://")]
    else:
        keys = [k for k in (_issuer_key_of(v) for v in federated) if k]
    keys = list(dict.fromkeys(keys))
    if not keys:
        raise LintInputError(f"{path}: the policy names no OIDC provider; pass --issuer URL (and --preset NAME)")

    any_account = next((v.split(":")[4] for v in federated if v.startswith("arn:") and v.count(":") >= 5), None)
    targets = []
    for key in keys:
        preset_name, profile = (preset, PROFILES[preset]) if preset else profile_for_issuer(key)
        arn = next((v for v in federated if _issuer_key_of(v) == key),
                   f"arn:aws:iam::{account or any_account or PLACEHOLDER_ACCOUNT}:oidc-provider/{key}")
        audiences = _audiences(document, key, preset_name, callers)
        targets.append((preset_name, TrustTarget(
            issuer_key=key, provider_arn=arn, profile=profile, audiences=audiences,
            foreign_audiences=(FOREIGN_AUDIENCE,), legit=legit_identity(profile, callers),
        )))

    findings: list[Finding] = []
    all_targets = [t for _, t in targets]
    for issue in analyze_trust(document, all_targets):
        check = get_check(issue.check_id)
        findings.append(Finding(
            check_id=issue.check_id, severity=issue.severity or check.default_severity,
            connector=targets[0][0] if len(targets) == 1 else "lint-trust", account=account, resource_arn=resource,
            message=issue.message, remediation=check.remediation, title=check.title, details=issue.details,
        ))
    return sort_findings(_dedupe(findings))


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    out = []
    for f in findings:
        if (f.check_id, f.message) not in seen:
            seen.add((f.check_id, f.message))
            out.append(f)
    return out


def _audiences(document, issuer_key: str, preset_name: str, callers: dict[str, str]) -> tuple[str, ...]:
    """The legitimate audience(s): --caller aud, else the preset's that the policy names, else what it names."""
    if "aud" in callers:
        return (callers["aud"],)
    key = f"{issuer_key}:aud".lower()
    written = [v for s in document.statements if s.is_allow for c in s.conditions
               if c.key_lc == key and not c.negated for v in c.values if "*" not in v and "?" not in v]
    preset_auds = list(load_preset(preset_name).audiences) if preset_name in PRESET_NAMES else []
    both = [a for a in preset_auds if a in written]
    return tuple(dict.fromkeys(both or preset_auds or written or [FOREIGN_AUDIENCE]))


__all__ = ["LintInputError", "lint_trust"]
