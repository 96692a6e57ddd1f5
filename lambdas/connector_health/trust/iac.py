"""`lint-trust PATH...` on infrastructure as code: every role of CloudFormation templates, CDK assemblies and Terraform
plans (iac/) through `lint_policy`, each finding with where it was written.

Per role and variant:
- Values nothing can see (model.Unresolved) are taken at their worst: a condition on an unresolved value pins nothing in
  an Allow statement and a Deny statement whose condition is unresolved is left out (it may not apply); an unresolved
  action is `*`. The finding says which values were treated so, and which placeholders stood for deployer-chosen ones.
- A Federated principal that cannot be resolved (a parameter, an import) is judged as the provider its condition keys
  name (`token.actions.githubusercontent.com:sub` -> GitHub's); `--issuer` names it when the keys do not.
- A provider declared among the inputs supplies its ClientIdList as the provider's audiences (STS refuses any other),
  whatever `--provider-audience` says; `--provider-audience` is for roles whose provider is not declared there.
- `--preset` applies to roles on the preset's issuer (or, for presets without a fixed issuer, of its kind); `--caller`
  to roles whose issuer grammar knows its keys. Roles that trust no web-identity provider (service roles, the member
  stack's role that trusts the hub) are judged for what matters for any role: Principal "*", statements IAM rejects,
  repeated keys.
- A role's findings that are the same in every variant are reported once; the others name the variant
  ("when CreateProvider=false").
"""

from __future__ import annotations

import dataclasses
import json
import os
import urllib.parse
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import get_check
from ..findings import Finding, Severity, sort_findings
from ..iac.cdk import assembly_templates
from ..iac.cloudformation import Template, TemplateSet, policy_from_text, read_roles, token
from ..iac.discover import Input, InputError, collect
from ..iac.model import (PLACEHOLDER_ACCOUNT, MarkedDict, MarkedStr, Placeholder, Provider, RoleTrust, Unresolved,
                         unresolved_origins)
from ..iac.source import SourceError, line_of, load_json, plain
from ..iac.terraform import PlanError, read_plan
from ..policy import parse_policy
from ..policy.document import DuplicateKey
from ..presets import PRESET_NAMES, load_preset
from .analysis import BUILTIN_FEDERATIONS, _sentence, analyze_trust
from .lint import LintInputError, caller_values, findings_of, issuer_key_of, lint_policy, lint_trust_text
from .profiles import profile_for_issuer, profile_for_preset, unknown_caller_keys

STRUCTURAL = ("TRUST_INVALID_DOCUMENT", "TRUST_DUPLICATE_KEY", "TRUST_WILDCARD_PRINCIPAL")
NOT_LINTED = "MONITOR_CHECK_ERROR"
WEB_IDENTITY_ACTION = "sts:assumerolewithwebidentity"


@dataclass
class LintOptions:
    preset: str | None = None
    issuer: str | None = None
    caller: list[str] = field(default_factory=list)
    provider_audiences: list[str] | None = None
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass
class LintRun:
    """What one `lint-trust` run read and found."""

    findings: list[Finding]
    inputs: list[dict[str, Any]]
    roles: list[dict[str, Any]]
    skipped: list[str]

    def summary(self, paths: list[str]) -> dict[str, Any]:
        by_sev = {s.value: 0 for s in Severity}
        for f in self.findings:
            by_sev[f.severity.value] += 1
        return {"file": paths[0] if len(paths) == 1 else paths, "findings": len(self.findings),
                "by_severity": by_sev, "inputs": self.inputs, "roles": self.roles, "skipped": self.skipped}


def display_path(path: Path, base: Path | None = None) -> str:
    """A path relative to the working directory where it lies under it (what code scanning and people expect)."""
    base = (base or Path.cwd()).resolve()
    try:
        return Path(os.path.relpath(Path(path).resolve(), base)).as_posix() if Path(path).resolve().is_relative_to(base) \
            else Path(path).resolve().as_posix()
    except (OSError, ValueError):
        return str(path)


# ---------------------------------------------------------------------------------------------- entry point

def lint_paths(paths: Iterable[str | Path], options: LintOptions | None = None, *,
               skip_unrecognised: bool = False) -> LintRun:
    options = options or LintOptions()
    if options.preset is not None and options.preset not in PRESET_NAMES:
        raise LintInputError(f"--preset {options.preset!r}: unknown preset; use one of {', '.join(PRESET_NAMES)}")
    try:
        found = collect(list(paths), skip_unrecognised=skip_unrecognised)
    except InputError as exc:
        raise LintInputError(str(exc)) from None
    context = _Context(options)
    findings: list[Finding] = []
    inputs: list[dict[str, Any]] = []
    standalone = [i for i in found.inputs if i.kind == "template"]
    if standalone:
        roles, providers = read_roles(TemplateSet([Template(i.path, i.data, stack=i.path.stem) for i in standalone],
                                                  options.parameters))
        findings += context.lint_group(roles, providers)
        inputs += [_input(i.path, "cloudformation", roles) for i in standalone]
    for item in found.inputs:
        if item.kind == "assembly":
            try:
                templates = assembly_templates(item.path)
            except SourceError as exc:
                raise LintInputError(str(exc)) from None
            roles, providers = read_roles(TemplateSet(templates, options.parameters))
            findings += context.lint_group(roles, providers)
            inputs.append({"path": display_path(item.path), "kind": "cdk-assembly", "templates": len(templates),
                           "roles": len({(r.file, r.resource) for r in roles})})
        elif item.kind == "plan":
            try:
                roles, providers = read_plan(item.path, item.data)
            except PlanError as exc:
                raise LintInputError(str(exc)) from None
            findings += context.lint_group(roles, providers)
            inputs.append(_input(item.path, "terraform-plan", roles))
        elif item.kind == "policy":
            findings += context.lint_policy_file(item)
            inputs.append({"path": display_path(item.path), "kind": "trust-policy", "roles": 1})
    context.check_caller_used()
    return LintRun(sort_findings(findings), inputs, context.roles, found.skipped)


def _input(path: Path, kind: str, roles: list[RoleTrust]) -> dict[str, Any]:
    return {"path": display_path(path), "kind": kind,
            "roles": len({r.resource for r in roles if Path(r.file) == Path(path)})}


# ---------------------------------------------------------------------------------------------- one run

class _Context:
    def __init__(self, options: LintOptions) -> None:
        self.options = options
        self.callers = caller_values(options.caller)
        self.caller_applied = not self.callers
        self.roles: list[dict[str, Any]] = []

    def check_caller_used(self) -> None:
        if not self.caller_applied:
            keys = ", ".join(self.callers)
            raise LintInputError(f"--caller {keys}: no web-identity role's issuer grammar knows these keys")

    # ------------------------------------------------------------------------------------------ policy files
    def lint_policy_file(self, item: Input) -> list[Finding]:
        if item.explicit:
            # `lint-trust FILE` as before (its one-line errors included); the findings gain their location.
            findings = lint_trust_text(item.data, str(item.path), preset=self.options.preset,
                                       issuer=self.options.issuer, caller=self.options.caller,
                                       provider_audiences=self.options.provider_audiences)
            self.caller_applied = True
            tree = _policy_tree(item.data)
            role = RoleTrust(file=item.path, resource=item.path.name, resource_type="trust policy",
                             line=line_of(tree) or 1, policy=tree)
            statements = _statements(tree) if isinstance(tree, dict) else []
            for f in findings:
                f.location = _location(f, role, list(range(len(statements))), statements)
            self.roles.append({"file": display_path(item.path), "resource": item.path.name, "kind": "web-identity"})
            return findings
        tree = _policy_tree(item.data)
        role = RoleTrust(file=item.path, resource=item.path.name, resource_type="trust policy",
                         line=line_of(tree) or 1, policy=tree if isinstance(tree, dict) else
                         Unresolved("the file's trust policy cannot be read"))
        return self.lint_group([role], [])

    # ------------------------------------------------------------------------------------------ roles
    def lint_group(self, roles: list[RoleTrust], providers: list[Provider]) -> list[Finding]:
        """Every role of one template set or plan; variants of a role merged."""
        by_role: dict[tuple[str, str], list[tuple[RoleTrust, list[Finding]]]] = {}
        kinds: dict[tuple[str, str], set[str]] = {}
        issuers: dict[tuple[str, str], set[str]] = {}
        for role in roles:
            key = (str(role.file), role.resource)
            found, kind, keys = self.lint_role(role, providers)
            by_role.setdefault(key, []).append((role, found))
            kinds.setdefault(key, set()).add(kind)
            issuers.setdefault(key, set()).update(keys)
        out: list[Finding] = []
        for key, variants in by_role.items():
            role = variants[0][0]
            kind = "web-identity" if "web-identity" in kinds[key] else sorted(kinds[key])[0]
            entry = {"file": display_path(role.file), "resource": role.resource, "kind": kind,
                     "issuers": sorted(issuers[key])}
            if len(variants) > 1 or variants[0][0].variant:
                entry["variants"] = [r.variant for r, _ in variants]
            self.roles.append({k: v for k, v in entry.items() if v or k == "issuers"})
            out += _merge_variants(variants)
        return out

    def lint_role(self, role: RoleTrust, providers: list[Provider]) -> tuple[list[Finding], str, list[str]]:
        """(findings, kind, issuer keys) for one role in one variant."""
        label = display_path(role.file) + "#" + role.resource
        if not isinstance(role.policy, dict):
            origin = role.policy.origin if isinstance(role.policy, Unresolved) else "it is not a JSON object"
            why = f"{_sentence(origin)}; it was not linted" if origin.startswith("the trust policy") else \
                f"The trust policy was not linted: {origin}"
            return [_not_linted(role, label, f"Role {role.resource}: {why}.")], "not-linted", []
        worst = _WorstCase(role.policy)
        notes = [*worst.notes]
        policy = worst.policy
        federated = worst.federated()
        keys, inferred = self._issuers(role, worst, notes)
        duplicates = _duplicates(role.policy)
        if not keys:
            if federated or worst.asks_web_identity():
                notes.append("it names no OIDC provider lint-trust can identify")
            document = parse_policy(plain(policy), source=label, require_principal=True)
            if duplicates:
                document = dataclasses.replace(document, duplicate_keys=tuple(duplicates))
            issues = [i for i in analyze_trust(document, []) if i.check_id in STRUCTURAL]
            found = findings_of(issues, connector="lint-trust", account="", resource=label)
            return self._finish(found, role, worst, notes), "other", []
        by_issuer: dict[str, tuple[str, ...]] = {}
        for key in keys:
            provider = _linked(role, key, providers if key in inferred else [])
            if provider is not None:
                audiences = provider.audiences or ()
                if provider.unresolved_audiences:
                    notes.append(f"the ClientIdList of {provider.resource} holds values that could not be resolved "
                                 f"({'; '.join(provider.unresolved_audiences)}), judged as audiences another client "
                                 "could hold")
                    audiences = (*audiences, *(f"unresolved-audience-{i + 1}"
                                               for i in range(len(provider.unresolved_audiences))))
                by_issuer[key] = tuple(audiences)
            worst.documented_form(key, _profile(key, self.options.preset), by_issuer.get(key), role.placeholders,
                                  notes)
        preset = self.options.preset if self.options.preset and all(_preset_fits(self.options.preset, k)
                                                                    for k in keys) else None
        caller = self.callers if self.callers and all(
            not unknown_caller_keys(_profile(k, preset), self.callers) for k in keys) else None
        if caller:
            self.caller_applied = True
        try:
            found = lint_policy(plain(worst.policy), preset=preset, caller=caller, resource=label,
                                provider_audiences=self.options.provider_audiences,
                                provider_audiences_by_issuer=by_issuer, duplicate_keys=duplicates,
                                role_name=role.role_name or None)
        except LintInputError as exc:
            check = get_check("TRUST_INVALID_DOCUMENT")
            found = [Finding(check_id=check.id, severity=check.default_severity, connector="lint-trust", account="",
                             resource_arn=label, message=_sentence(str(exc).removeprefix(label + ": ")) + ".",
                             remediation=check.remediation, title=check.title)]
        return self._finish(found, role, worst, notes), "web-identity", keys

    def _issuers(self, role: RoleTrust, worst: "_WorstCase", notes: list[str]) -> tuple[list[str], set[str]]:
        """The issuer keys the role trusts, and those inferred: unresolvable Federated principals are rewritten to the
        provider their condition keys (or --issuer) name."""
        keys: list[str] = []
        inferred: set[str] = set()
        for stmt in worst.statements():
            principal = stmt.get("Principal")
            if not isinstance(principal, dict) or "Federated" not in principal:
                continue
            values = principal["Federated"] if isinstance(principal["Federated"], list) else [principal["Federated"]]
            rewritten = []
            for value in values:
                key = issuer_key_of(str(value)) if isinstance(value, str) and not unresolved_origins(value) else None
                if key is None and isinstance(value, str) and ":saml-provider/" in value:
                    rewritten.append(value)
                    continue
                if key is None or isinstance(value, Placeholder) and ":oidc-provider/" not in value:
                    key = self._inferred_issuer(value, stmt, notes)
                    inferred.add(key)
                    value = key if key in BUILTIN_FEDERATIONS else \
                        f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:oidc-provider/{key}"
                rewritten.append(value)
                if key not in keys:
                    keys.append(key)
            principal["Federated"] = rewritten
        return keys, inferred

    def _inferred_issuer(self, value: Any, stmt: dict[str, Any], notes: list[str]) -> str:
        origin = value.origin if isinstance(value, (Unresolved, Placeholder)) else \
            ", ".join(unresolved_origins(value)) or str(value)
        condition = stmt.get("Condition")
        named = list(dict.fromkeys(k.rsplit(":", 1)[0] for op in (condition.values() if isinstance(condition, dict) else ())
                                   if isinstance(op, dict) for k in op if isinstance(k, str) and ":" in k
                                   and "." in k.rsplit(":", 1)[0] and not unresolved_origins(k)))
        if len(named) == 1:
            notes.append(f"the Federated principal ({origin}) could not be resolved; judged as the provider its "
                         f"condition keys name ({named[0]})")
            return named[0]
        if self.options.issuer:
            key = self.options.issuer.strip().removeprefix("https://")
            notes.append(f"the Federated principal ({origin}) could not be resolved; judged as --issuer {key}")
            return key
        key = token(value if isinstance(value, Placeholder) else "unresolved-provider")
        notes.append(f"the Federated principal ({origin}) could not be resolved and its conditions name no issuer; "
                     "judged as a provider of unknown kind (pass --issuer URL to name it)")
        return key

    def _finish(self, found: list[Finding], role: RoleTrust, worst: "_WorstCase", notes: list[str]) -> list[Finding]:
        assumptions = list(dict.fromkeys([*role.assumptions, *notes]))
        for f in found:
            f.message = f"Role {role.resource}: {f.message}"
            if assumptions:
                f.message += " Judged with: " + "; ".join(assumptions) + "."
                f.details = {**f.details, "assumptions": assumptions}
            f.location = _location(f, role, worst.kept, worst.marked_statements)
        return found


# ---------------------------------------------------------------------------------------------- helpers

def _policy_tree(text: str) -> Any:
    """A policy file's document with lines (the document inside `aws iam get-role` output too)."""
    try:
        data = load_json(text, "policy")
    except SourceError:
        return None
    role = data.get("Role") if isinstance(data, dict) else None
    if isinstance(role, dict):
        doc = role.get("AssumeRolePolicyDocument")
        if isinstance(doc, str):
            decoded = urllib.parse.unquote(doc) if doc[:3].upper() == "%7B" else doc
            return policy_from_text(MarkedStr(decoded, line_of(doc)), "policy")
        return doc
    return data


def _statements(policy: Any) -> list[Any]:
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    if isinstance(statements, list):
        return list(statements)
    return [statements] if statements is not None else []


def _profile(key: str, preset: str | None):
    return profile_for_preset(preset, key) if preset and _preset_fits(preset, key) else profile_for_issuer(key)[1]


def _preset_fits(preset: str, key: str) -> bool:
    """Whether --preset speaks about a role on this issuer: the preset's own issuer, or its kind of issuer."""
    issuer = load_preset(preset).issuer or ""
    if issuer and "{" not in issuer:
        return issuer.removeprefix("https://").lower().rstrip("/") == key.lower().rstrip("/")
    detected = profile_for_issuer(key)[0]
    return detected in (preset, "generic") or preset in ("generic", "entra-app")


def _linked(role: RoleTrust, key: str, providers: list[Provider]) -> Provider | None:
    """The provider the reader linked the role to (respecting which providers exist in the variant); for a principal
    inferred from its condition keys, a provider of that issuer among `providers` (this file's first)."""
    for provider in role.providers.values():
        if provider.issuer_key == key:
            return provider
    return next((p for p in providers if p.issuer_key == key and Path(p.file) == Path(role.file)), None) or \
        next((p for p in providers if p.issuer_key == key), None)


def _not_linted(role: RoleTrust, label: str, message: str) -> Finding:
    check = get_check(NOT_LINTED)
    finding = Finding(
        check_id=NOT_LINTED, severity=check.default_severity, connector="lint-trust", account="", resource_arn=label,
        message=message, title="Trust policy not linted",
        remediation="Make the trust policy readable before deployment (resolve the values named above), or lint it "
                    "where it is known (a later plan, the synthesised template, `aws iam get-role` output).")
    finding.location = _location(finding, role, [], [])
    return finding


def _duplicates(policy: Any) -> list[DuplicateKey]:
    """Repeated keys (letter case ignored, as IAM reads them) anywhere in the policy as the loader saw it."""
    found: list[DuplicateKey] = []
    stack: list[tuple[Any, str, int | None]] = [(policy, "", None)]
    while stack:
        node, path, index = stack.pop()
        if isinstance(node, MarkedDict):
            groups: dict[str, list[str]] = {}
            for key in node.keys_written:
                groups.setdefault(str(key).lower(), []).append(str(key))
            for spellings in groups.values():
                if len(spellings) > 1:
                    member = f"{path}.{spellings[0]}" if path else spellings[0]
                    found.append(DuplicateKey(member, spellings[0], tuple(spellings), len(spellings), index))
        if isinstance(node, dict):
            for key, value in node.items():
                member = f"{path}.{key}" if path else str(key)
                child_index = index
                if member == "Statement" and isinstance(value, dict):
                    child_index = 0
                stack.append((value, member, child_index))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                stack.append((value, f"{path}[{i}]", i if path == "Statement" else index))
    return sorted(found, key=lambda d: d.path)


class _WorstCase:
    """The policy with unresolved values taken at their worst (see the module docstring), the notes that say so, and
    which original statement each remaining one is."""

    def __init__(self, policy: dict[str, Any]) -> None:
        self.notes: list[str] = []
        self.kept: list[int] = []  # remaining statement i is original statement kept[i]
        self.marked_statements = _statements(policy)
        single = isinstance(policy.get("Statement"), dict)
        out_statements = []
        for index, stmt in enumerate(self.marked_statements):
            converted = self._statement(index, stmt)
            if converted is not None:
                out_statements.append(converted)
                self.kept.append(index)
        self.policy: dict[str, Any] = {k: v for k, v in policy.items() if k != "Statement"}
        if "Statement" in policy:
            self.policy["Statement"] = out_statements[0] if single and len(out_statements) == 1 else out_statements
        for key, value in list(self.policy.items()):
            if key != "Statement" and unresolved_origins(value):
                self.policy[key] = "2012-10-17" if key == "Version" else "unresolved"

    def statements(self) -> list[dict[str, Any]]:
        return [s for s in _statements(self.policy) if isinstance(s, dict)]

    def federated(self) -> list[Any]:
        out = []
        for stmt in self.statements():
            principal = stmt.get("Principal")
            if isinstance(principal, dict) and "Federated" in principal:
                value = principal["Federated"]
                out += value if isinstance(value, list) else [value]
        return out

    def asks_web_identity(self) -> bool:
        return any(WEB_IDENTITY_ACTION in json.dumps(plain(s.get("Action"))).lower() for s in self.statements())

    def _statement(self, index: int, stmt: Any) -> Any:
        if not isinstance(stmt, dict):
            return stmt
        where = f"statement {index}"
        effect = stmt.get("Effect")
        deny = isinstance(effect, str) and effect == "Deny"
        out: dict[str, Any] = {}
        for key, value in stmt.items():
            origins = _origins_in(value)
            if key == "Condition":
                condition = self._condition(where, value, deny)
                if condition is None:
                    return None
                if condition:
                    out[key] = condition
            elif not origins:
                out[key] = value
            elif key == "Effect":
                self.notes.append(f"the Effect of {where} could not be resolved ({', '.join(origins)}); judged as Allow")
                out[key] = "Allow"
            elif key in ("Action", "Resource"):
                self.notes.append(f"the {key} of {where} could not be resolved ({', '.join(origins)}); judged as *")
                out[key] = [v for v in _as_list(value) if not unresolved_origins(v)] + ["*"]
            elif key in ("NotAction", "NotResource"):
                self.notes.append(f"the {key} of {where} could not be resolved ({', '.join(origins)}); judged as "
                                  "excluding nothing")
                out[key] = [v for v in _as_list(value) if not unresolved_origins(v)] or ["connector-health:nothing"]
            else:  # principals keep their marker text (a Federated one is resolved by its condition keys)
                out[key] = value
        return out

    def _condition(self, where: str, condition: Any, deny: bool) -> dict[str, Any] | None:
        """The Condition block without unresolved keys (an Allow), or None when a Deny depends on one."""
        if not isinstance(condition, dict):
            return condition
        out: dict[str, Any] = {}
        for operator, block in condition.items():
            if not isinstance(block, dict):
                out[operator] = block
                continue
            kept: dict[str, Any] = {}
            for key, values in block.items():
                origins = [*unresolved_origins(key), *_origins_in(values)]
                if not origins:
                    kept[key] = values
                elif deny:
                    self.notes.append(f"the Deny {where} tests {key} against a value that could not be resolved "
                                      f"({', '.join(origins)}); judged as not applying")
                    return None
                else:
                    self.notes.append(f"the {operator} condition of {where} on {key} could not be resolved "
                                      f"({', '.join(origins)}); it could be any value a caller chooses, so it pins "
                                      "nothing")
            if kept:
                out[operator] = kept
        return out

    def documented_form(self, issuer: str, profile: Any, audiences: tuple[str, ...] | None,
                        placeholders: dict[str, str], notes: list[str]) -> None:
        """Placeholders in identity and audience conditions as values of the documented form: a condition value that
        is a placeholder as a whole (a parameter the deployer fills) is the provider's audience on `:aud` and the
        grammar's example on identity keys; a placeholder inside a literal identity value that the grammar cannot
        read (a tenant or workspace id in a session name) is a GUID."""
        claims, session = profile.render(profile.example())
        aud_key = f"{issuer}:aud".lower()
        identity = {k.lower(): rel for rel, k in zip(profile.identity_keys, profile.absolute_keys(issuer))}
        for stmt in self.statements():
            condition = stmt.get("Condition")
            for block in condition.values() if isinstance(condition, dict) else ():
                if not isinstance(block, dict):
                    continue
                for key, values in block.items():
                    replaced = [self._stand_in(key, v, aud_key, identity, audiences, profile, claims, session,
                                               placeholders, notes) for v in _as_list(values)]
                    block[key] = replaced if isinstance(values, list) else replaced[0]

    @staticmethod
    def _stand_in(key: str, value: Any, aud_key: str, identity: dict[str, str], audiences: tuple[str, ...] | None,
                  profile: Any, claims: dict[str, Any], session: str, placeholders: dict[str, str],
                  notes: list[str]) -> Any:
        rel = identity.get(key.lower())
        if isinstance(value, Placeholder):
            if key.lower() == aud_key:
                stand_in = ((audiences or ())[:1] or (profile.default_audience,))[0] or "connector-health-role-audience"
            elif rel is not None:
                stand_in = session if rel == "sts:RoleSessionName" else str(claims.get(rel.lstrip(":"),
                                                                                      claims.get("sub", value)))
            else:
                return value
            notes.append(f"{value.origin} (the whole {key} value) has no value here; judged as one value of the "
                         f"documented form ({stand_in!r})")
            return stand_in
        if rel is None or not isinstance(value, str) or "*" in value or "?" in value or \
                profile.parse(rel, value) is not None:
            return value
        inside = [p for p in placeholders if p in value]
        if not inside:
            return value
        guessed = value
        for text in inside:
            guessed = guessed.replace(text, str(uuid.uuid5(uuid.NAMESPACE_URL, f"connector-health:{text}")))
        if profile.parse(rel, guessed) is None:
            return value
        notes.append(f"{', '.join(placeholders[p] for p in inside)} in {key} judged as a GUID ({guessed!r}), the form "
                     "the issuer's grammar expects there")
        return guessed


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _origins_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [o for k, v in value.items() for o in [*unresolved_origins(k), *_origins_in(v)]]
    if isinstance(value, list):
        return [o for v in value for o in _origins_in(v)]
    return unresolved_origins(value)


# ---------------------------------------------------------------------------------------------- locations

def _location(finding: Finding, role: RoleTrust, kept: list[int], statements: list[Any]) -> dict[str, Any]:
    details = finding.details or {}
    line = role.line
    index = details.get("statement")
    if finding.check_id == "TRUST_DUPLICATE_KEY" and isinstance(details.get("path"), str):
        index = _statement_of_path(details["path"])
        original = index
    else:
        original = kept[index] if isinstance(index, int) and 0 <= index < len(kept) else None
    node = statements[original] if isinstance(original, int) and 0 <= original < len(statements) else None
    if node is None and finding.check_id != NOT_LINTED:
        node = next((s for s in statements if isinstance(s, dict) and isinstance(s.get("Principal"), dict)
                     and "Federated" in s["Principal"]), None)
    if node is not None:
        line = line_of(node) or line
        key = details.get("key") or _key_named_in(node, finding.message)
        line = _key_line(node, key) or line
    location = {
        "file": display_path(role.file), "line": line, "resource": role.resource, "resource_type": role.resource_type,
        "statement": original, "stack": role.stack, "cdk_path": role.cdk_path, "variant": role.variant,
        "source_document": role.source_document,
    }
    return {k: v for k, v in location.items() if v not in (None, "")}


def _statement_of_path(path: str) -> int | None:
    if not path.startswith("Statement"):
        return None
    rest = path[len("Statement"):]
    if rest.startswith("["):
        try:
            return int(rest[1:rest.index("]")])
        except ValueError:
            return None
    return 0


def _key_named_in(statement: Any, message: str) -> str | None:
    """The statement's first condition key the finding's message names (the key a by-effect finding is about)."""
    condition = statement.get("Condition") if isinstance(statement, dict) else None
    for block in condition.values() if isinstance(condition, dict) else ():
        for key in block if isinstance(block, dict) else ():
            if isinstance(key, str) and key.lower() in message.lower():
                return key
    return None


def _key_line(statement: Any, key: Any) -> int | None:
    """The line of a condition key inside a statement (the operator block's key lines)."""
    condition = statement.get("Condition") if isinstance(statement, dict) else None
    if not isinstance(key, str) or not isinstance(condition, dict):
        return None
    for block in condition.values():
        if isinstance(block, MarkedDict):
            for written, line in block.key_lines.items():
                if written.lower() == key.lower():
                    return line
    return None


# ---------------------------------------------------------------------------------------------- variants

def _merge_variants(variants: list[tuple[RoleTrust, list[Finding]]]) -> list[Finding]:
    """One finding per distinct (check, message, line) of a role; those absent from some variants name theirs."""
    if len(variants) == 1:
        return variants[0][1]
    groups: dict[tuple[Any, ...], list[tuple[RoleTrust, Finding]]] = {}
    for role, findings in variants:
        for f in findings:
            key = (f.check_id, f.severity, f.message, (f.location or {}).get("line"))
            groups.setdefault(key, []).append((role, f))
    out = []
    for members in groups.values():
        role, finding = members[0]
        labels = list(dict.fromkeys(r.variant for r, _ in members))
        if len(labels) == len(variants):
            finding.location = {k: v for k, v in (finding.location or {}).items() if k != "variant"}
        else:
            when = " or ".join(labels)
            finding.message = finding.message.replace(f"Role {role.resource}: ",
                                                      f"Role {role.resource} (when {when}): ", 1)
            finding.location = {**(finding.location or {}), "variant": when}
        out.append(finding)
    return out


__all__ = ["LintOptions", "LintRun", "display_path", "lint_paths"]
