"""Caller profiles: who the legitimate caller of an issuer is, how its claims look, and who counts as foreign.

A profile knows, for one kind of issuer (CHECKS.md "Identity keys" and "Owner boundary"):
- its identity keys (what pins the caller: GitHub `:sub`/`:repository`/`:repository_id`, Defender
  `sts:RoleSessionName`, ...);
- the documented form of an identity and its owner (GitHub owner, GitLab top-level group, EKS namespace, Defender
  customer tenant);
- how to turn an identity into token claims and a session name (the request context STS evaluates);
- foreign identities: another owner, an owner whose name extends the legitimate one, one with a changed letter;
- whether a StringLike pattern on an identity key is scoped (every string it matches has one owner).
"""

from __future__ import annotations

import re
import uuid
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
DEFENDER_PREFIX = "MicrosoftDefenderForClouds_"
# Fillers that turn a StringLike pattern into concrete candidate values ("would SOME value be admitted?").
FILLERS = ("x:ref:refs/heads/main", "ref:refs/heads/main", "main", "x", "0", "")
# A fixed foreign owner: nothing legitimate is called this.
FOREIGN_OWNER = "zz9-foreign-owner"
FOREIGN_GUID = "9d3c1a52-0b7e-4f8e-9a61-5c2f7e8d4b10"


@dataclass(frozen=True)
class Identity:
    """A caller identity: its owner plus whatever else its claims need (fields differ by profile)."""

    owner: str
    fields: tuple[tuple[str, str], ...] = ()
    label: str = ""

    def get(self, name: str, default: str = "") -> str:
        return dict(self.fields).get(name, default)

    def with_owner(self, owner: str, label: str) -> "Identity":
        return replace(self, owner=owner, label=label)


def _instantiate(pattern: str) -> list[str]:
    """Concrete strings a StringLike pattern matches, for candidate generation (bounded)."""
    if "*" not in pattern and "?" not in pattern:
        return [pattern]
    out = []
    for filler in FILLERS:
        out.append(pattern.replace("*", filler).replace("?", "x"))
    return list(dict.fromkeys(out))


def _literal_prefix(pattern: str) -> str:
    match = re.search(r"[*?]", pattern)
    return pattern if match is None else pattern[: match.start()]


def _near_owners(owner: str) -> list[tuple[str, str]]:
    """Owners a careless pattern admits besides `owner`: extended names and one changed character."""
    out = [(FOREIGN_OWNER, "another owner")]
    if owner:
        out.append((owner + "-evil", f"an owner whose name extends {owner!r}"))
        swapped = ("z" if owner[0] != "z" else "y") + owner[1:]
        out.append((swapped, f"an owner differing from {owner!r} in its first character"))
        if len(owner) > 1:
            out.append((owner[:-1] + ("z" if owner[-1] != "z" else "y"), f"an owner differing from {owner!r} in its last character"))
    return [(o, why) for o, why in out if o != owner]


@dataclass(frozen=True)
class Profile:
    kind: str
    identity_keys: tuple[str, ...]  # ":sub" = relative to the issuer key; "sts:RoleSessionName" = global
    shared_issuer: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    # ---------------------------------------------------------------- keys
    def absolute_keys(self, issuer_key: str) -> tuple[str, ...]:
        return tuple(issuer_key + k if k.startswith(":") else k for k in self.identity_keys)

    # ---------------------------------------------------------------- identities
    def parse(self, key: str, value: str) -> Identity | None:
        """An identity from a concrete value of identity key `key` (relative form), or None if not of the form."""
        raise NotImplementedError

    def example(self) -> Identity:
        raise NotImplementedError

    def claims(self, identity: Identity) -> tuple[dict[str, Any], str]:
        """(token claims besides iss/aud, session name) for this identity."""
        raise NotImplementedError

    def owner_pattern(self, key: str) -> str | None:
        """Regex the literal prefix of a scoped pattern on `key` must match (owner and its terminator)."""
        return None

    def foreign(self, legit: Identity) -> list[Identity]:
        return [legit.with_owner(owner, why) for owner, why in _near_owners(legit.owner)]

    def random_identity(self) -> Identity:
        return self.example().with_owner(FOREIGN_OWNER, "an unrelated owner")

    def candidates(self, key: str, patterns: list[str]) -> list[Identity]:
        found = []
        for pattern in patterns:
            for value in _instantiate(pattern):
                ident = self.parse(key, value)
                if ident is not None:
                    found.append(ident)
        return found

    def pattern_scoped(self, key: str, pattern: str) -> bool:
        """True when every string the pattern matches has the same owner (CHECKS.md "Owner boundary")."""
        if "*" not in pattern and "?" not in pattern:
            return True
        regex = self.owner_pattern(key)
        return bool(regex and re.match(regex, _literal_prefix(pattern)))


class GitHubProfile(Profile):
    SUB = re.compile(r"^repo:(?P<owner>[^/@:*?]+)(?:@(?P<oid>\d+))?/(?P<repo>[^/@:*?]+)(?:@(?P<rid>\d+))?:(?P<ctx>.+)$")

    def parse(self, key: str, value: str) -> Identity | None:
        if key == ":sub":
            m = self.SUB.match(value)
            if not m:
                return None
            return Identity(m["owner"], (("repo", m["repo"]), ("oid", m["oid"] or ""), ("rid", m["rid"] or ""),
                                         ("ctx", m["ctx"])))
        if key == ":repository":
            m = re.match(r"^([^/*?]+)/([^/*?]+)$", value)
            return Identity(m[1], (("repo", m[2]),)) if m else None
        if key == ":repository_id" and value.isdigit():
            return replace(self.example(), fields=self.example().fields + (("repo_id", value),))
        return None

    def example(self) -> Identity:
        return Identity("acme", (("repo", "infra"), ("ctx", "ref:refs/heads/main")))

    def claims(self, identity: Identity) -> tuple[dict[str, Any], str]:
        owner, repo = identity.owner, identity.get("repo", "infra")
        oid, rid = identity.get("oid"), identity.get("rid")
        ctx = identity.get("ctx", "ref:refs/heads/main")
        left = f"{owner}@{oid}" if oid else owner
        right = f"{repo}@{rid}" if rid else repo
        ref = ctx.split("ref:", 1)[1] if ctx.startswith("ref:") else "refs/heads/main"
        claims = {
            "sub": f"repo:{left}/{right}:{ctx}",
            "repository": f"{owner}/{repo}",
            "repository_owner": owner,
            "repository_id": identity.get("repo_id") or rid or str(zlib.crc32(f"{owner}/{repo}".encode())),
            "repository_owner_id": oid or str(zlib.crc32(owner.encode())),
            "job_workflow_ref": f"{owner}/{repo}/.github/workflows/deploy.yml@{ref}",
            "ref": ref,
            "actor": "octocat",
        }
        if ctx.startswith("environment:"):
            claims["environment"] = ctx.split(":", 1)[1]
        return claims, "GitHubActions"

    def owner_pattern(self, key: str) -> str | None:
        return {":sub": r"^repo:[^/@:*?]+[/@]", ":repository": r"^[^/*?]+/"}.get(key)

    def foreign(self, legit: Identity) -> list[Identity]:
        # Another owner keeps neither the owner's nor the repository's numeric id.
        return [replace(i, fields=tuple((k, "" if k in ("oid", "rid", "repo_id") else v) for k, v in i.fields))
                for i in super().foreign(legit)]


class GitLabProfile(Profile):
    def parse(self, key: str, value: str) -> Identity | None:
        m = re.match(r"^project_path:([^/*?:]+)/([^:*?]+):(.+)$", value) if key == ":sub" else None
        return Identity(m[1], (("project", m[2]), ("ctx", m[3]))) if m else None

    def example(self) -> Identity:
        return Identity("acme", (("project", "infra"), ("ctx", "ref_type:branch:ref:main")))

    def claims(self, identity: Identity) -> tuple[dict[str, Any], str]:
        path = f"{identity.owner}/{identity.get('project', 'infra')}"
        ctx = identity.get("ctx", "ref_type:branch:ref:main")
        return {"sub": f"project_path:{path}:{ctx}", "project_path": path, "namespace_path": identity.owner}, "GitLabRunner"

    def owner_pattern(self, key: str) -> str | None:
        return r"^project_path:[^/*?:]+/" if key == ":sub" else None


class EksProfile(Profile):
    def parse(self, key: str, value: str) -> Identity | None:
        m = re.match(r"^system:serviceaccount:([^:*?]+):([^:*?]+)$", value) if key == ":sub" else None
        return Identity(m[1], (("name", m[2]),)) if m else None

    def example(self) -> Identity:
        return Identity("default", (("name", "app"),))

    def claims(self, identity: Identity) -> tuple[dict[str, Any], str]:
        return {"sub": f"system:serviceaccount:{identity.owner}:{identity.get('name', 'app')}"}, "botocore-session-1700000000"

    def owner_pattern(self, key: str) -> str | None:
        return r"^system:serviceaccount:[^:*?]+:" if key == ":sub" else None


class DefenderProfile(Profile):
    """Defender identifies the customer by the session name `MicrosoftDefenderForClouds_<tenant>` (FACTS.md)."""

    SUB = "7c9b1e3a-2f4d-4e6b-8a1c-3d5e7f9a0b2c"  # a plausible service-principal object id

    def parse(self, key: str, value: str) -> Identity | None:
        m = re.match(rf"^{DEFENDER_PREFIX}({GUID})$", value) if key == "sts:RoleSessionName" else None
        return Identity(m[1].lower()) if m else None

    def example(self) -> Identity:
        return Identity(str(uuid.UUID(int=0x1234567812345678123456781234567)))

    def claims(self, identity: Identity) -> tuple[dict[str, Any], str]:
        prefix = identity.get("prefix", DEFENDER_PREFIX)
        return {"sub": self.SUB, "oid": self.SUB}, f"{prefix}{identity.owner}"

    def owner_pattern(self, key: str) -> str | None:
        return rf"^{DEFENDER_PREFIX}{GUID}" if key == "sts:RoleSessionName" else None

    def foreign(self, legit: Identity) -> list[Identity]:
        return [
            legit.with_owner(FOREIGN_GUID, "another Azure tenant"),
            Identity(legit.owner, (("prefix", "AttackerSession_"),), "another session-name prefix"),
        ]

    def random_identity(self) -> Identity:
        return Identity(FOREIGN_GUID, (), "an unrelated Azure tenant")


class OpaqueSubjectProfile(Profile):
    """Entra apps and generic issuers: the subject is opaque, so the whole value is the owner."""

    def parse(self, key: str, value: str) -> Identity | None:
        if key in self.identity_keys and value and "*" not in value and "?" not in value:
            return Identity(value, (("key", key),))
        return None

    def example(self) -> Identity:
        return Identity("3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b")

    def claims(self, identity: Identity) -> tuple[dict[str, Any], str]:
        claims = {"sub": identity.owner}
        if ":oid" in self.identity_keys:
            claims["oid"] = identity.owner
        return claims, "connector-health-caller"

    def foreign(self, legit: Identity) -> list[Identity]:
        return [legit.with_owner(FOREIGN_GUID, "another subject"),
                legit.with_owner(legit.owner + "-evil", f"a subject extending {legit.owner!r}")]


PROFILES: dict[str, Profile] = {
    "github-actions": GitHubProfile("github", (":sub", ":repository", ":repository_id"), extra={"identity_claims": (
        "sub", "repository", "repository_owner", "repository_id", "repository_owner_id")}),
    "gitlab": GitLabProfile("gitlab", (":sub",), extra={"identity_claims": ("sub", "project_path", "namespace_path")}),
    "eks-irsa": EksProfile("eks", (":sub",)),
    "defender-for-cloud": DefenderProfile("defender", ("sts:RoleSessionName",), shared_issuer=False),
    "entra-app": OpaqueSubjectProfile("entra", (":sub", ":oid"), extra={"identity_claims": ("sub", "oid")}),
    "generic": OpaqueSubjectProfile("generic", (":sub",)),
}

DEFENDER_ISSUER_KEY = "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"


def profile_for_issuer(issuer_key: str) -> tuple[str, Profile]:
    """The profile (and preset name) of a well-known issuer, from its IAM key (URL without https://)."""
    key = issuer_key.lower()
    if key == DEFENDER_ISSUER_KEY:
        return "defender-for-cloud", PROFILES["defender-for-cloud"]
    if key.startswith("token.actions.githubusercontent.com"):
        return "github-actions", PROFILES["github-actions"]
    if re.match(r"^oidc\.eks\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/id/", key):
        return "eks-irsa", PROFILES["eks-irsa"]
    if key.startswith("gitlab.com") or "gitlab" in key.split("/")[0]:
        return "gitlab", PROFILES["gitlab"]
    if key.startswith(("sts.windows.net/", "login.microsoftonline.com/")):
        return "entra-app", PROFILES["entra-app"]
    return "generic", PROFILES["generic"]


def legit_identity(profile: Profile, caller: dict[str, str]) -> Identity | None:
    """The legitimate identity from configured caller values (`sub`, `session_name`, `sts:RoleSessionName`, ...)."""
    for name, value in caller.items():
        key = {"session_name": "sts:RoleSessionName", "sts:rolesessionname": "sts:RoleSessionName"}.get(name.lower(), name)
        if not key.startswith((":", "sts:")):
            key = ":" + key.split(":")[-1]
        ident = profile.parse(key, value)
        if ident is not None:
            return replace(ident, label="the legitimate caller")
    return None
