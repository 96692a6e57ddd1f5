"""Issuer grammars: who may call a role through one issuer, what its token looks like, and who counts as foreign.

One `Profile` per issuer family (FACTS.md "Identity claims that STS exposes as condition keys"). A profile knows
- its identity keys (what pins a caller: GitHub `:sub`/`:repository`/`:repository_owner`..., Defender
  `sts:RoleSessionName`, Cognito's pool in `:aud`) and the claims STS exposes as condition keys for it;
- the grammar of an identity value and its owner boundary (GitHub owner, GitLab top-level group, Terraform Cloud
  organization, EKS namespace, Buildkite organization, Defender customer tenant, Sentinel workspace) and the unit
  inside an owner (repository, project, workspace, pipeline), so that a StringLike pattern can be judged by what it
  matches, whatever the owner is called;
- how to turn an identity into the token claims and session name STS evaluates;
- how to fill a pattern's wildcards: the analysis fills every pattern of the policy in many ways and keeps the
  values that parse to ANOTHER owner (or to a value the caller chooses, e.g. a GitHub sub that starts with the
  workflow name): those are the adversarial callers, derived from the pattern itself rather than from an example.

Nothing here knows a particular owner: an identity's owner is whatever the policy or the config names.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
DEFENDER_PREFIX = "MicrosoftDefenderForClouds_"
# The Microsoft-owned Entra tenant whose issuer Defender for Cloud and Sentinel use (FACTS.md).
MICROSOFT_ISSUER_KEY = "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
# Owner marker of a value the caller chooses (any owner can present it): it pins nobody.
CALLER_CHOSEN = "\x00caller-chosen"
# A foreign owner and tenant nothing legitimate is called (the analysis also derives foreign owners from the
# policy's own patterns; these only stand for "somebody else").
FOREIGN_OWNER = "zz9-foreign-owner"
FOREIGN_GUID = "9d3c1a52-0b7e-4f8e-9a61-5c2f7e8d4b10"
# Bounds: hostile policies may hold thousands of values and wildcards.
MAX_WILDCARDS = 6
MAX_FILLS = 240
# Audiences that many tenants of one issuer use alike: pinning them pins no owner.
SHARED_AUDIENCES = frozenset({"sts.amazonaws.com", "sts.amazon.com"})


@dataclass(frozen=True)
class Ident:
    """A caller identity: its owner (tenant boundary), the unit inside it, and the claim values it implies.

    `claims` are the token claims this identity fixes (the rest come from `Profile.render`); `audience` is set when
    the identity includes the audience (Cognito pools, the apps of a dedicated issuer)."""

    owner: str
    unit: str = ""
    claims: tuple[tuple[str, str], ...] = ()
    session: str = ""
    audience: str | None = None
    label: str = ""

    def get(self, name: str, default: str = "") -> str:
        return dict(self.claims).get(name, default)

    def labelled(self, label: str) -> "Ident":
        return replace(self, label=label)

    @property
    def caller_chosen(self) -> bool:
        return self.owner == CALLER_CHOSEN


def _wildcards(pattern: str) -> list[int]:
    return [i for i, c in enumerate(pattern) if c in "*?"]


def literal_prefix(pattern: str) -> str:
    positions = _wildcards(pattern)
    return pattern if not positions else pattern[: positions[0]]


def fill_pattern(pattern: str, fillers: tuple[str, ...], defaults: tuple[str, ...]) -> list[str]:
    """Concrete strings a StringLike pattern matches: each of the first wildcards filled with each filler while the
    others take each default (`?` takes one character). Bounded, deterministic, first variants most 'natural'."""
    positions = _wildcards(pattern)
    if not positions:
        return [pattern]
    varied = positions[:MAX_WILDCARDS]

    def fill(choice: dict[int, str], default: str) -> str:
        out, last = [], 0
        for pos in positions:
            out.append(pattern[last:pos])
            text = choice.get(pos, default)
            out.append((text[:1] or "x") if pattern[pos] == "?" else text)
            last = pos + 1
        out.append(pattern[last:])
        return "".join(out)

    values: dict[str, None] = {}
    for default in defaults:
        values.setdefault(fill({}, default))
    for pos in varied:
        for filler in fillers:
            for default in defaults:
                values.setdefault(fill({pos: filler}, default))
                if len(values) >= MAX_FILLS:
                    return list(values)
    return list(values)


def stable_id(text: str) -> str:
    """A deterministic numeric id for a name (repository and owner ids of simulated callers)."""
    return str(zlib.crc32(text.encode()) or 1)


@dataclass(frozen=True)
class Profile:
    """An issuer family. Subclasses implement the grammar; this base is the shape every analysis relies on."""

    kind: str
    # Identity keys: ":sub" is relative to the issuer key; "sts:RoleSessionName" is global.
    identity_keys: tuple[str, ...] = (":sub",)
    # Claims STS exposes as `<issuer key>:<claim>` for this issuer (a condition on any other claim matches nothing).
    exposed_claims: tuple[str, ...] = ("sub",)
    # True when any app of the issuer can mint tokens the provider accepts (Google, Cognito): there is no
    # ClientIDList limiting the audiences that reach the trust policy.
    open_audiences: bool = False
    # True when an audience specific to the customer (an app or pool id) pins the caller as well as `sub` does.
    audience_pins: bool = False
    # The audience the issuer's tokens carry by default, when the policy and the config do not say.
    default_audience: str = "sts.amazonaws.com"
    # What the owner and the unit are called in messages.
    owner_word: str = "owner"
    unit_word: str = "unit"
    # Keys a caller may be described by (--caller KEY=VALUE, config `caller`), besides aud and the session name.
    extra_caller_keys: tuple[str, ...] = ()
    # Claims that are the caller's own choice or shared by anyone (environment, workflow, ...): simulated callers,
    # legitimate or foreign, all carry the values the policy asks for.
    fillers: tuple[str, ...] = ("x", "", "0", "zz9", "zz9-other")
    defaults: tuple[str, ...] = ("x", "")
    session_name: str = "connector-health-caller"
    extra: dict[str, Any] = field(default_factory=dict)

    # ---------------------------------------------------------------- keys
    def absolute_keys(self, issuer_key: str) -> tuple[str, ...]:
        return tuple(issuer_key + k if k.startswith(":") else k for k in self.identity_keys)

    @property
    def caller_keys(self) -> tuple[str, ...]:
        """Keys a legitimate caller can be described by (the error for an unknown key names these)."""
        # Every caller names a session (sts:RoleSessionName is in every request context).
        keys = ["aud", *(k[1:] for k in self.identity_keys if k.startswith(":")), *self.extra_caller_keys,
                "session_name", "sts:RoleSessionName"]
        return tuple(dict.fromkeys(keys))

    # ---------------------------------------------------------------- grammar
    def parse(self, key: str, value: str) -> Ident | None:
        """The identity a concrete value of identity key `key` (relative form) stands for, or None."""
        if key in self.identity_keys and value:
            return Ident(value, value, ((key.lstrip(":"), value),) if key.startswith(":") else ())
        return None

    def render(self, ident: Ident) -> tuple[dict[str, Any], str]:
        """(token claims except aud, session name) of an identity."""
        claims = {"sub": ident.owner if ident.owner != CALLER_CHOSEN else FOREIGN_OWNER}
        claims.update(dict(ident.claims))
        return claims, ident.session or self.session_name

    def example(self) -> Ident:
        """A caller of the documented form, used only when neither the config nor the policy names one."""
        return Ident("3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b", "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
                     (("sub", "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"),))

    def with_owner(self, ident: Ident, owner: str, label: str) -> Ident:
        """The same caller under another owner (everything the owner determines changes with it)."""
        return Ident(owner, owner, (("sub", owner),), ident.session, None, label)

    def prefix_scope(self, key: str, prefix: str) -> str | None:
        """For the literal prefix of a pattern on `key`: "unit" when it already fixes the unit (a wildcard after it
        stays inside one repository/project/...), "owner" when it fixes only the owner, None when it fixes neither."""
        return None

    def completions(self, key: str, pattern: str) -> list[str]:
        """Values of the pattern a generic filling would miss (e.g. the rest of a partly written tenant GUID)."""
        return []

    # ---------------------------------------------------------------- callers
    def foreign(self, legit: Ident) -> list[Ident]:
        """Callers of other owners: an unrelated one and owners whose names a careless pattern also matches."""
        if legit.caller_chosen:
            return [self.with_owner(legit, FOREIGN_OWNER, "an unrelated owner")]
        owner = legit.owner
        out = [(FOREIGN_OWNER, f"another {self.owner_word}")]
        if owner:
            out.append((owner + "-zz9", f"{_a(self.owner_word)} whose name extends {owner!r}"))
            first = "z" if owner[0] != "z" else "y"
            out.append((first + owner[1:], f"{_a(self.owner_word)} differing from {owner!r} in its first character"))
        return [self.with_owner(legit, o, why) for o, why in out if o != owner]

    def caller_ident(self, values: dict[str, str]) -> Ident | None:
        """The legitimate caller from configured values (keys already validated against `caller_keys`)."""
        found: Ident | None = None
        extra: dict[str, str] = {}
        for name, value in values.items():
            key = normalise_caller_key(name)
            if key in ("aud", "sts:RoleSessionName"):
                continue
            rel = ":" + key
            ident = self.parse(rel, value) if rel in self.identity_keys else None
            if ident is not None and found is None:
                found = ident
            elif ident is None:
                extra[key] = value
        session = values.get("session_name") or values.get("sts:RoleSessionName") or ""
        if session and "sts:RoleSessionName" in self.identity_keys:
            found = self.parse("sts:RoleSessionName", session) or found
        if found is None:
            return None
        claims = dict(found.claims) | extra
        return replace(found, claims=tuple(claims.items()), label="the legitimate caller")


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def normalise_caller_key(name: str) -> str:
    key = name.strip()
    if key.lower() in ("session_name", "sts:rolesessionname"):
        return "sts:RoleSessionName"
    return key.split(":")[-1] if not key.lower().startswith("sts:") else key


# ------------------------------------------------------------------------------------------------ GitHub
# The claim keys a GitHub sub can start with whose value GitHub sets from the repository itself; every other first
# key (workflow, environment, ref, context, job_workflow_ref, actor, ...) is chosen by whoever writes the workflow or
# triggers it, and a repository may pick any template (GitHub's OIDC subject customisation), so it pins nobody.
_GH_OWNER_KEYS = ("repo", "repository_owner", "repository_owner_id", "repository_id", "enterprise", "enterprise_id")
_GH_SUB = re.compile(
    r"^repo:(?P<owner>[A-Za-z0-9][A-Za-z0-9._-]*)(?:@(?P<oid>\d+))?/(?P<repo>[A-Za-z0-9._-]+)(?:@(?P<rid>\d+))?"
    r"(?::(?P<ctx>pull_request|[a-z_]+:.*))?$")
_GH_CUSTOM = re.compile(r"^(?P<key>[a-z_]+):(?P<value>[^:]*)(?::(?P<rest>[a-z_]+(?::.*)?))?$")


@dataclass(frozen=True)
class GitHubProfile(Profile):
    """github.com, GHES hosts (`HOST/_services/token`), data-residency `token.actions.<x>.ghe.com` and enterprise
    issuers (`token.actions.githubusercontent.com/<enterprise>`): one grammar (GitHub docs; FACTS.md)."""

    def parse(self, key: str, value: str) -> Ident | None:
        if key == ":sub":
            return self._parse_sub(value)
        if key == ":repository":
            m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)/([A-Za-z0-9._-]+)", value)
            return Ident(m[1].lower(), f"{m[1]}/{m[2]}".lower(), (("repository", value),)) if m else None
        if key == ":repository_owner" and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value):
            return Ident(value.lower(), "", (("repository_owner", value),))
        if key == ":repository_owner_id" and value.isdigit():
            return Ident("#" + value, "", (("repository_owner_id", value),))
        if key == ":repository_id" and value.isdigit():
            return Ident("repo#" + value, "repo#" + value, (("repository_id", value),))
        return None

    def _parse_sub(self, value: str) -> Ident | None:
        m = _GH_SUB.match(value)
        if m:
            owner, repo = m["owner"], m["repo"]
            claims = [("sub", value), ("repository", f"{owner}/{repo}"), ("repository_owner", owner)]
            if m["oid"]:
                claims.append(("repository_owner_id", m["oid"]))
            if m["rid"]:
                claims.append(("repository_id", m["rid"]))
            ctx = m["ctx"] or ""
            for name in ("ref", "environment"):  # the context the default template renders (git refs hold no ':')
                if ctx.startswith(name + ":"):
                    claims.append((name, ctx[len(name) + 1:].split(":")[0]))
            return Ident(owner.lower(), f"{owner}/{repo}".lower(), tuple(claims))
        m = _GH_CUSTOM.match(value)
        if not m:
            return None
        first, first_value = m["key"], m["value"]
        if first == "repo":
            return None  # `repo:` without OWNER/REPO is not a subject GitHub issues
        if first not in _GH_OWNER_KEYS:
            return Ident(CALLER_CHOSEN, "", (("sub", value),))
        if not first_value:
            return None
        owner = {"repository_owner": first_value.lower(), "repository_owner_id": "#" + first_value,
                 "repository_id": "repo#" + first_value}.get(first, f"{first}:{first_value}")
        claim = {"enterprise": "enterprise", "enterprise_id": "enterprise_id"}.get(first, first)
        return Ident(owner, owner if first == "repository_id" else "", (("sub", value), (claim, first_value)))

    def render(self, ident: Ident) -> tuple[dict[str, Any], str]:
        given = dict(ident.claims)
        owner = ident.owner if not ident.caller_chosen and not ident.owner.startswith(("#", "repo#", "enterprise")) \
            else FOREIGN_OWNER
        owner_name = given.get("repository_owner") or owner
        repository = given.get("repository") or f"{owner_name}/{ident.unit.split('/')[-1] if '/' in ident.unit else 'app'}"
        ref = given.get("ref", "refs/heads/main")
        claims = {
            "sub": f"repo:{repository}:ref:{ref}",
            "repository": repository,
            "repository_owner": owner_name,
            "repository_id": stable_id(repository.lower()),
            "repository_owner_id": stable_id(owner_name.lower()),
            "ref": ref,
            "workflow": "deploy",
            "job_workflow_ref": f"{repository}/.github/workflows/deploy.yml@{ref}",
            "actor": "octocat",
            "actor_id": "583231",
        }
        claims.update(given)
        return claims, "GitHubActions"

    def example(self) -> Ident:
        return self._parse_sub("repo:example-owner/example-repo:ref:refs/heads/main")  # type: ignore[return-value]

    def with_owner(self, ident: Ident, owner: str, label: str) -> Ident:
        given = dict(ident.claims)
        keep = {k: v for k, v in given.items() if k in ("ref", "environment", "workflow", "job_workflow_ref", "actor",
                                                          "actor_id", "event_name", "ref_type")}
        repo = ident.unit.split("/")[-1] if "/" in ident.unit else "app"
        sub = given.get("sub", "")
        m = _GH_SUB.match(sub)
        if m:
            new_sub = f"repo:{owner}/{m['repo']}" + (f":{m['ctx']}" if m["ctx"] else "")
        elif sub and self._parse_sub(sub) is not None and self._parse_sub(sub).caller_chosen:
            new_sub = sub  # anyone can present a caller-chosen subject
        else:
            new_sub = f"repo:{owner}/{repo}:ref:{keep.get('ref', 'refs/heads/main')}"
        claims = {**keep, "sub": new_sub, "repository": f"{owner}/{repo}", "repository_owner": owner}
        return Ident(owner, f"{owner}/{repo}", tuple(claims.items()), label=label)

    def prefix_scope(self, key: str, prefix: str) -> str | None:
        name = r"[A-Za-z0-9][A-Za-z0-9._-]*"
        if key == ":sub":
            if re.match(rf"^repo:{name}(@\d+)?/{name}(@\d+)?:", prefix):
                return "unit"
            if re.match(rf"^repo:{name}(@\d+)?/", prefix) or re.match(rf"^repository_owner:{name}:", prefix) \
                    or re.match(r"^repository_owner_id:\d+:", prefix) or re.match(r"^enterprise(_id)?:[^:]+:", prefix):
                return "owner"
            if re.match(r"^repository_id:\d+:", prefix):
                return "unit"
            return None
        if key == ":repository":
            return "owner" if re.match(rf"^{name}/", prefix) else None
        return None


# ------------------------------------------------------------------------------------------------ GitLab
_GL_SUB = re.compile(r"^project_path:(?P<path>(?P<group>[A-Za-z0-9_.][A-Za-z0-9_.-]*)(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+)"
                     r":ref_type:(?P<ref_type>branch|tag):ref:(?P<ref>.+)$")


@dataclass(frozen=True)
class GitLabProfile(Profile):
    """gitlab.com and self-managed instances: `project_path:GROUP/[SUBGROUP/]PROJECT:ref_type:branch|tag:ref:REF`."""

    def parse(self, key: str, value: str) -> Ident | None:
        m = _GL_SUB.match(value) if key == ":sub" else None
        if not m:
            return None
        return Ident(m["group"].lower(), m["path"].lower(), (("sub", value), ("ref", m["ref"])))

    def render(self, ident: Ident) -> tuple[dict[str, Any], str]:
        owner = ident.owner if not ident.caller_chosen else FOREIGN_OWNER
        path = ident.unit or f"{owner}/app"
        claims = {"sub": f"project_path:{path}:ref_type:branch:ref:main"} | dict(ident.claims)
        return claims, "GitLabRunner"

    def example(self) -> Ident:
        return self.parse(":sub", "project_path:example-group/example-project:ref_type:branch:ref:main")  # type: ignore

    def with_owner(self, ident: Ident, owner: str, label: str) -> Ident:
        rest = ident.unit.split("/", 1)[1] if "/" in ident.unit else "app"
        ref = ident.get("ref", "main")
        return Ident(owner, f"{owner}/{rest}", (("sub", f"project_path:{owner}/{rest}:ref_type:branch:ref:{ref}"),
                                                 ("ref", ref)), label=label)

    def prefix_scope(self, key: str, prefix: str) -> str | None:
        if key != ":sub":
            return None
        seg = r"[A-Za-z0-9_.][A-Za-z0-9_.-]*"
        if re.match(rf"^project_path:{seg}(/{seg})+:", prefix):
            return "unit"
        return "owner" if re.match(rf"^project_path:{seg}/", prefix) else None


# ------------------------------------------------------------------------------------------------ Terraform Cloud
_TFC_SUB = re.compile(r"^organization:(?P<org>[A-Za-z0-9_-]+)(?::project:(?P<project>[^:]+))?:workspace:(?P<ws>[A-Za-z0-9_-]+)"
                      r":run_phase:(?P<phase>plan|apply)$")


@dataclass(frozen=True)
class TerraformProfile(Profile):
    """HCP Terraform (app.terraform.io) and Terraform Enterprise hosts:
    `organization:ORG[:project:PROJECT]:workspace:WS:run_phase:plan|apply` (HashiCorp docs)."""

    def parse(self, key: str, value: str) -> Ident | None:
        m = _TFC_SUB.match(value) if key == ":sub" else None
        if not m:
            return None
        return Ident(m["org"].lower(), f"{m['org']}/{m['ws']}".lower(), (("sub", value),))

    def render(self, ident: Ident) -> tuple[dict[str, Any], str]:
        owner = ident.owner if not ident.caller_chosen else FOREIGN_OWNER
        ws = ident.unit.split("/")[-1] if "/" in ident.unit else "app"
        claims = {"sub": f"organization:{owner}:project:Default Project:workspace:{ws}:run_phase:apply"} | dict(ident.claims)
        return claims, "terraform-run"

    def example(self) -> Ident:
        return self.parse(":sub", "organization:example-org:project:Default Project:workspace:example-ws:run_phase:apply")  # type: ignore

    def with_owner(self, ident: Ident, owner: str, label: str) -> Ident:
        sub = ident.get("sub")
        m = _TFC_SUB.match(sub)
        new = (f"organization:{owner}" + sub[m.end("org"):]) if m else \
            f"organization:{owner}:project:Default Project:workspace:app:run_phase:apply"
        return replace(self.parse(":sub", new) or Ident(owner), label=label)

    def prefix_scope(self, key: str, prefix: str) -> str | None:
        if key != ":sub":
            return None
        if re.match(r"^organization:[A-Za-z0-9_-]+(:project:[^:*?]+)?:workspace:[A-Za-z0-9_-]+:", prefix):
            return "unit"
        return "owner" if re.match(r"^organization:[A-Za-z0-9_-]+:", prefix) else None


# ------------------------------------------------------------------------------------------------ EKS
_EKS_SUB = re.compile(r"^system:serviceaccount:(?P<ns>[a-z0-9]([-a-z0-9]*[a-z0-9])?):(?P<sa>[a-z0-9]([-a-z0-9.]*[a-z0-9])?)$")


@dataclass(frozen=True)
class EksProfile(Profile):
    """EKS service accounts (IRSA): `system:serviceaccount:NAMESPACE:NAME`; the namespace is the owner boundary."""

    def parse(self, key: str, value: str) -> Ident | None:
        m = _EKS_SUB.match(value) if key == ":sub" else None
        return Ident(m["ns"], m["ns"], (("sub", value),)) if m else None

    def render(self, ident: Ident) -> tuple[dict[str, Any], str]:
        owner = ident.owner if not ident.caller_chosen else FOREIGN_OWNER
        return {"sub": f"system:serviceaccount:{owner}:app"} | dict(ident.claims), "botocore-session-1700000000"

    def example(self) -> Ident:
        return self.parse(":sub", "system:serviceaccount:example-namespace:example-sa")  # type: ignore[return-value]

    def with_owner(self, ident: Ident, owner: str, label: str) -> Ident:
        name = ident.get("sub").rsplit(":", 1)[-1] or "app"
        return Ident(owner, owner, (("sub", f"system:serviceaccount:{owner}:{name}"),), label=label)

    def prefix_scope(self, key: str, prefix: str) -> str | None:
        # The namespace is the owner and nothing finer is a boundary: a wildcard inside one namespace stays in it.
        return "unit" if key == ":sub" and re.match(r"^system:serviceaccount:[a-z0-9][-a-z0-9]*:", prefix) else None


# ------------------------------------------------------------------------------------------------ CircleCI
_CCI_SUB = re.compile(r"^org/(?P<org>" + GUID + r")/project/(?P<project>" + GUID + r")/user/(?P<user>" + GUID + r")$")


@dataclass(frozen=True)
class CircleCiProfile(Profile):
    """CircleCI (`oidc.circleci.com/org/ORG_ID`): `org/ORG_ID/project/PROJECT_ID/user/USER_ID`, audience = org id.
    The issuer is per organisation, so the project is the unit that matters."""

    def parse(self, key: str, value: str) -> Ident | None:
        m = _CCI_SUB.match(value) if key == ":sub" else None
        return Ident(m["org"].lower(), m["project"].lower(), (("sub", value),)) if m else None

    def render(self, ident: Ident) -> tuple[dict[str, Any], str]:
        org = ident.owner if re.fullmatch(GUID, ident.owner or "") else FOREIGN_GUID
        project = ident.unit if re.fullmatch(GUID, ident.unit or "") else FOREIGN_GUID
        return {"sub": f"org/{org}/project/{project}/user/{FOREIGN_GUID}"} | dict(ident.claims), "circleci-job"

    def example(self) -> Ident:
        g = "00000000-0000-4000-8000-0000000000"
        return self.parse(":sub", f"org/{g}01/project/{g}02/user/{g}03")  # type: ignore[return-value]

    def with_owner(self, ident: Ident, owner: str, label: str) -> Ident:
        guid = owner if re.fullmatch(GUID, owner) else FOREIGN_GUID
        sub = ident.get("sub")
        m = _CCI_SUB.match(sub)
        new = f"org/{m['org']}/project/{guid}/user/{m['user']}" if m else f"org/{guid}/project/{guid}/user/{guid}"
        return replace(self.parse(":sub", new) or Ident(guid), owner=guid if not m else ident.owner, unit=guid, label=label)

    def foreign(self, legit: Ident) -> list[Ident]:
        # Inside one organisation's issuer the boundary is the project: a caller of another project.
        return [self.with_owner(legit, FOREIGN_GUID, "a job of another project")]

    def prefix_scope(self, key: str, prefix: str) -> str | None:
        if key == ":sub" and re.match(r"^org/" + GUID + r"/project/" + GUID + "/", prefix):
            return "unit"
        return "owner" if key == ":sub" and re.match(r"^org/" + GUID + "/", prefix) else None


# ------------------------------------------------------------------------------------------------ Buildkite
_BK_SUB = re.compile(r"^organization:(?P<org>[a-z0-9-]+):pipeline:(?P<pipeline>[a-z0-9-]+):.+$")


@dataclass(frozen=True)
class BuildkiteProfile(Profile):
    """Buildkite (agent.buildkite.com, shared by every organisation):
    `organization:ORG:pipeline:PIPELINE:ref:REF:commit:SHA:step:KEY` (Buildkite docs)."""

    def parse(self, key: str, value: str) -> Ident | None:
        m = _BK_SUB.match(value) if key == ":sub" else None
        return Ident(m["org"], f"{m['org']}/{m['pipeline']}", (("sub", value),)) if m else None

    def render(self, ident: Ident) -> tuple[dict[str, Any], str]:
        owner = ident.owner if not ident.caller_chosen else FOREIGN_OWNER
        pipeline = ident.unit.split("/")[-1] if "/" in ident.unit else "app"
        sub = f"organization:{owner}:pipeline:{pipeline}:ref:refs/heads/main:commit:0123abc:step:deploy"
        return {"sub": sub} | dict(ident.claims), "buildkite-job"

    def example(self) -> Ident:
        return self.parse(":sub", "organization:example-org:pipeline:example-pipeline:ref:refs/heads/main:commit:0:step:x")  # type: ignore

    def with_owner(self, ident: Ident, owner: str, label: str) -> Ident:
        sub = ident.get("sub")
        m = _BK_SUB.match(sub)
        new = f"organization:{owner}" + sub[m.end("org"):] if m else \
            f"organization:{owner}:pipeline:app:ref:refs/heads/main:commit:0:step:x"
        return replace(self.parse(":sub", new) or Ident(owner), label=label)

    def prefix_scope(self, key: str, prefix: str) -> str | None:
        if key != ":sub":
            return None
        if re.match(r"^organization:[a-z0-9-]+:pipeline:[a-z0-9-]+:", prefix):
            return "unit"
        return "owner" if re.match(r"^organization:[a-z0-9-]+:", prefix) else None


# ------------------------------------------------------------------------------------------------ Session-name callers
@dataclass(frozen=True)
class SessionNameProfile(Profile):
    """Microsoft's services on Microsoft's own Entra tenant (Defender for Cloud, Sentinel): every customer shares the
    issuer and the service principal, so the caller is told apart only by the session name
    `MicrosoftDefenderForClouds_<GUID>` (Defender: the customer's tenant id; Sentinel: the workspace id)."""

    def _prefix(self) -> str:
        return self.extra.get("prefix", DEFENDER_PREFIX)

    def parse(self, key: str, value: str) -> Ident | None:
        if key != "sts:RoleSessionName":
            return None
        m = re.fullmatch(rf"(?P<prefix>[\w+=,.@-]*?)(?P<guid>{GUID})", value)
        if not m or m["prefix"] != self._prefix():
            return None
        guid = m["guid"].lower()
        return Ident(guid, guid, (), session=value)

    def render(self, ident: Ident) -> tuple[dict[str, Any], str]:
        sp = "7c9b1e3a-2f4d-4e6b-8a1c-3d5e7f9a0b2c"  # a plausible object id of Microsoft's service principal
        return {"sub": sp, "oid": sp} | dict(ident.claims), ident.session or f"{self._prefix()}{ident.owner}"

    def example(self) -> Ident:
        guid = "12345678-1234-4567-8123-456781234567"
        return Ident(guid, guid, (), session=f"{self._prefix()}{guid}")

    def with_owner(self, ident: Ident, owner: str, label: str) -> Ident:
        guid = owner if re.fullmatch(GUID, owner) else FOREIGN_GUID
        return Ident(guid, guid, (), session=f"{self._prefix()}{guid}", label=label)

    def foreign(self, legit: Ident) -> list[Ident]:
        return [
            self.with_owner(legit, FOREIGN_GUID, f"another {self.owner_word}"),
            Ident(legit.owner, legit.unit, (), session=f"AttackerSession_{legit.owner}", label="another session-name prefix"),
        ]

    def prefix_scope(self, key: str, prefix: str) -> str | None:
        if key == "sts:RoleSessionName" and re.match(rf"^{re.escape(self._prefix())}{GUID}", prefix):
            return "unit"
        return None

    def completions(self, key: str, pattern: str) -> list[str]:
        # `..._e3e70682*` spans every tenant whose id starts so: complete the GUID in two different ways.
        head = literal_prefix(pattern)
        if key != "sts:RoleSessionName" or not head.startswith(self._prefix()):
            return []
        partial = head[len(self._prefix()):]
        out = []
        for template in (FOREIGN_GUID, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"):
            if len(partial) < len(template) and re.fullmatch(rf"{GUID}", partial + template[len(partial):]):
                out.append(head + template[len(partial):])
        return out


# ------------------------------------------------------------------------------------------------ Audience-pinned
@dataclass(frozen=True)
class AudienceProfile(Profile):
    """Issuers where the customer-specific audience pins the caller as well as `sub` does: issuers connector-health
    has no grammar for (only literal aud/sub values count), Google (`:aud` is the OAuth client, or a service
    account's azp), Cognito identity pools (`:aud` is the pool id; FACTS.md)."""

    def example(self) -> Ident:
        return Ident("3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b", "", (("sub", "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"),))

    def render(self, ident: Ident) -> tuple[dict[str, Any], str]:
        claims = {"sub": FOREIGN_GUID if ident.caller_chosen else (ident.get("sub") or ident.owner)}
        claims.update(self.extra.get("claims", {}))
        claims.update(dict(ident.claims))
        return claims, self.session_name

    def with_owner(self, ident: Ident, owner: str, label: str) -> Ident:
        # Another subject of another app (a subject alone means nothing across apps of an open issuer).
        return Ident(owner, "", (("sub", owner),), audience=self.extra.get("foreign_audience", "connector-health-foreign-app"),
                     label=label)

    def foreign(self, legit: Ident) -> list[Ident]:
        return [self.with_owner(legit, FOREIGN_GUID, f"another {self.owner_word}")]


@dataclass(frozen=True)
class EntraProfile(Profile):
    """A customer's own Entra tenant (v1 `sts.windows.net/<tid>/`, v2 `login.microsoftonline.com/<tid>/v2.0`): any
    principal of the tenant can ask for a token for the app, so `:sub` or `:oid` must name the caller."""

    def parse(self, key: str, value: str) -> Ident | None:
        if key in (":sub", ":oid") and value and "*" not in value and "?" not in value:
            return Ident(value.lower(), value.lower(), (("sub", value), ("oid", value)))
        return None

    def with_owner(self, ident: Ident, owner: str, label: str) -> Ident:
        return Ident(owner, owner, (("sub", owner), ("oid", owner)), label=label)

    def foreign(self, legit: Ident) -> list[Ident]:
        return [self.with_owner(legit, FOREIGN_GUID, "another principal of the tenant")]


GITHUB_CLAIMS = ("sub", "actor", "actor_id", "job_workflow_ref", "repository", "repository_id", "repository_owner",
                 "repository_owner_id", "workflow", "ref", "environment", "enterprise_id")

PROFILES: dict[str, Profile] = {
    "github-actions": GitHubProfile(
        "github", (":sub", ":repository", ":repository_id", ":repository_owner", ":repository_owner_id"),
        exposed_claims=GITHUB_CLAIMS, owner_word="GitHub owner", unit_word="repository",
        extra_caller_keys=tuple(c for c in GITHUB_CLAIMS if c not in ("sub",)),
        fillers=("x:ref:refs/heads/main", "/x:ref:refs/heads/main", "ref:refs/heads/main", "x/x:ref:refs/heads/main",
                 "main", "x", "", "0", "-zz9/x:ref:refs/heads/main", "zz9-other", "workflow:x",
                 "repo:zz9-other/x:ref:refs/heads/main"),
        defaults=("ref:refs/heads/main", "x", "")),
    "gitlab": GitLabProfile(
        "gitlab", (":sub",), owner_word="top-level group", unit_word="project",
        default_audience="https://gitlab.com",
        fillers=("x:ref_type:branch:ref:main", "/x:ref_type:branch:ref:main", "ref_type:branch:ref:main",
                 "branch:ref:main", "main", "x", "",
                 "x/x:ref_type:branch:ref:main", "-zz9/x:ref_type:branch:ref:main", "zz9-other"),
        defaults=("main", "x", "")),
    "terraform": TerraformProfile(
        "terraform", (":sub",), owner_word="organization", unit_word="workspace", default_audience="aws.workload.identity",
        fillers=("apply", "x", "", "project:x:workspace:x:run_phase:apply", "workspace:x:run_phase:apply",
                 ":project:x:workspace:x:run_phase:apply", "x:workspace:x:run_phase:apply",
                 "-zz9:project:x:workspace:x:run_phase:apply", "zz9-other"),
        defaults=("apply", "x", "")),
    "eks-irsa": EksProfile("eks", (":sub",), owner_word="namespace", unit_word="namespace",
                           fillers=("x", "", "zz9", "-zz9:x", ":x", "x:x"), defaults=("x", "")),
    "circleci": CircleCiProfile(
        "circleci", (":sub",), owner_word="organisation", unit_word="project", default_audience="",
        fillers=(FOREIGN_GUID, "x", "", f"{FOREIGN_GUID}/user/{FOREIGN_GUID}"), defaults=(FOREIGN_GUID, "x", "")),
    "buildkite": BuildkiteProfile(
        "buildkite", (":sub",), owner_word="organization", unit_word="pipeline",
        fillers=("x", "", "ref:refs/heads/main:commit:0:step:x", "x:pipeline:x:ref:main", "-zz9:pipeline:x:ref:main",
                 "zz9-other"),
        defaults=("x", "")),
    "defender-for-cloud": SessionNameProfile(
        "defender", ("sts:RoleSessionName",), exposed_claims=("sub", "oid"), owner_word="Azure tenant",
        unit_word="tenant", fillers=(FOREIGN_GUID, "x", "", "0"), defaults=(FOREIGN_GUID, ""),
        extra={"prefix": DEFENDER_PREFIX}),
    "microsoft-sentinel": SessionNameProfile(
        "sentinel", ("sts:RoleSessionName",), exposed_claims=("sub", "oid"), owner_word="Sentinel workspace",
        unit_word="workspace", fillers=(FOREIGN_GUID, "x", "", "0"), defaults=(FOREIGN_GUID, ""),
        extra={"prefix": DEFENDER_PREFIX}),
    "entra-app": EntraProfile("entra", (":sub", ":oid"), exposed_claims=("sub", "oid"), owner_word="principal",
                              default_audience=""),
    "google": AudienceProfile("google", (":sub",), exposed_claims=("sub", "oaud"), open_audiences=True,
                              audience_pins=True, owner_word="Google principal", default_audience="",
                              extra={"audience_word": "another Google client"}),
    "cognito": AudienceProfile("cognito", (), exposed_claims=("sub", "amr"), open_audiences=True, audience_pins=True,
                               owner_word="identity pool", default_audience="",
                               extra={"claims": {"amr": ["authenticated", "cognito-idp.us-east-1.amazonaws.com"]},
                                      "audience_word": "another identity pool"}),
    "generic": AudienceProfile("generic", (":sub",), audience_pins=True, owner_word="subject", default_audience=""),
}


def profile_for_issuer(issuer_key: str) -> tuple[str, Profile]:
    """The profile (and preset name, when one exists) of a well-known issuer from its IAM key (URL without https://)."""
    key = issuer_key.lower()
    host = key.split("/")[0]
    if key == MICROSOFT_ISSUER_KEY:
        return "defender-for-cloud", PROFILES["defender-for-cloud"]
    if host == "token.actions.githubusercontent.com" or re.fullmatch(r"token\.actions\.[a-z0-9-]+\.ghe\.com", host) \
            or key.endswith("/_services/token"):
        return "github-actions", PROFILES["github-actions"]
    if re.match(r"^oidc\.eks\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/id/", key):
        return "eks-irsa", PROFILES["eks-irsa"]
    if host == "gitlab.com" or "gitlab" in host:
        return "gitlab", PROFILES["gitlab"]
    if host == "app.terraform.io" or host.startswith(("tfe.", "terraform.")):
        return "terraform", PROFILES["terraform"]
    if host == "oidc.circleci.com":
        return "circleci", PROFILES["circleci"]
    if host == "agent.buildkite.com":
        return "buildkite", PROFILES["buildkite"]
    if key == "accounts.google.com":
        return "google", PROFILES["google"]
    if key == "cognito-identity.amazonaws.com":
        return "cognito", PROFILES["cognito"]
    if host in ("sts.windows.net", "login.microsoftonline.com"):
        return "entra-app", PROFILES["entra-app"]
    return "generic", PROFILES["generic"]


def profile_for_preset(preset: str, issuer_key: str) -> Profile:
    """The profile a connector of `preset` uses; presets without a grammar of their own (generic, entra-app) still
    get the issuer's if it is well known."""
    if preset in PROFILES and preset not in ("generic",):
        return PROFILES[preset]
    return profile_for_issuer(issuer_key)[1]


def unknown_caller_keys(profile: Profile, values: dict[str, str]) -> list[str]:
    known = {k.lower() for k in profile.caller_keys}
    return [name for name in values if name.strip().lower() not in known
            and normalise_caller_key(name).lower() not in known]


def unparsable_caller(profile: Profile, caller: dict[str, str]) -> str | None:
    """A one-line reason when the caller names identity values the grammar cannot read (None: fine)."""
    identity = {normalise_caller_key(k): v for k, v in caller.items()
                if ":" + normalise_caller_key(k) in profile.identity_keys
                or (normalise_caller_key(k) == "sts:RoleSessionName" and "sts:RoleSessionName" in profile.identity_keys)}
    if not identity or profile.caller_ident(caller) is not None:
        return None
    claims, session = profile.render(profile.example())
    key, value = next(iter(identity.items()))
    form = session if key == "sts:RoleSessionName" else claims.get(key, claims.get("sub", ""))
    return f"{key}={value!r} is not a {profile.kind} identity of the documented form (e.g. {form})"


def legit_identity(profile: Profile, caller: dict[str, str]) -> Ident | None:
    """The legitimate identity from configured caller values, or None when they name none."""
    return profile.caller_ident(caller)


def audience_from_caller(caller: dict[str, str]) -> str | None:
    for name, value in caller.items():
        if normalise_caller_key(name) == "aud":
            return value
    return None
