"""Terraform plans in JSON (`terraform show -json PLANFILE`, HashiCorp's "JSON Output Format", format_version 1.x)
and states (`terraform show -json` of a state): every aws_iam_role's assume_role_policy and every OIDC provider.

- Roles and providers come from `planned_values` (a state: `values`), the root module and every child module.
  Data sources read while planning (aws_iam_policy_document, aws_iam_openid_connect_provider) are in `prior_state`.
- A rendered policy (jsonencode, an aws_iam_policy_document's `json`) is a JSON string in the role's values.
- A policy "known after apply" (`resource_changes[].change.after_unknown.assume_role_policy`) is rebuilt from the
  aws_iam_policy_document it references (`configuration`) when that data source's statements are in the plan (a
  deferred read: `change.after` with `after_unknown` marking the unknown parts); an unknown principal identifier is
  linked to the aws_iam_openid_connect_provider the configuration references, whose URL the plan knows. What stays
  unknown is marked unresolved; a policy built by jsonencode around an unknown value is unknown as a whole and reported
  as such (never passed silently).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from .cloudformation import policy_from_text
from .model import PLACEHOLDER_ACCOUNT, MarkedStr, Provider, RoleTrust, Unresolved, unresolved_origins, unresolved_text

ROLE_TYPE = "aws_iam_role"
PROVIDER_TYPE = "aws_iam_openid_connect_provider"
DOCUMENT_TYPE = "aws_iam_policy_document"
SUPPORTED_MAJOR = ("0", "1")


class PlanError(Exception):
    """Not a plan this reader understands (one line)."""


def is_plan(data: Any) -> bool:
    return isinstance(data, dict) and "format_version" in data and any(
        k in data for k in ("planned_values", "prior_state", "resource_changes", "values"))


def _obj(value: Any) -> dict[str, Any]:
    """`value` where a JSON object belongs, else an empty one (a plan file may hold anything)."""
    return value if isinstance(value, dict) else {}


def _seq(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _modules(module: Any) -> Iterator[dict[str, Any]]:
    stack = [module] if isinstance(module, dict) else []
    while stack:
        current = stack.pop()
        yield current
        stack.extend(m for m in reversed(_seq(current.get("child_modules"))) if isinstance(m, dict))


def _resources(values: Any) -> dict[str, dict[str, Any]]:
    return {r["address"]: r for m in _modules(_obj(values).get("root_module")) for r in _seq(m.get("resources"))
            if isinstance(r, dict) and isinstance(r.get("address"), str) and r["address"]}


def split_address(address: str) -> tuple[str, str]:
    """("module.a.module.b", "aws_iam_role.x") from "module.a[0].module.b["k"].aws_iam_role.x[1]": the module path
    and the resource as the configuration names them (instance keys dropped)."""
    modules, _, resource = _address_parts(address)
    if resource.endswith("]") and "[" in resource:
        resource = resource[:_open(resource)]
    return ".".join(f"module.{m}" for m in modules), resource


def module_instance(address: str) -> str:
    """The module instance an address lies in ("module.a[0].module.b[\"k\"]"; "" for the root module)."""
    return _address_parts(address)[1]


def _address_parts(address: str) -> tuple[list[str], str, str]:
    """(module names, module instance prefix, resource part) of an absolute resource address."""
    modules: list[str] = []
    rest = address
    while rest.startswith("module."):
        rest = rest[len("module."):]
        end = 0
        while end < len(rest) and rest[end] not in ".[":
            end += 1
        modules.append(rest[:end])
        rest = rest[end:]
        if rest.startswith("["):
            rest = rest[_close(rest) + 1:]
        rest = rest[1:] if rest.startswith(".") else rest
    prefix = address[:len(address) - len(rest)].rstrip(".")
    return modules, prefix, rest


def _close(text: str) -> int:
    """Index of the ] closing the [ at text[0] (keys may hold quoted dots and brackets)."""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif ch == "]" and not quoted:
            return i
    return len(text) - 1


def _open(text: str) -> int:
    """Index of the [ opening the instance key that ends `text`."""
    depth = 0
    quoted = False
    for i in range(len(text) - 1, -1, -1):
        ch = text[i]
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "]":
            depth += 1
        elif not quoted and ch == "[":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


def _config_modules(configuration: Any) -> dict[str, dict[str, Any]]:
    """Module path ("" for the root, "module.a.module.b") -> the module's configuration."""
    root = _obj(configuration).get("root_module")
    out: dict[str, dict[str, Any]] = {}
    stack = [("", root)] if isinstance(root, dict) else []
    while stack:
        path, module = stack.pop()
        out[path] = module
        for name, call in _obj(module.get("module_calls")).items():
            if isinstance(call, dict) and isinstance(call.get("module"), dict):
                stack.append((f"{path}.module.{name}".lstrip("."), call["module"]))
    return out


def _with_unknowns(after: Any, unknown: Any, origin: str) -> Any:
    """`after` with every leaf `after_unknown` marks as unknown replaced by an unresolved marker."""
    if unknown is True:
        return unresolved_text(origin)
    if isinstance(after, dict) or isinstance(unknown, dict):
        after = after if isinstance(after, dict) else {}
        unknown = unknown if isinstance(unknown, dict) else {}
        return {k: _with_unknowns(after.get(k), unknown.get(k), origin) for k in {*after, *unknown}}
    if isinstance(after, list) or isinstance(unknown, list):
        after = after if isinstance(after, list) else []
        unknown = unknown if isinstance(unknown, list) else []
        return [_with_unknowns(after[i] if i < len(after) else None, unknown[i] if i < len(unknown) else None, origin)
                for i in range(max(len(after), len(unknown)))]
    return after


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)] if value is not None else []


def document_from_blocks(data: dict[str, Any]) -> dict[str, Any]:
    """An aws_iam_policy_document's statement blocks as the JSON policy it renders."""
    statements = []
    for block in _seq(data.get("statement")):
        if not isinstance(block, dict):
            continue
        stmt: dict[str, Any] = {}
        if block.get("sid"):
            stmt["Sid"] = block["sid"]
        stmt["Effect"] = block.get("effect") or "Allow"
        for element, name in (("Action", "actions"), ("NotAction", "not_actions"), ("Resource", "resources"),
                              ("NotResource", "not_resources")):
            if _strings(block.get(name)):
                stmt[element] = _strings(block.get(name))
        for element, name in (("Principal", "principals"), ("NotPrincipal", "not_principals")):
            principals: dict[str, list[str]] = {}
            for p in _seq(block.get(name)):
                if isinstance(p, dict):
                    principals.setdefault(str(p.get("type")), []).extend(_strings(p.get("identifiers")))
            if principals == {"*": ["*"]}:
                stmt[element] = "*"
            elif principals:
                stmt[element] = principals
        conditions: dict[str, dict[str, list[str]]] = {}
        for c in _seq(block.get("condition")):
            if isinstance(c, dict):
                conditions.setdefault(str(c.get("test")), {}).setdefault(str(c.get("variable")), []).extend(
                    _strings(c.get("values")))
        if conditions:
            stmt["Condition"] = conditions
        statements.append(stmt)
    return {"Version": data.get("version") or "2012-10-17", "Statement": statements}


class _Plan:
    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        major = str(data.get("format_version", "")).split(".")[0]
        if major not in SUPPORTED_MAJOR:
            raise PlanError(f"{path}: Terraform JSON format_version {data.get('format_version')!r} is not supported "
                            "(this reader knows 0.x and 1.x)")
        self.path = path
        planned = data.get("planned_values") if "planned_values" in data else data.get("values")
        self.planned = _resources(planned)
        self.prior = _resources(_obj(data.get("prior_state")).get("values"))
        self.changes = {c["address"]: c for c in _seq(data.get("resource_changes"))
                        if isinstance(c, dict) and isinstance(c.get("address"), str)}
        self.config = _config_modules(data.get("configuration"))
        self.providers = self._providers()

    # -------------------------------------------------------------------------------------------- providers
    def _providers(self) -> dict[str, Provider]:
        out: dict[str, Provider] = {}
        for source in (self.prior, self.planned):
            for address, res in source.items():
                if res.get("type") != PROVIDER_TYPE:
                    continue
                values = _obj(res.get("values"))
                unknown = _obj(self._change(address).get("after_unknown"))
                url = values.get("url")
                if not isinstance(url, str):
                    continue  # a provider whose URL is known only after apply links nothing
                audiences = values.get("client_id_list")
                known = isinstance(audiences, list) and unknown.get("client_id_list") is not True
                module, name = split_address(address)
                out[address] = Provider(
                    issuer_key=url.removeprefix("https://"), resource=address, file=self.path,
                    audiences=tuple(str(a) for a in audiences if a is not None) if known else (),
                    unresolved_audiences=() if known else (f"client_id_list of {address} (known after apply)",),
                    refs=frozenset({address, f"{module}.{name}".lstrip(".")}))
        return out

    def _change(self, address: str) -> dict[str, Any]:
        return _obj(_obj(self.changes.get(address)).get("change"))

    def provider_arn(self, provider: Provider) -> str:
        return f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:oidc-provider/{provider.issuer_key}"

    # -------------------------------------------------------------------------------------------- roles
    def roles(self) -> list[RoleTrust]:
        out = []
        for address, res in self.planned.items():
            if res.get("mode", "managed") != "managed" or res.get("type") != ROLE_TYPE:
                continue
            out.append(self._role(address, res))
        return out

    def _config_resource(self, address: str) -> tuple[str, dict[str, Any] | None]:
        module, name = split_address(address)
        found = next((r for r in _seq(_obj(self.config.get(module)).get("resources"))
                      if isinstance(r, dict) and r.get("address") == name),
                     None)
        return module, found

    def _references(self, address: str, attribute: str) -> tuple[str, list[str]]:
        module, config = self._config_resource(address)
        expression = _obj(_obj(_obj(config).get("expressions")).get(attribute))
        return module, [r for r in _seq(expression.get("references")) if isinstance(r, str)]

    def _role(self, address: str, res: dict[str, Any]) -> RoleTrust:
        values = _obj(res.get("values"))
        unknown = _obj(self._change(address).get("after_unknown")).get("assume_role_policy") is True
        _, references = self._references(address, "assume_role_policy")
        document = next((r for r in references if r.startswith(f"data.{DOCUMENT_TYPE}.") and r.endswith(".json")), "")
        document_address = f"{module_instance(address)}.{document.removesuffix('.json')}".lstrip(".") if document else ""
        common = dict(file=self.path, resource=address, resource_type=ROLE_TYPE, line=None,
                      source_document=document_address)
        text = values.get("assume_role_policy")
        if isinstance(text, str) and text and not unknown:
            policy = policy_from_text(MarkedStr(text), address)
        elif unknown and document_address:
            policy = self._document_policy(document_address)
        elif unknown:
            shown = ", ".join(r for r in references if "." in r and not r.endswith("]"))[:300] or "values"
            policy = Unresolved(f"the trust policy is known only after apply (it is computed from {shown}); build it "
                                f"with an {DOCUMENT_TYPE} data source, or lint the plan again once those values exist")
        else:
            policy = Unresolved("the plan holds no assume_role_policy for this role")
        role = RoleTrust(**common, policy=policy, role_name=str(values.get("name") or ""))
        role.providers = self._links(role, document_address)
        return role

    def _document_policy(self, address: str) -> Any:
        """A deferred aws_iam_policy_document's statements with their unknown parts marked."""
        for source in (self.planned, self.prior):
            values = _obj(_obj(source.get(address)).get("values"))
            if isinstance(values.get("json"), str) and values["json"]:
                return policy_from_text(MarkedStr(values["json"]), address)
        change = self._change(address)
        if not isinstance(change.get("after"), dict):
            return Unresolved(f"the trust policy comes from {address}, whose statements are not in the plan")
        data = _with_unknowns(change["after"], change.get("after_unknown"), f"{address} (known after apply)")
        if unresolved_origins(data.get("statement")) or not isinstance(data.get("statement"), list):
            return Unresolved(f"the statements of {address} are known only after apply")
        return policy_from_text(MarkedStr(json.dumps(self._link_unknown_principals(address, document_from_blocks(data)))),
                                address)

    def _link_unknown_principals(self, document_address: str, policy: dict[str, Any]) -> dict[str, Any]:
        """Unknown Federated identifiers -> the ARN of the provider the data source's configuration references."""
        module, references = self._statement_references(document_address)
        for index, stmt in enumerate(_seq(policy.get("Statement"))):
            federated = _obj(_obj(stmt).get("Principal")).get("Federated")
            if not federated:
                continue
            refs = [q for r in (references[index] if index < len(references) else []) for q in self._followed(module, r)]
            provider = next((p for m, r in refs for p in self.providers.values() if _names(p, m, r)), None)
            if provider is not None:
                stmt["Principal"]["Federated"] = [self.provider_arn(provider) if unresolved_origins(v) else v
                                                  for v in federated]
        return policy

    def _followed(self, module: str, reference: str, depth: int = 0) -> list[tuple[str, str]]:
        """(module, reference) pairs a reference leads to: a module input variable (`var.x`) is followed to the
        references of the expression the calling module passes for it."""
        if not reference.startswith("var.") or not module or depth > 8:
            return [(module, reference)]
        parent, _, call = module.rpartition(".module.") if ".module." in module else ("", "", module[len("module."):])
        argument = reference.split(".")[1].split("[")[0]
        call_config = _obj(_obj(_obj(self.config.get(parent)).get("module_calls")).get(call))
        expression = _obj(_obj(call_config.get("expressions")).get(argument))
        return [pair for r in _seq(expression.get("references")) if isinstance(r, str)
                for pair in self._followed(parent, r, depth + 1)]

    def _statement_references(self, address: str) -> tuple[str, list[list[str]]]:
        """Per statement block, the references of its principals' identifiers (dynamic blocks are not in the
        configuration representation, so their statements have none)."""
        module, config = self._config_resource(address)
        out: list[list[str]] = []
        for block in _seq(_obj(_obj(config).get("expressions")).get("statement")):
            refs: list[str] = []
            for principal in _seq(_obj(block).get("principals")):
                refs += [r for r in _seq(_obj(_obj(principal).get("identifiers")).get("references")) if isinstance(r, str)]
            out.append(refs)
        return module, out

    def _links(self, role: RoleTrust, document_address: str) -> dict[str, Provider]:
        """Federated principal -> the provider of the plan with that issuer (by ARN or URL)."""
        links: dict[str, Provider] = {}
        policy = role.policy
        statements = policy.get("Statement") if isinstance(policy, dict) else None
        for stmt in statements if isinstance(statements, list) else [statements]:
            principal = stmt.get("Principal") if isinstance(stmt, dict) else None
            federated = principal.get("Federated") if isinstance(principal, dict) else None
            for value in federated if isinstance(federated, list) else [federated]:
                if isinstance(value, str) and ":oidc-provider/" in value:
                    key = value.split(":oidc-provider/", 1)[1]
                    provider = next((p for p in self.providers.values() if p.issuer_key == key), None)
                    if provider is not None:
                        links[value] = provider
        return links


def _names(provider: Provider, module: str, reference: str) -> bool:
    """Whether a configuration reference (relative to `module`) names the provider (its ARN or the resource)."""
    return f"{module}.{reference.removesuffix('.arn')}".lstrip(".") in provider.refs


def read_plan(path: Path, data: dict[str, Any]) -> tuple[list[RoleTrust], list[Provider]]:
    plan = _Plan(path, data)
    return plan.roles(), list(plan.providers.values())


__all__ = ["PlanError", "document_from_blocks", "is_plan", "module_instance", "read_plan", "split_address"]
