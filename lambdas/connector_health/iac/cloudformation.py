"""CloudFormation templates (and CDK's synthesised ones): every AWS::IAM::Role's trust policy, with its intrinsics
resolved as far as the template allows, once per reachable combination of its `Fn::If` conditions.

Resolution (README "lint-trust on infrastructure as code"):
- `Ref` to a parameter: the value given with `--parameter NAME=VALUE`, else the parameter's non-empty default, else a
  placeholder (the parameter's name in lower case, one fixed value the deployer chooses; the finding says so).
  Pseudo-parameters get AWS's documentation values (account 111122223333, us-east-1, partition aws).
- `Ref`/`Fn::GetAtt` of an OIDC provider (AWS::IAM::OIDCProvider, CDK's Custom::AWSCDKOpenIdConnectProvider): its ARN,
  built from its Url, which links the role to the provider and its ClientIdList. Of an EKS cluster's
  OpenIdConnectIssuerUrl: an EKS issuer URL placeholder. Of CDK's Custom::AWSCDKCfnJson: the JSON it renders. Of any
  other resource: a placeholder.
- `Fn::Sub`, `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::FindInMap`, `Fn::Base64`, `Fn::ToJsonString`, `Fn::Length`:
  computed. `Fn::ImportValue`: the export of another template among the inputs (a CDK app's cross-stack references),
  else unresolved. A value that stays unknown is embedded as an "unresolved" marker (model.Unresolved).
- `Fn::If`: both branches, as separate variants; conditions whose value follows from `--parameter` values or from
  the other chosen conditions are not branched. A resource's own `Condition` decides whether a provider exists in a
  variant; a role is linted only in variants where it exists.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .model import (NO_VALUE, PLACEHOLDER_ACCOUNT, PLACEHOLDER_REGION, MarkedDict, MarkedList, MarkedStr,
                    Placeholder, Provider, RoleTrust, Unresolved, unresolved_origins, unresolved_text)
from .source import SourceError, line_of, load_json, plain

ROLE_TYPE = "AWS::IAM::Role"
PROVIDER_TYPES = ("AWS::IAM::OIDCProvider", "Custom::AWSCDKOpenIdConnectProvider")
CFN_JSON_TYPE = "Custom::AWSCDKCfnJson"
EKS_CLUSTER_TYPES = ("AWS::EKS::Cluster", "Custom::AWSCDK-EKS-Cluster")  # the second: CDK's aws-eks Cluster
MAX_VARIANTS = 32  # combinations of Fn::If conditions linted per role
MAX_STEPS = 200_000  # resolution steps per role and variant (aliases and nested intrinsics cannot run away)
MAX_IMPORT_DEPTH = 4
MAX_NESTING = 120  # intrinsics inside intrinsics (Python's own recursion limit must never be what stops us)
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


def token(name: str) -> str:
    """A placeholder for a named value: its name in lower case, letters, digits and hyphens only, so that it reads as
    one owner, repository, namespace or host label in every issuer grammar."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "value"


def _get(props: Any, name: str) -> Any:
    """A property by name, letter case ignored (CDK's provider writes ClientIDList, CloudFormation's ClientIdList)."""
    if not isinstance(props, dict):
        return None
    if name in props:
        return props[name]
    return next((v for k, v in props.items() if k.lower() == name.lower()), None)


class _TooComplex(Exception):
    pass


@dataclass
class Template:
    path: Path
    data: MarkedDict
    stack: str = ""  # the stack's name (CDK artifact) or the file's stem

    @property
    def resources(self) -> dict[str, Any]:
        value = self.data.get("Resources")
        return value if isinstance(value, dict) else {}

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}


@dataclass
class TemplateSet:
    """Templates read together (one CDK app, a directory, the paths given): cross-template exports and providers."""

    templates: list[Template]
    parameters: dict[str, str] = field(default_factory=dict)
    _exports: dict[str, tuple[Template, Any]] | None = field(default=None, repr=False)

    def exports(self) -> dict[str, tuple[Template, Any]]:
        """Export name -> (template, value) of every output the templates export (computed once)."""
        if self._exports is not None:
            return self._exports
        found: dict[str, tuple[Template, Any]] = {}
        self._exports = found  # an export name that itself imports sees the exports found so far, not a loop
        for template in self.templates:
            for output in template.section("Outputs").values():
                export = _get(output, "Export")
                name = _Resolver(self, template, {}).value(_get(export, "Name")) if isinstance(export, dict) else None
                if isinstance(name, str) and not isinstance(name, Placeholder) and not unresolved_origins(name):
                    found[str(name)] = (template, _get(output, "Value"))
        self._exports = found
        return found


class _Resolver:
    """Resolves intrinsics of one template for one choice of its conditions. `strict`: only what the template and the
    --parameter values fix (defaults, pseudo-parameters and resources are unknown): used to decide conditions."""

    def __init__(self, templates: TemplateSet, template: Template, choices: dict[str, bool], *, strict: bool = False,
                 exports: dict[str, tuple[Template, Any]] | None = None, depth: int = 0) -> None:
        self.set = templates
        self.t = template
        self.choices = choices
        self.strict = strict
        self.used: list[str] = []  # conditions an Fn::If or a provider's existence asked about, in order
        self.assumptions: dict[str, None] = {}
        self.placeholders: dict[str, str] = {}  # placeholder text -> origin (a string may embed it)
        self.steps = 0
        self.nesting = 0
        self.resolving: list[str] = []  # resources whose properties are being resolved (a cycle is unresolved)
        self._exports = exports
        self.depth = depth

    # ------------------------------------------------------------------------------------------ values
    def value(self, node: Any) -> Any:
        self.steps += 1
        if self.steps > MAX_STEPS or self.nesting > MAX_NESTING:
            raise _TooComplex
        self.nesting += 1
        try:
            return self._value(node)
        finally:
            self.nesting -= 1

    def _value(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                (name, arg), = node.items()
                if name == "Ref" or (isinstance(name, str) and name.startswith("Fn::")):
                    return self.intrinsic(name, arg, node)
            out = MarkedDict().marked_like(node)
            for key, child in node.items():
                resolved = self.value(child)
                if resolved is not NO_VALUE:
                    out[key] = resolved
            return out
        if isinstance(node, list):
            return MarkedList([v for v in (self.value(c) for c in node) if v is not NO_VALUE], line=line_of(node))
        return node

    def text(self, node: Any) -> str | Unresolved:
        """A value used inside a string (Sub, Join): unknown parts become markers; lists are not strings."""
        value = self.value(node)
        if isinstance(value, Unresolved):
            return unresolved_text(value.origin)
        if isinstance(value, (bool, int, float)) and not isinstance(value, str):
            return str(value).lower() if isinstance(value, bool) else str(value)
        if isinstance(value, str):
            return value
        return Unresolved(f"a {type(value).__name__} where a string belongs", line_of(node))

    def intrinsic(self, name: str, arg: Any, node: Any) -> Any:
        handler: Callable[[Any, Any], Any] | None = {
            "Ref": self._ref, "Fn::GetAtt": self._get_att, "Fn::Sub": self._sub, "Fn::Join": self._join,
            "Fn::Select": self._select, "Fn::Split": self._split, "Fn::FindInMap": self._find_in_map,
            "Fn::ImportValue": self._import_value, "Fn::Base64": self._base64, "Fn::If": self._if,
            "Fn::ToJsonString": self._to_json_string, "Fn::Length": self._length,
        }.get(name)
        if handler is None:
            return Unresolved(name, line_of(node))
        return handler(arg, node)

    # ------------------------------------------------------------------------------------------ Ref
    def _ref(self, arg: Any, node: Any) -> Any:
        line = line_of(node)
        if not isinstance(arg, str):
            return Unresolved("Ref of a computed name", line)
        if arg == "AWS::NoValue":
            return NO_VALUE
        if arg.startswith("AWS::"):
            return self._pseudo(arg, line)
        params = self.t.section("Parameters")
        if arg in params:
            return self._parameter(arg, params[arg], line)
        resource = self.t.resources.get(arg)
        if isinstance(resource, dict):
            return self._resource_ref(arg, resource, line)
        return Unresolved(f"Ref {arg} (not declared in the template)", line)

    def _pseudo(self, name: str, line: int | None) -> Any:
        if self.strict:
            return Unresolved(name, line)
        values = {
            "AWS::AccountId": PLACEHOLDER_ACCOUNT, "AWS::Region": PLACEHOLDER_REGION, "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": token(self.t.stack or self.t.path.stem),
            "AWS::StackId": f"arn:aws:cloudformation:{PLACEHOLDER_REGION}:{PLACEHOLDER_ACCOUNT}:stack/"
                            f"{token(self.t.stack or self.t.path.stem)}/00000000-0000-4000-8000-000000000000",
        }
        if name == "AWS::NotificationARNs":
            return MarkedList([], line=line)
        if name in values:
            return MarkedStr(values[name], line)
        return Unresolved(name, line)

    def _parameter(self, name: str, spec: Any, line: int | None) -> Any:
        ptype = str(_get(spec, "Type") or "String")
        is_list = ptype.startswith("List<") or ptype == "CommaDelimitedList"
        explicit = self.set.parameters.get(name)
        if explicit is None and not self.strict and not ptype.startswith("AWS::SSM::Parameter::Value"):
            default = _get(spec, "Default")
            if default is not None and str(default) != "":
                explicit = ",".join(map(str, default)) if isinstance(default, list) else str(default)
                self.assumptions.setdefault(f"parameter {name} = its default {explicit!r}")
        if explicit is not None:
            if is_list:
                return MarkedList([MarkedStr(v.strip(), line) for v in explicit.split(",")], line=line)
            return MarkedStr(explicit, line)
        if self.strict:
            return Unresolved(f"parameter {name}", line)
        placeholder = Placeholder(token(name), f"parameter {name}", line)
        self.placeholders[str(placeholder)] = placeholder.origin
        self.assumptions.setdefault(
            f"parameter {name} has no value here and was judged as one fixed value ({placeholder!r}); "
            f"pass --parameter {name}=VALUE to judge the value you deploy")
        return MarkedList([placeholder], line=line) if is_list else placeholder

    def _resource_ref(self, logical: str, resource: dict[str, Any], line: int | None) -> Any:
        if self.strict:
            return Unresolved(f"Ref {logical}", line)
        rtype = str(resource.get("Type", ""))
        props = resource.get("Properties") or {}
        if rtype in PROVIDER_TYPES:
            return self.provider_arn(logical, props, line)
        if rtype == ROLE_TYPE:
            name = self.within(logical, lambda: self.value(_get(props, "RoleName")), line)
            if isinstance(name, str):
                return name
        return self._resource_placeholder(logical, f"Ref {logical}", line)

    def _resource_placeholder(self, name: str, origin: str, line: int | None) -> Placeholder:
        self.assumptions.setdefault(f"{origin} is known only at deployment; judged as one fixed value")
        self.placeholders[token(name)] = origin
        return Placeholder(token(name), origin, line)

    def within(self, logical: str, resolve: Callable[[], Any], line: int | None) -> Any:
        """`resolve()` for a property of resource `logical`, or unresolved when that property refers back to it."""
        if logical in self.resolving:
            return Unresolved(f"{logical} refers to itself", line)
        self.resolving.append(logical)
        try:
            return resolve()
        finally:
            self.resolving.pop()

    def provider_arn(self, logical: str, props: Any, line: int | None) -> Any:
        url = self.within(logical, lambda: self.text(_get(props, "Url")), line)
        if isinstance(url, Unresolved) or not url:
            url = unresolved_text(f"Url of {logical}")
        key = str(url).removeprefix("https://")
        return MarkedStr(f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:oidc-provider/{key}", line)

    # ------------------------------------------------------------------------------------------ Fn::GetAtt
    def _get_att(self, arg: Any, node: Any) -> Any:
        line = line_of(node)
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not isinstance(arg, list) or len(arg) != 2:
            return Unresolved("Fn::GetAtt with an unreadable argument", line)
        logical, attr = arg[0], self.value(arg[1])
        resource = self.t.resources.get(logical) if isinstance(logical, str) else None
        if not isinstance(resource, dict) or not isinstance(attr, str):
            return Unresolved(f"Fn::GetAtt {logical}.{attr} (not declared in the template)", line)
        if self.strict:
            return Unresolved(f"Fn::GetAtt {logical}.{attr}", line)
        rtype = str(resource.get("Type", ""))
        props = resource.get("Properties") or {}
        if rtype in PROVIDER_TYPES and attr == "Arn":
            return self.provider_arn(logical, props, line)
        if rtype == CFN_JSON_TYPE and attr == "Value":
            return self._cfn_json(logical, props, line)
        if rtype == ROLE_TYPE and attr == "Arn":
            name = self.within(logical, lambda: self.value(_get(props, "RoleName")), line)
            name = name if isinstance(name, str) else self._resource_placeholder(logical, f"the name of {logical}", line)
            path = self.value(_get(props, "Path"))
            path = path if isinstance(path, str) and path.startswith("/") else "/"
            return MarkedStr(f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:role{path}{name}", line)
        if rtype in EKS_CLUSTER_TYPES and attr == "OpenIdConnectIssuerUrl":
            cluster_id = hashlib.sha256(f"{self.t.stack}/{logical}".encode()).hexdigest()[:32].upper()
            self.assumptions.setdefault(f"the issuer URL of EKS cluster {logical} is known only at deployment; judged "
                                        "as an EKS issuer of its own")
            return Placeholder(f"https://oidc.eks.{PLACEHOLDER_REGION}.amazonaws.com/id/{cluster_id}",
                               f"Fn::GetAtt {logical}.OpenIdConnectIssuerUrl", line)
        return self._resource_placeholder(f"{logical}-{attr}", f"Fn::GetAtt {logical}.{attr}", line)

    def _cfn_json(self, logical: str, props: Any, line: int | None) -> Any:
        """CDK renders JSON with tokens in its keys (e.g. an EKS issuer in a condition key) through a custom resource
        whose Value property is the JSON text."""
        text = self.within(logical, lambda: self.text(_get(props, "Value")), line)
        if isinstance(text, Unresolved):
            return text
        try:
            return _relined(load_json(str(text), logical), line)
        except SourceError:
            return Unresolved(f"{logical}: CfnJson value is not JSON", line)

    # ------------------------------------------------------------------------------------------ strings and lists
    def _sub(self, arg: Any, node: Any) -> Any:
        line = line_of(node)
        variables: dict[str, Any] = {}
        template_text = arg
        if isinstance(arg, list) and arg:
            template_text = arg[0]
            if len(arg) > 1 and isinstance(arg[1], dict):
                variables = dict(arg[1])
        if not isinstance(template_text, str):
            return Unresolved("Fn::Sub with a computed template", line)

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            name = name.strip()
            if name in variables:
                piece = self.text(variables[name])
            elif "." in name and not name.startswith("AWS::"):
                piece = self.text(MarkedDict({"Fn::GetAtt": name.split(".", 1)}, line=line))
            else:
                piece = self.text(MarkedDict({"Ref": name}, line=line))
            return unresolved_text(piece.origin) if isinstance(piece, Unresolved) else str(piece)

        return MarkedStr(_SUB_VAR.sub(replace, template_text), line_of(template_text) or line,
                         block=getattr(template_text, "block", False))

    def _join(self, arg: Any, node: Any) -> Any:
        line = line_of(node)
        if not isinstance(arg, list) or len(arg) != 2 or not isinstance(arg[0], str):
            return Unresolved("Fn::Join with an unreadable argument", line)
        items = self.value(arg[1])
        if isinstance(items, Unresolved):
            return items
        if not isinstance(items, list):
            return Unresolved("Fn::Join of something that is not a list", line)
        pieces = []
        for item in items:
            if isinstance(item, Unresolved):
                pieces.append(unresolved_text(item.origin))
            elif isinstance(item, (dict, list)):  # CloudFormation joins strings only
                pieces.append(unresolved_text("Fn::Join of a value that is not a string"))
            else:
                pieces.append(item if isinstance(item, str) else str(item))
        return MarkedStr(arg[0].join(pieces), line)

    def _select(self, arg: Any, node: Any) -> Any:
        line = line_of(node)
        if not isinstance(arg, list) or len(arg) != 2:
            return Unresolved("Fn::Select with an unreadable argument", line)
        index, items = self.value(arg[0]), self.value(arg[1])
        if isinstance(items, Unresolved):
            return items
        try:
            return items[int(str(index))]
        except (ValueError, IndexError, TypeError, KeyError):
            return Unresolved("Fn::Select of an index that is unknown or out of range", line)

    def _split(self, arg: Any, node: Any) -> Any:
        line = line_of(node)
        if not isinstance(arg, list) or len(arg) != 2 or not isinstance(arg[0], str) or not arg[0]:
            return Unresolved("Fn::Split with an unreadable argument", line)
        text = self.text(arg[1])
        if isinstance(text, Unresolved):
            return text
        return MarkedList([MarkedStr(p, line) for p in str(text).split(arg[0])], line=line)

    def _find_in_map(self, arg: Any, node: Any) -> Any:
        line = line_of(node)
        if not isinstance(arg, list) or len(arg) not in (3, 4):
            return Unresolved("Fn::FindInMap with an unreadable argument", line)
        keys = [self.value(a) for a in arg[:3]]
        mapping = self.t.section("Mappings").get(keys[0]) if isinstance(keys[0], str) else None
        default = _get(arg[3], "DefaultValue") if len(arg) == 4 else None
        if not isinstance(mapping, dict):
            return Unresolved(f"Fn::FindInMap {keys[0]} (no such mapping)", line)
        known = [isinstance(k, str) and not isinstance(k, Placeholder) and not unresolved_origins(k) for k in keys[1:]]
        if all(known):
            top = mapping.get(keys[1])
            found = top.get(keys[2]) if isinstance(top, dict) else None
            if found is None:
                found = default
            if found is None:
                return Unresolved(f"Fn::FindInMap {keys[0]} {keys[1]} {keys[2]} (no such entry)", line)
            return self.value(found)
        # A key known only at deployment: one value if every candidate agrees, else it could be any of them.
        candidates = []
        for top_key, top in mapping.items():
            if isinstance(top, dict) and (not known[0] or top_key == keys[1]):
                candidates += [value for second_key, value in top.items() if not known[1] or second_key == keys[2]]
        if candidates and len({json.dumps(self.value(c), default=str, sort_keys=True) for c in candidates}) == 1:
            return self.value(candidates[0])
        return Unresolved(f"Fn::FindInMap {keys[0]} with a key known only at deployment", line)

    def _import_value(self, arg: Any, node: Any) -> Any:
        line = line_of(node)
        name = self.text(arg)
        if isinstance(name, Unresolved) or unresolved_origins(name) or isinstance(name, Placeholder):
            return Unresolved("Fn::ImportValue of a computed name", line)
        if self._exports is None:
            self._exports = self.set.exports() if self.depth < MAX_IMPORT_DEPTH else {}
        exported = self._exports.get(str(name))
        if exported is None or self.strict:
            return Unresolved(f"Fn::ImportValue {name}", line)
        template, value_node = exported
        other = _Resolver(self.set, template, {}, exports=self._exports, depth=self.depth + 1)
        value = other.value(value_node)
        self.assumptions.update(other.assumptions)
        self.placeholders.update(other.placeholders)
        return value

    def _base64(self, arg: Any, node: Any) -> Any:
        text = self.text(arg)
        if isinstance(text, Unresolved) or unresolved_origins(text):
            return text
        return MarkedStr(base64.b64encode(str(text).encode()).decode(), line_of(node))

    def _to_json_string(self, arg: Any, node: Any) -> Any:
        return MarkedStr(json.dumps(plain(self.value(arg)), separators=(",", ":"), default=str), line_of(node))

    def _length(self, arg: Any, node: Any) -> Any:
        items = self.value(arg)
        return len(items) if isinstance(items, list) else Unresolved("Fn::Length of an unknown list", line_of(node))

    # ------------------------------------------------------------------------------------------ conditions
    def choose(self, condition: str) -> bool:
        """The branch taken for a condition in this variant (True until the variant says otherwise)."""
        if condition not in self.used:
            self.used.append(condition)
        return self.choices.get(condition, True)

    def _if(self, arg: Any, node: Any) -> Any:
        if not isinstance(arg, list) or len(arg) != 3 or not isinstance(arg[0], str):
            return Unresolved("Fn::If with an unreadable argument", line_of(node))
        return self.value(arg[1] if self.choose(arg[0]) else arg[2])


def decide(templates: TemplateSet, template: Template, name: str, assigned: dict[str, bool],
           seen: frozenset[str] = frozenset()) -> bool | None:
    """The value of a condition when the template and the --parameter values fix it (None: it depends on a value
    known only at deployment). Conditions named inside it take their `assigned` value."""
    if name in assigned:
        return assigned[name]
    expr = template.section("Conditions").get(name)
    if expr is None or name in seen:
        return None
    strict = _Resolver(templates, template, {}, strict=True)

    def known(node: Any) -> str | None:
        try:
            value = strict.value(node)
        except _TooComplex:
            return None
        if isinstance(value, (bool, int, float)) and not isinstance(value, str):
            return str(value).lower() if isinstance(value, bool) else str(value)
        return str(value) if isinstance(value, str) and not unresolved_origins(value) else None

    def evaluate(node: Any) -> bool | None:
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict) or len(node) != 1:
            return None
        (op, arg), = node.items()
        if op == "Condition" and isinstance(arg, str):
            return decide(templates, template, arg, assigned, seen | {name})
        args = arg if isinstance(arg, list) else []
        if op == "Fn::Equals" and len(args) == 2:
            left, right = known(args[0]), known(args[1])
            return None if left is None or right is None else left == right
        if op == "Fn::Not" and len(args) == 1:
            inner = evaluate(args[0])
            return None if inner is None else not inner
        if op in ("Fn::And", "Fn::Or"):
            results = [evaluate(a) for a in args]
            decisive = op == "Fn::Or"  # one True decides an Or, one False an And
            if decisive in results:
                return decisive
            return None if None in results else not decisive
        return None

    return evaluate(expr)


def _relined(value: Any, line: int | None) -> Any:
    """Values parsed from a string whose own lines mean nothing in the file: every part carries the string's line."""
    if isinstance(value, dict):
        out = MarkedDict({k: _relined(v, line) for k, v in value.items()}, line=line)
        out.keys_written = list(getattr(value, "keys_written", value.keys()))
        out.key_lines = {k: line for k in value} if line else {}
        return out
    if isinstance(value, list):
        return MarkedList([_relined(v, line) for v in value], line=line)
    if isinstance(value, str):
        return MarkedStr(value, line)
    return value


def _shifted(value: Any, base: int) -> Any:
    """Values parsed from a YAML block scalar: their lines counted from the scalar's first line."""
    if isinstance(value, dict):
        out = MarkedDict({k: _shifted(v, base) for k, v in value.items()}, line=(value.line or 1) + base)
        out.keys_written = list(value.keys_written)
        out.key_lines = {k: n + base for k, n in value.key_lines.items()}
        return out
    if isinstance(value, list):
        return MarkedList([_shifted(v, base) for v in value], line=(value.line or 1) + base)
    if isinstance(value, str):
        return MarkedStr(value, (value.line or 1) + base)
    return value


def policy_from_text(text: str, where: str) -> Any:
    """A policy written as JSON text (`!Sub |` over a JSON document, Fn::Join, a string in a JSON template)."""
    try:
        parsed = load_json(str(text), where)
    except SourceError as exc:
        origins = unresolved_origins(text)
        why = f" after substitution ({', '.join(origins)} could not be resolved)" if origins else ""
        return Unresolved(f"the policy text is not JSON{why}: {str(exc).split(': ', 1)[-1]}", line_of(text))
    line = line_of(text)
    if getattr(text, "block", False) and line:
        return _shifted(parsed, line)
    return _relined(parsed, line)


# ---------------------------------------------------------------------------------------------- roles

@dataclass
class _ProviderDecl:
    template: Template
    logical: str
    resource: dict[str, Any]


def _providers(templates: TemplateSet) -> list[_ProviderDecl]:
    return [_ProviderDecl(t, logical, r) for t in templates.templates for logical, r in t.resources.items()
            if isinstance(r, dict) and r.get("Type") in PROVIDER_TYPES]


def _provider(decl: _ProviderDecl, resolver: _Resolver) -> Provider:
    props = decl.resource.get("Properties") or {}
    arn = resolver.provider_arn(decl.logical, props, line_of(decl.resource))
    audiences_node = _get(props, "ClientIdList")
    audiences = resolver.value(audiences_node) if audiences_node is not None else MarkedList()
    known: list[str] = []
    unknown: list[str] = []
    for item in audiences if isinstance(audiences, list) else [audiences]:
        origins = unresolved_origins(item)
        if origins or not isinstance(item, str):
            unknown.append(", ".join(origins) or f"a ClientIdList entry of {decl.logical}")
        else:
            known.append(str(item))
    return Provider(issuer_key=str(arn).split(":oidc-provider/", 1)[-1], audiences=tuple(known),
                    resource=decl.logical, file=decl.template.path, line=line_of(decl.resource),
                    unresolved_audiences=tuple(unknown), refs=frozenset({f"{decl.template.path}#{decl.logical}"}))


def _federated_values(policy: Any) -> list[str]:
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    statements = statements if isinstance(statements, list) else [statements]
    out: list[str] = []
    for stmt in statements:
        principal = stmt.get("Principal") if isinstance(stmt, dict) else None
        federated = principal.get("Federated") if isinstance(principal, dict) else None
        for value in federated if isinstance(federated, list) else [federated]:
            if isinstance(value, str):
                out.append(value)
    return out


def _link_providers(policy: Any, templates: TemplateSet, template: Template, resolver: _Resolver,
                    declared: list[_ProviderDecl]) -> dict[str, Provider]:
    """Federated principal -> the provider among the inputs with that issuer (that exists in this variant): the
    template's own first, then one in the same directory (a provider stack deployed beside the role's), then any."""
    links: dict[str, Provider] = {}
    nearest = sorted(declared, key=lambda d: (d.template is not template, d.template.path.parent != template.path.parent))
    for value in _federated_values(policy):
        key = value.split(":oidc-provider/", 1)[1] if ":oidc-provider/" in value else None
        if not key or unresolved_origins(key):
            continue
        for decl in nearest:
            condition = decl.resource.get("Condition")
            same = decl.template is template
            if same and isinstance(condition, str) and not resolver.choose(condition):
                continue  # not created in this variant
            owner = resolver if same else _Resolver(templates, decl.template, {})
            provider = _provider(decl, owner)
            if provider.issuer_key == key:
                links[value] = provider
                break
    return links


def _variants(templates: TemplateSet, template: Template, logical: str,
              resolve: Callable[[dict[str, bool]], tuple[_Resolver, Any]]) -> list[tuple[dict[str, bool], list[str],
                                                                                           _Resolver, Any]]:
    """Every reachable combination of the conditions the role's policy (and its providers' existence) depend on:
    [(choices, branched condition names, resolver, resolved policy)]. Conditions fixed by --parameter values or by
    the other choices are not branched; the role's own Condition is taken as true (otherwise it does not exist)."""
    role = template.resources[logical]
    base: dict[str, bool] = {}
    if isinstance(role.get("Condition"), str):
        base[role["Condition"]] = True
    out = []
    pending: list[tuple[dict[str, bool], list[str]]] = [(base, [])]
    resolutions = 0
    while pending and len(out) < MAX_VARIANTS and resolutions < 4 * MAX_VARIANTS:
        choices, branched = pending.pop(0)
        resolutions += 1
        resolver, policy = resolve(choices)
        open_ = [c for c in resolver.used if c not in choices]
        if not open_:
            consistent = all(decide(templates, template, c, {k: v for k, v in choices.items() if k != c}) in (None, v)
                             for c, v in choices.items())
            if consistent:
                out.append((choices, branched, resolver, policy))
            continue
        name = open_[0]
        fixed = decide(templates, template, name, choices)
        if fixed is not None:
            pending.insert(0, ({**choices, name: fixed}, branched))
        else:
            pending[0:0] = [({**choices, name: True}, [*branched, name]), ({**choices, name: False}, [*branched, name])]
    if pending:  # more combinations than are linted: say so rather than pass the rest silently
        for _, _, resolver, _ in out:
            resolver.assumptions.setdefault(f"only the first {len(out)} combinations of the Fn::If conditions it "
                                            "depends on were linted")
    return out


def read_roles(templates: TemplateSet) -> tuple[list[RoleTrust], list[Provider]]:
    """Every role of every template, once per variant; and every provider the templates declare."""
    declared = _providers(templates)
    providers = []
    for decl in declared:
        try:
            providers.append(_provider(decl, _Resolver(templates, decl.template, {})))
        except _TooComplex:
            continue  # its roles still get its ARN; its audiences stay unknown
    roles: list[RoleTrust] = []
    for template in templates.templates:
        for logical, resource in template.resources.items():
            if not isinstance(resource, dict) or resource.get("Type") != ROLE_TYPE:
                continue
            roles.extend(_role_variants(templates, template, logical, resource, declared))
    return roles, providers


def _role_variants(templates: TemplateSet, template: Template, logical: str, resource: dict[str, Any],
                   declared: list[_ProviderDecl]) -> list[RoleTrust]:
    props = resource.get("Properties") if isinstance(resource.get("Properties"), dict) else {}
    node = _get(props, "AssumeRolePolicyDocument")
    line = template.resources.key_lines.get(logical) if isinstance(template.resources, MarkedDict) else None
    metadata = resource.get("Metadata") if isinstance(resource.get("Metadata"), dict) else {}
    common = dict(file=template.path, resource=logical, resource_type=ROLE_TYPE, line=line or line_of(resource),
                  stack=template.stack, cdk_path=str(metadata.get("aws:cdk:path") or ""))

    def resolve(choices: dict[str, bool]) -> tuple[_Resolver, Any]:
        resolver = _Resolver(templates, template, choices)
        policy = resolver.value(node) if node is not None else Unresolved("no AssumeRolePolicyDocument", line)
        if isinstance(policy, str):
            policy = policy_from_text(policy, f"{template.path} {logical}")
        _link_providers(policy, templates, template, resolver, declared)  # records provider conditions as used
        return resolver, policy

    try:
        out = []
        for choices, branched, resolver, policy in _variants(templates, template, logical, resolve):
            label = ", ".join(f"{c}={'true' if choices[c] else 'false'}" for c in branched)
            name = resolver.value(_get(props, "RoleName"))
            out.append(RoleTrust(**common, policy=policy, variant=label,
                                 role_name=str(name) if isinstance(name, str) and not isinstance(name, Placeholder) else "",
                                 providers=_link_providers(policy, templates, template, resolver, declared),
                                 assumptions=list(resolver.assumptions), placeholders=dict(resolver.placeholders)))
        return out
    except _TooComplex:
        return [RoleTrust(**common, policy=Unresolved("the template's intrinsics are too deeply nested to resolve"))]


__all__ = ["PROVIDER_TYPES", "ROLE_TYPE", "Template", "TemplateSet", "decide", "policy_from_text", "read_roles",
           "token", "unresolved_origins", "unresolved_text"]
