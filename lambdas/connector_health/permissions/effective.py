"""Effective permissions of a role, computed from the snapshot with the one evaluator (`connector_health.policy`).

A role's identity policy set is its attached managed policies (AWS-managed included, default version from
GetAccountAuthorizationDetails) plus its inline policies; Deny beats Allow across all of them; a permissions
boundary intersects the result (`evaluate_with_boundary`). Service control policies, resource policies and
session policies are out of scope: nothing here can see them, and the findings say so where it matters.

Each managed policy is parsed once per process by the text of its default version (`parse_policy_once`: an AWS
managed policy once, whatever account carries it), and the parsed document (with the evaluator's compiled
matchers) is shared by every role that attaches it (`PolicyLibrary`).

Conditions. A scan sees no request, so every condition key a role's policies test is marked `UNKNOWN`, except the
few that are fixed for the role's sessions (`aws:PrincipalAccount`, `aws:PrincipalArn`, `aws:PrincipalType`).
Questions are asked with ``assume="allow"`` ("could this be allowed?"): an Allow that holds only under a
condition counts, a Deny that holds only under a condition does not, and `Decision.uncertain` marks both cases
so that the findings can say "allowed only under conditions on ec2:ResourceTag/CreatedBy".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..collect.aws import AccountSnapshot, Role
from ..policy import (
    UNKNOWN,
    Decision,
    Effect,
    PolicyDocument,
    StatementRef,
    actions_allowed,
    applicable_actions,
    parse_policy,
    parse_policy_once,
)

__all__ = ["PolicyLibrary", "PolicyRef", "RolePermissions", "effective_permissions", "policy_library"]

AWS_MANAGED_MARKER = ":iam::aws:policy/"


@dataclass(frozen=True)
class PolicyRef:
    """Where a statement comes from: an attached managed policy, an inline policy, or the boundary."""

    kind: str  # "aws-managed" | "customer-managed" | "inline"
    name: str
    arn: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "inline":
            return f"inline policy {self.name}"
        return f"{self.name} ({'AWS' if self.kind == 'aws-managed' else 'customer'} managed)"


def _managed_ref(arn: str, name: str | None = None) -> PolicyRef:
    kind = "aws-managed" if AWS_MANAGED_MARKER in arn else "customer-managed"
    return PolicyRef(kind, name or arn.rsplit("/", 1)[-1], arn)


class PolicyLibrary:
    """The managed policy documents of one snapshot, each parsed at most once and shared by all roles."""

    def __init__(self, snapshot: AccountSnapshot) -> None:
        self.snapshot = snapshot
        self._parsed: dict[tuple[str, str], PolicyDocument | None] = {}
        self._allow_views: dict[int, PolicyDocument] = {}
        self.parse_count = 0

    def document(self, arn: str) -> PolicyDocument | None:
        """The parsed default version of a managed policy; None when the snapshot holds no readable document."""
        policy = self.snapshot.managed_policies.get(arn)
        if policy is None or policy.document is None:
            return None
        key = (arn, policy.default_version_id)
        if key not in self._parsed:
            self.parse_count += 1
            document = parse_policy_once(policy.document_text or policy.document, source=arn)
            self._parsed[key] = document if document.valid else None
        return self._parsed[key]

    def ref(self, arn: str) -> PolicyRef:
        policy = self.snapshot.managed_policies.get(arn)
        return _managed_ref(arn, policy.name if policy else None)

    def allow_view(self, document: PolicyDocument) -> PolicyDocument:
        """The same document without its Deny statements (statements shared, so compiled matchers are reused)."""
        view = self._allow_views.get(id(document))
        if view is None:
            view = dataclasses.replace(document, statements=tuple(s for s in document.statements if s.is_allow))
            self._allow_views[id(document)] = view
        return view


def policy_library(snapshot: AccountSnapshot) -> PolicyLibrary:
    """The snapshot's library, created on first use. It is kept in the snapshot's caches (not a module cache) so
    that it lives exactly as long as the run's snapshot and is shared by every check and connector."""
    library = snapshot.caches.get("policy_library")
    if library is None:
        library = snapshot.caches["policy_library"] = PolicyLibrary(snapshot)
    return library


@dataclass
class RolePermissions:
    """One role's policies, ready for questions. Build it with `effective_permissions`."""

    role: Role
    account: str
    partition: str
    identity: tuple[PolicyDocument, ...]
    boundary: tuple[PolicyDocument, ...]
    refs: dict[str, PolicyRef]  # document source -> where it comes from
    boundary_ref: PolicyRef | None
    unreadable: tuple[PolicyRef, ...]  # attached (or boundary) policies whose document the snapshot lacks
    keys: dict[str, Any]
    library: PolicyLibrary
    _cache: dict[tuple[str, str, str, str], Decision] = field(default_factory=dict, repr=False)
    _answers: dict[str, Any] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ questions
    def decide(self, actions: Iterable[str], resource: str = "*", *, wildcards: str = "any",
               assume: str = "allow") -> dict[str, Decision]:
        """Decision per action on `resource` (identity policies within the boundary). Defaults ask "could the role
        do this on some resource?"; ``wildcards="all"`` asks it for every resource the pattern names."""
        actions = list(actions)
        todo = [a for a in actions if (a, resource, wildcards, assume) not in self._cache]
        if todo:
            found = actions_allowed(self.identity, todo, resource, self.boundary or None, keys=self.keys,
                                    assume=assume, wildcards=wildcards)
            for action, decision in found.items():
                self._cache[(action, resource, wildcards, assume)] = decision
        return {a: self._cache[(a, resource, wildcards, assume)] for a in actions}

    def applicable(self, actions: Iterable[str]) -> list[str]:
        """The actions some statement of the role's policies or boundary names (`applicable_actions`): the only
        ones that can come out allowed, or explicitly denied."""
        return applicable_actions(self.identity, actions, self.boundary or None)

    def admin_grant(self) -> Decision | None:
        """The Allow decision when the role may do everything everywhere (``*`` on ``*``), else None.

        Allow statements alone decide whether ``*`` on ``*`` is granted: a Deny that carves out a few services
        (e.g. billing) leaves an administrator. Only a Deny that covers every action takes it back.
        """
        if "admin" in self._answers:
            return self._answers["admin"]
        self._answers["admin"] = self._admin_grant()
        return self._answers["admin"]

    def _admin_grant(self) -> Decision | None:
        allows = [self.library.allow_view(d) for d in self.identity]
        boundary = [self.library.allow_view(d) for d in self.boundary] or None
        [granted] = actions_allowed(allows, ["*"], "*", boundary, keys=self.keys, assume="allow",
                                    wildcards="all").values()
        if not granted.allowed:
            return None
        [overall] = self.decide(["*"], "*", wildcards="any").values()
        return granted if overall.allowed else None

    # ------------------------------------------------------------------ explaining
    def label(self, source: str) -> str:
        ref = self.refs.get(source) or (self.boundary_ref if self.boundary_ref and source == self.boundary_ref.arn
                                        else None)
        return ref.label if ref else source

    def statement_label(self, ref: StatementRef) -> str:
        where = f"statement {ref.sid!r}" if ref.sid else f"statement #{ref.index + 1}"
        return f"{self.label(ref.source)} ({where})"

    def granting_refs(self, decision: Decision) -> list[PolicyRef]:
        """The role's policies whose Allow statements grant a decision (the boundary's are left out)."""
        side = decision.identity or decision
        found = (self.refs.get(r.source) for r in side.deciding if r.effect == "Allow")
        return list(dict.fromkeys(ref for ref in found if ref is not None))

    def granted_by(self, decision: Decision) -> list[str]:
        return [ref.label for ref in self.granting_refs(decision)]

    def blocked_because(self, decision: Decision) -> str:
        """Why a decision is not an Allow, in words: the deny, the missing grant, or the boundary."""
        boundary = self.boundary_ref.label if self.boundary_ref else "the permissions boundary"
        if decision.effect is Effect.EXPLICIT_DENY:
            denies = [r for r in decision.deciding if r.effect == "Deny"]
            in_boundary = decision.blocked_by == ("boundary",)
            where = ", ".join(dict.fromkeys(self.statement_label(r) for r in denies)) or "a Deny statement"
            return f"explicitly denied by {where}" + (" in the permissions boundary" if in_boundary else "")
        sides = decision.blocked_by or ("identity",)
        if sides == ("boundary",):
            return f"outside the permissions boundary {boundary}"
        if "boundary" in sides:
            return f"granted neither by the role's policies nor by the permissions boundary {boundary}"
        return "not granted by any policy of the role"

    @staticmethod
    def condition_keys(decision: Decision) -> list[str]:
        """The condition keys that made a decision uncertain (unknowable at scan time)."""
        return sorted({u.key for u in decision.undecided if u.key and u.operator})

    def policy_labels(self) -> list[str]:
        return [ref.label for ref in self.refs.values()]


def _condition_keys(documents: Iterable[PolicyDocument]) -> set[str]:
    keys: set[str] = set()
    for document in documents:
        for statement in document.statements:
            for clause in statement.conditions:
                if clause.key_lc:
                    keys.add(clause.key_lc)
    return keys


def _request_keys(role: Role, account: str, documents: Iterable[PolicyDocument]) -> dict[str, Any]:
    """Every tested key UNKNOWN, except those fixed for any session of this role."""
    fixed = {"aws:principalaccount": account, "aws:principalarn": role.arn, "aws:principaltype": "AssumedRole"}
    return {key: fixed.get(key, UNKNOWN) for key in _condition_keys(documents)}


def effective_permissions(snapshot: AccountSnapshot, role_name: str) -> RolePermissions | None:
    """The role's policies parsed and ready for questions; None when the snapshot has no such role.
    Cached on the snapshot: every check asking about the same role shares one object (and its decisions)."""
    cache: dict[str, RolePermissions] = snapshot.caches.setdefault("role_permissions", {})
    if role_name in cache:
        return cache[role_name]
    role = snapshot.role(role_name)
    if role is None:
        return None
    library = policy_library(snapshot)
    identity: list[PolicyDocument] = []
    refs: dict[str, PolicyRef] = {}
    unreadable: list[PolicyRef] = []
    for attached in role.attached_policies:
        ref = _managed_ref(attached.arn, attached.name)
        document = library.document(attached.arn)
        if document is None:
            unreadable.append(ref)
            continue
        identity.append(document)
        refs[document.source] = ref
    for name, raw in role.inline_policies.items():
        source = f"inline:{role.name}:{name}"
        ref = PolicyRef("inline", name)
        document = parse_policy(raw, source=source)
        if not document.valid:
            unreadable.append(ref)
            continue
        identity.append(document)
        refs[source] = ref
    boundary: list[PolicyDocument] = []
    boundary_ref = None
    if role.boundary_arn:
        boundary_ref = library.ref(role.boundary_arn)
        document = library.document(role.boundary_arn)
        if document is None:
            unreadable.append(boundary_ref)
        else:
            boundary.append(document)
    permissions = RolePermissions(
        role=role,
        account=snapshot.account_id,
        partition=snapshot.partition,
        identity=tuple(identity),
        boundary=tuple(boundary),
        refs=refs,
        boundary_ref=boundary_ref,
        unreadable=tuple(unreadable),
        keys=_request_keys(role, snapshot.account_id, identity + boundary),
        library=library,
    )
    cache[role_name] = permissions
    return permissions
