"""PERMS_*: what the connector's roles may do, from their policies evaluated locally (see `permissions`).

Each check looks at the roles the connector's preset and config name; a role that does not exist is skipped (that
is TRUST_ROLE_MISSING's business). Questions about conditions that a scan cannot know are answered "could be
allowed" and the findings say which condition keys they depend on. Service control policies, resource policies
and session policies are not evaluated. PERMS_DRIFT comes with the baseline.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator

from ..findings import Finding, Severity
from ..permissions import (
    WRITE_LEVELS,
    AccessLevel,
    PolicyRef,
    RolePermissions,
    catalog,
    effective_permissions,
    escalation_actions,
)
from ..permissions.effective import AWS_MANAGED_MARKER
from ..policy import Decision, Effect, actions_allowed
from ..policy.wildcards import wildcard_match
from ..presets import RoleSpec
from .base import Check, CheckContext
from .registry import register

PERMS_READS = ("iam:GetAccountAuthorizationDetails",)
SCP_NOTE = "Service control policies are not evaluated (out of scope): an SCP may restrict the role further."
SAMPLE = 10  # actions named in a message; the details hold every one
ADMIN_POLICIES = ("AdministratorAccess", "IAMFullAccess")  # AWS managed; IAMFullAccess can attach the other


# --------------------------------------------------------------------------------------------------
# Shared helpers


def _merged_specs(specs: Iterable[RoleSpec]) -> list[RoleSpec]:
    """One spec per role name: a config `roles:` entry naming a preset role adds to it."""
    merged: dict[str, RoleSpec] = {}
    for spec in specs:
        have = merged.get(spec.name)
        if have is None:
            merged[spec.name] = spec
            continue
        union = lambda a, b: list(dict.fromkeys([*a, *b]))  # noqa: E731
        merged[spec.name] = have.model_copy(update={
            "read_only": have.read_only or spec.read_only,
            "managed_policies": union(have.managed_policies, spec.managed_policies),
            "inline_policies": union(have.inline_policies, spec.inline_policies),
            "optional_policies": union(have.optional_policies, spec.optional_policies),
            "required_actions": union(have.required_actions, spec.required_actions),
            "required_resources": {**have.required_resources, **spec.required_resources},
            "expected_deny": union(have.expected_deny, spec.expected_deny),
        })
    return list(merged.values())


def _targets(ctx: CheckContext) -> Iterator[tuple[RoleSpec, RolePermissions]]:
    for spec in _merged_specs(ctx.connector.roles):
        perms = effective_permissions(ctx.snapshot, spec.name)
        if perms is not None:  # a missing role is TRUST_ROLE_MISSING's finding
            yield spec, perms


def _listed(patterns: Iterable[str], action: str) -> bool:
    """Whether an action is named by one of the (wildcard) patterns, case-insensitively."""
    return any(wildcard_match(p.strip(), action, ignore_case=True) for p in patterns)


def _plan(spec: RoleSpec) -> str:
    return f" ({spec.plan} plan)" if spec.plan else ""


def _sample(items: list[str], limit: int = SAMPLE) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _removal(role: str, ref: PolicyRef) -> str:
    if ref.kind == "inline":
        return f"`aws iam delete-role-policy --role-name {role} --policy-name {ref.name}`"
    return f"`aws iam detach-role-policy --role-name {role} --policy-arn {ref.arn}`"


def _policy_arn(ctx: CheckContext, name: str) -> tuple[str, bool]:
    """(ARN, found) of a policy the preset names (a name or an ARN). The snapshot holds every customer managed
    policy of the account but only the AWS managed ones in use, so a name it lacks is taken as AWS managed
    (`found` False: the remediation then also mentions re-creating a deleted customer policy)."""
    if name.startswith("arn:"):
        return name, name in ctx.snapshot.managed_policies
    found = [p.arn for p in ctx.snapshot.managed_policies.values() if p.name == name]
    found.sort(key=lambda arn: AWS_MANAGED_MARKER in arn)  # the customer's own policy first
    if found:
        return found[0], True
    return f"arn:{ctx.snapshot.partition}:iam::aws:policy/{name}", False


def _attached(perms: RolePermissions, name: str) -> bool:
    return any(name in (a.name, a.arn) for a in perms.role.attached_policies)


def _fill(resource: str, perms: RolePermissions) -> str:
    return resource.replace("{partition}", perms.partition).replace("{account}", perms.account)


def _conditional(perms: RolePermissions, decision: Decision) -> str:
    keys = perms.condition_keys(decision)
    return f"only under conditions on {', '.join(keys)}" if keys else "only under conditions the scan cannot evaluate"


def _policy_document(statements: list[dict]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"))


# --------------------------------------------------------------------------------------------------
# Checks


@register
class PermsRequiredMissing(Check):
    id = "PERMS_REQUIRED_MISSING"
    title = "Role lacks actions its plan needs"
    risk = (
        "The plan fails at the first call it makes with a missing action: scans, snapshots or data collection stop "
        "while the connector still looks connected."
    )
    remediation = (
        "Re-run the connector's onboarding template, or restore the grant: attach the policy the preset expects, "
        "remove the Deny or widen the permissions boundary named in the finding."
    )
    permissions = PERMS_READS
    needs = ("roles",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for spec, perms in _targets(ctx):
            if spec.required_actions:
                finding = self._check_role(ctx, spec, perms)
                if finding:
                    yield finding

    def _check_role(self, ctx: CheckContext, spec: RoleSpec, perms: RolePermissions) -> Finding | None:
        by_reason: dict[str, list[str]] = {}
        missing: list[dict] = []
        conditional: dict[str, list[str]] = {}
        kinds: set[str] = set()
        for action in spec.required_actions:
            explicit = spec.required_resources.get(action)
            resource = _fill(explicit, perms) if explicit else "*"
            [decision] = perms.decide([action], resource, wildcards="all" if explicit else "any").values()
            if decision.allowed:
                if decision.uncertain:
                    conditional[action] = perms.condition_keys(decision)
                continue
            reason = perms.blocked_because(decision)
            shown = f"{action} on {resource}" if explicit else action
            if "*" not in action and "?" not in action and not catalog().is_known(action):
                shown += " (not an action AWS documents: check the spelling)"
            by_reason.setdefault(reason, []).append(shown)
            sides = decision.blocked_by or ("identity",)
            if decision.effect is Effect.EXPLICIT_DENY:
                kinds.add("deny")
            else:
                kinds.update("boundary" if side == "boundary" else "grant" for side in sides)
            missing.append({"action": action, "resource": resource, "effect": decision.effect.value,
                            "reason": reason, "blocked_by": list(decision.blocked_by or ("identity",))})
        if not missing:
            return None
        role = perms.role
        parts = [f"{', '.join(actions)}: {reason}" for reason, actions in by_reason.items()]
        policies = ", ".join(perms.policy_labels()) or "none"
        unreadable = (f" Not counted because the snapshot lacks their documents: "
                      f"{', '.join(r.label for r in perms.unreadable)}." if perms.unreadable else "")
        message = (
            f"Role {role.name}{_plan(spec)} is not allowed {len(missing)} action(s) it needs — "
            + "; ".join(parts) + f". The role's policies: {policies}.{unreadable} {SCP_NOTE}"
        )
        return self.finding(
            ctx, role.arn, message,
            remediation=self._remediation(ctx, spec, perms, missing, kinds),
            details={"role": role.name, "plan": spec.plan, "missing": missing,
                     "allowed_only_under_conditions": conditional, "policies": perms.policy_labels(),
                     "scp_evaluated": False},
        )

    def _remediation(self, ctx: CheckContext, spec: RoleSpec, perms: RolePermissions, missing: list[dict],
                     kinds: set[str]) -> str:
        role = perms.role.name
        steps: list[str] = []
        detached = [n for n in spec.managed_policies if not _attached(perms, n)]
        for name in detached:
            arn, found = _policy_arn(ctx, name)
            unsure = "" if found else f" (if {name} is a customer managed policy, re-create it first)"
            steps.append(f"attach {name}: `aws iam attach-role-policy --role-name {role} --policy-arn {arn}`{unsure}")
        if "deny" in kinds:
            steps.append("remove or narrow the Deny statement named in the finding")
        if "boundary" in kinds and perms.boundary_ref:
            steps.append(f"add the actions to the boundary policy {perms.boundary_ref.arn} or remove the boundary: "
                         f"`aws iam delete-role-permissions-boundary --role-name {role}`")
        if "grant" in kinds and not detached:
            statements = [{"Effect": "Allow", "Action": sorted({m["action"] for m in missing}), "Resource": "*"}]
            steps.append(f"grant them: `aws iam put-role-policy --role-name {role} --policy-name "
                         f"connector-health-required --policy-document '{_policy_document(statements)}'`")
        steps.append("or re-run the connector's onboarding template")
        text = "; ".join(steps)
        return text[:1].upper() + text[1:] + "."


@register
class PermsAdminAccess(Check):
    id = "PERMS_ADMIN_ACCESS"
    title = "Connector role has administrator access"
    risk = (
        "Whoever can obtain a token the role's trust policy accepts (for Defender, from a third party's issuer) "
        "controls the whole account: a stolen or mis-scoped token is a full compromise."
    )
    remediation = "Detach the administrator policy or remove the statement that grants `*` on `*`."
    permissions = PERMS_READS
    needs = ("roles",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for spec, perms in _targets(ctx):
            admin_arns = {f"arn:{perms.partition}:iam::aws:policy/{n}" for n in ADMIN_POLICIES}
            attached = [a for a in perms.role.attached_policies if a.arn in admin_arns]
            grant = perms.admin_grant()
            if not attached and grant is None:
                continue
            role = perms.role
            reasons: list[str] = []
            removals: list[str] = []
            if grant is not None:
                refs = perms.granting_refs(grant)
                how = f" (granted by {', '.join(r.label for r in refs)})" if refs else ""
                cond = f", {_conditional(perms, grant)}" if grant.uncertain else ""
                reasons.append(f"allows every action on every resource{how}{cond}")
                removals += [_removal(role.name, r) for r in refs]
            if attached:
                iam_full = " (IAMFullAccess lets it attach AdministratorAccess to itself)" if any(
                    a.name == "IAMFullAccess" for a in attached) else ""
                reasons.append(f"has {', '.join(a.name for a in attached)} attached{iam_full}")
                removals += [f"`aws iam detach-role-policy --role-name {role.name} --policy-arn {a.arn}`"
                             for a in attached]
            severity = None
            limited = ""
            if grant is None and perms.boundary_ref:
                # Attached but capped by a boundary: one boundary change away from administrator.
                severity = Severity.HIGH
                limited = (f" The permissions boundary {perms.boundary_ref.label} currently keeps it from every "
                           "action; removing the boundary would make it administrator.")
            message = (f"Role {role.name}{_plan(spec)} {' and '.join(reasons)}.{limited} {SCP_NOTE}")
            yield self.finding(
                ctx, role.arn, message, severity=severity,
                remediation=("Remove administrator rights from the connector role: "
                             + ", ".join(dict.fromkeys(removals))
                             + "; then grant only what its plan needs (re-run the onboarding template)."),
                details={"role": role.name, "plan": spec.plan, "allows_everything": grant is not None,
                         "attached": [a.arn for a in attached],
                         "conditions": perms.condition_keys(grant) if grant is not None else [],
                         "boundary": perms.boundary_ref.arn if perms.boundary_ref else None, "scp_evaluated": False},
            )


@register
class PermsPrivilegeEscalation(Check):
    id = "PERMS_PRIVILEGE_ESCALATION"
    title = "Connector role can escalate privileges"
    risk = (
        "An action such as iam:PassRole on every role, iam:AttachRolePolicy or iam:CreatePolicyVersion lets the token "
        "holder turn the role into an administrator or act through a more privileged principal."
    )
    remediation = "Remove the escalation actions from the role's policies, or scope them to the resources it needs."
    permissions = PERMS_READS
    needs = ("roles",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for spec, perms in _targets(ctx):
            if perms.admin_grant() is not None:
                continue  # PERMS_ADMIN_ACCESS already says the role can do everything
            hits: list[dict] = []
            groups: dict[tuple[str, ...], list[str]] = {}
            refs: dict[PolicyRef, None] = {}
            for entry in escalation_actions():
                if _listed(spec.required_actions, entry.action):
                    continue
                resource, wildcards = entry.resource(perms.partition, perms.account)
                [decision] = perms.decide([entry.action], resource, wildcards=wildcards).values()
                if not decision.allowed:
                    continue
                granting = perms.granting_refs(decision)
                refs.update(dict.fromkeys(granting))
                where = " on every role" if entry.scope == "every-role" else ""
                cond = f" ({_conditional(perms, decision)})" if decision.uncertain else ""
                groups.setdefault(tuple(r.label for r in granting), []).append(f"{entry.action}{where}{cond}")
                hits.append({"action": entry.action, "scope": entry.scope, "why": entry.why,
                             "sources": list(entry.sources), "granted_by": [r.label for r in granting],
                             "conditions": perms.condition_keys(decision) if decision.uncertain else []})
            if not hits:
                continue
            role = perms.role
            shown = "; ".join(f"{_sample(actions)}" + (f" (granted by {', '.join(by)})" if by else "")
                              for by, actions in groups.items())
            message = (f"Role {role.name}{_plan(spec)} may raise privileges with {len(hits)} action(s) its preset does "
                       f"not expect: {shown}. {hits[0]['action']} {hits[0]['why']}.")
            removals = ", ".join(_removal(role.name, r) for r in refs)
            yield self.finding(
                ctx, role.arn, message,
                remediation=(f"Remove these actions from the policies that grant them ({removals or 'see details'}) "
                             "or scope them to the resources the connector needs (e.g. iam:PassRole only on the "
                             "roles it passes); if the plan truly needs one, list it in the role's `required_actions` "
                             "in the config."),
                details={"role": role.name, "plan": spec.plan, "actions": hits},
            )


@register
class PermsWriteUnexpected(Check):
    id = "PERMS_WRITE_UNEXPECTED"
    title = "Read-only connector role may change things"
    risk = (
        "A role the preset describes as read-only can modify, tag or re-permission resources: a stolen token becomes "
        "a write credential."
    )
    remediation = "Remove the write grants, or list the actions the plan needs in the role's `required_actions`."
    permissions = PERMS_READS
    needs = ("roles",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for spec, perms in _targets(ctx):
            if not spec.read_only or perms.admin_grant() is not None:
                continue  # an administrator role is PERMS_ADMIN_ACCESS's finding
            finding = self._check_role(ctx, spec, perms)
            if finding:
                yield finding

    def _check_role(self, ctx: CheckContext, spec: RoleSpec, perms: RolePermissions) -> Finding | None:
        # Only the write actions some statement names can be allowed: the others are not asked at all.
        candidates = perms.applicable(catalog().actions(WRITE_LEVELS))
        decisions = perms.decide(candidates)
        allowed = [a for a in candidates if decisions[a].allowed and not _listed(spec.required_actions, a)]
        # The AWS-managed policies the preset expects define read-only as AWS sees it (ReadOnlyAccess grants e.g.
        # athena:GetSessionEndpoint, which AWS classes as Write): what they alone grant is not unexpected.
        expected = set(spec.managed_policies) | set(spec.optional_policies)
        baseline = [perms.library.document(a.arn) for a in perms.role.attached_policies
                    if AWS_MANAGED_MARKER in a.arn and (a.name in expected or a.arn in expected)]
        baseline = [d for d in baseline if d is not None]
        if baseline and allowed:
            base = actions_allowed(baseline, allowed, "*", keys=perms.keys, assume="allow", wildcards="any")
            allowed = [a for a in allowed if not base[a].allowed]
        if not allowed:
            return None
        order = {AccessLevel.PERMISSIONS_MANAGEMENT: 0, AccessLevel.WRITE: 1, AccessLevel.TAGGING: 2}
        allowed.sort(key=lambda a: (order.get(catalog().access_level(a), 3), a))
        levels = Counter(catalog().access_level(a).value for a in allowed)
        granting: Counter[PolicyRef] = Counter(ref for a in allowed for ref in perms.granting_refs(decisions[a]))
        conditional = [a for a in allowed if decisions[a].uncertain]
        role = perms.role
        by = ", ".join(f"{ref.label} ({n})" for ref, n in granting.most_common())
        cond = f" {len(conditional)} of them only under conditions." if conditional else ""
        message = (
            f"Role {role.name}{_plan(spec)} is read-only per the preset but may perform {len(allowed)} write, "
            f"permissions-management or tagging action(s) beyond its list, e.g. {_sample(allowed)}. "
            f"Granted by: {by or 'see details'}.{cond}"
        )
        removals = ", ".join(_removal(role.name, ref) for ref in granting)
        return self.finding(
            ctx, role.arn, message,
            remediation=(f"Remove the grants ({removals or 'see details'}) or narrow them to read actions; if the "
                         "plan needs some of these actions, list them in the role's `required_actions` in the config."),
            details={"role": role.name, "plan": spec.plan, "count": len(allowed), "by_access_level": dict(levels),
                     "actions": allowed, "granted_by": {ref.label: n for ref, n in granting.items()},
                     "only_under_conditions": conditional, "action_data": catalog().data_version},
        )


@register
class PermsExpectedDenyMissing(Check):
    id = "PERMS_EXPECTED_DENY_MISSING"
    title = "Deny the preset expects is missing"
    risk = (
        "Actions the connector must never reach are open: for Defender CSPM, ReadOnlyAccess alone reads billing, "
        "invoices, payment methods and tax settings."
    )
    remediation = "Restore the deny policy the onboarding template attaches."
    permissions = PERMS_READS
    needs = ("roles",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for spec, perms in _targets(ctx):
            if not spec.expected_deny:
                continue
            # "any": the pattern counts as denied only when a Deny covers every action it names.
            decisions = perms.decide(spec.expected_deny, "*", wildcards="any")
            missing = [p for p in spec.expected_deny if decisions[p].effect is not Effect.EXPLICIT_DENY]
            if not missing:
                continue
            role = perms.role
            conditional = [p for p in missing if decisions[p].uncertain]
            cond = (f" The deny for {', '.join(conditional)} applies "
                    f"{_conditional(perms, decisions[conditional[0]])}, so it cannot be relied on."
                    if conditional else "")
            allowed = [p for p in missing if decisions[p].allowed]
            reach = f" The role may perform actions of {', '.join(allowed)}." if allowed else ""
            message = (f"Role {role.name}{_plan(spec)} is not explicitly denied {', '.join(missing)}, which the "
                       f"preset {ctx.connector.preset.name} expects to be denied.{reach}{cond}")
            yield self.finding(
                ctx, role.arn, message,
                remediation=self._remediation(ctx, spec, perms, missing),
                details={"role": role.name, "plan": spec.plan, "missing": missing,
                         "effects": {p: decisions[p].effect.value for p in missing},
                         "conditional": conditional},
            )

    def _remediation(self, ctx: CheckContext, spec: RoleSpec, perms: RolePermissions, missing: list[str]) -> str:
        role = perms.role.name
        steps = []
        for name in spec.managed_policies:
            arn, found = _policy_arn(ctx, name)
            if _attached(perms, name) or not found:
                continue
            document = perms.library.document(arn)
            if document is None:
                continue
            denies = actions_allowed([document], missing, "*", keys=perms.keys, assume="allow", wildcards="any")
            if any(d.effect is Effect.EXPLICIT_DENY for d in denies.values()):
                steps.append(f"`aws iam attach-role-policy --role-name {role} --policy-arn {arn}`")
        if steps:
            return "Attach the deny policy again: " + ", ".join(steps) + "."
        statements = [{"Effect": "Deny", "Action": missing, "Resource": "*"}]
        return ("Restore the Deny (re-run the onboarding template, or "
                f"`aws iam put-role-policy --role-name {role} --policy-name connector-health-expected-deny "
                f"--policy-document '{_policy_document(statements)}'`), without conditions.")


@register
class PermsUnexpectedPolicy(Check):
    id = "PERMS_UNEXPECTED_POLICY"
    title = "Policy the preset does not list is attached"
    risk = (
        "A policy added by hand to a connector role widens what the connector's tokens can do and is lost or "
        "duplicated the next time the onboarding template runs."
    )
    remediation = "Detach the policy, or list it for the role in the config if it is intended."
    permissions = PERMS_READS
    needs = ("roles",)

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for spec, perms in _targets(ctx):
            if not (spec.managed_policies or spec.inline_policies or spec.optional_policies):
                continue  # the preset/config says nothing about this role's policies
            role = perms.role
            managed_ok = set(spec.managed_policies) | set(spec.optional_policies)
            inline_ok = set(spec.inline_policies) | set(spec.optional_policies)
            expected = ", ".join([*spec.managed_policies, *spec.inline_policies]) or "none"
            for attached in role.attached_policies:
                if attached.name in managed_ok or attached.arn in managed_ok:
                    continue
                ref = PolicyRef("aws-managed" if AWS_MANAGED_MARKER in attached.arn else "customer-managed",
                                attached.name, attached.arn)
                yield self._finding(ctx, spec, role.name, role.arn, ref, expected)
            for name in role.inline_policies:
                if name not in inline_ok:
                    yield self._finding(ctx, spec, role.name, role.arn, PolicyRef("inline", name), expected)

    def _finding(self, ctx: CheckContext, spec: RoleSpec, role: str, role_arn: str, ref: PolicyRef,
                 expected: str) -> Finding:
        kinds = {"inline": "the inline policy", "aws-managed": "the AWS managed policy"}
        kind = kinds.get(ref.kind, "the customer managed policy")
        where = f" ({ref.arn})" if ref.arn else ""
        field = "managed_policies" if ref.kind != "inline" else "inline_policies"
        return self.finding(
            ctx, role_arn,
            f"Role {role}{_plan(spec)} carries {kind} {ref.name}{where}, which the preset "
            f"{ctx.connector.preset.name} and the config do not list for it (expected: {expected}).",
            remediation=(f"If nobody needs it, remove it: {_removal(role, ref)}; if it is intended, add "
                         f"{ref.name!r} to `{field}` (or `optional_policies`) of role {role} under the connector's "
                         "`roles:` in the config."),
            details={"role": role, "plan": spec.plan, "policy": ref.name, "policy_arn": ref.arn, "kind": ref.kind},
        )
