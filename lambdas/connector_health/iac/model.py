"""What the readers hand to the linter.

Values read from a template keep their line (`MarkedDict`, `MarkedList`, `MarkedStr`). Values a reader cannot know
before deployment are of two kinds, and the linter treats them differently (README "lint-trust on infrastructure as
code"):

- `Placeholder`: a value the deployer chooses and the attacker does not (a template parameter without a value, a
  pseudo-parameter such as the account id, an attribute of a resource the same template creates). It is a str that
  stands for one fixed value; the linter judges the policy as if that value were written, and says so.
- `Unresolved`: a value nothing here can see (`Fn::ImportValue` of an export outside the inputs, a Terraform value
  "known after apply", a mapping looked up with a key only known at deployment). It could be anything: in an Allow
  statement's condition it pins nothing, a Deny whose condition depends on it may not apply, and the finding says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLACEHOLDER_ACCOUNT = "111122223333"  # AWS's documentation account id (also lint-trust's for policy files)
PLACEHOLDER_REGION = "us-east-1"


class MarkedDict(dict):
    """A JSON/YAML object with the line it starts on, the line of each key, and every key as written (repeated
    keys included: a parser keeps one value and silently drops the others)."""

    line: int | None = None
    key_lines: dict[str, int]
    keys_written: list[str]

    def __init__(self, *args: Any, line: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = line
        self.key_lines = {}
        self.keys_written = list(self.keys())

    def marked_like(self, other: "MarkedDict | dict") -> "MarkedDict":
        """This dict carrying `other`'s line, key lines and written keys (for a copy made while resolving)."""
        if isinstance(other, MarkedDict):
            self.line = other.line
            self.key_lines = dict(other.key_lines)
            self.keys_written = list(other.keys_written)
        return self


class MarkedList(list):
    line: int | None = None

    def __init__(self, *args: Any, line: int | None = None) -> None:
        super().__init__(*args)
        self.line = line


class MarkedStr(str):
    """A string with its line. `block`: a YAML literal or folded scalar, whose text starts on the next line (a
    policy written as JSON text inside `!Sub |` keeps its own lines from there)."""

    line: int | None = None
    block: bool = False

    def __new__(cls, value: str, line: int | None = None, block: bool = False) -> "MarkedStr":
        obj = super().__new__(cls, value)
        obj.line = line
        obj.block = block
        return obj


class Placeholder(MarkedStr):
    """A deployer-chosen value standing for `origin` (e.g. "parameter GitHubOrg")."""

    origin: str = ""

    def __new__(cls, value: str, origin: str, line: int | None = None) -> "Placeholder":
        obj = super().__new__(cls, value, line)
        obj.origin = origin
        return obj


@dataclass(frozen=True)
class Unresolved:
    """A value that cannot be known before deployment; `origin` says where it comes from."""

    origin: str
    line: int | None = None

    def __str__(self) -> str:  # never used as a value; visible if it leaks into a message
        return f"<unresolved: {self.origin}>"


UNRESOLVED_MARK = re.compile(r"⟪unresolved: ([^⟫]*)⟫")
_ORIGIN_DROPPED = re.compile(r"[^A-Za-z0-9:._/ ()@\[\]'-]")


def unresolved_text(origin: str) -> str:
    """The marker an unknown value leaves inside a string (kept through JSON text and string functions)."""
    return f"⟪unresolved: {_ORIGIN_DROPPED.sub('', origin.replace(chr(34), chr(39)))[:160]}⟫"


def unresolved_origins(value: Any) -> list[str]:
    """Where the unknown parts of a value come from (empty: the value is fully known)."""
    if isinstance(value, Unresolved):
        return [value.origin]
    if isinstance(value, str):
        return UNRESOLVED_MARK.findall(value)
    return []


class _NoValue:
    """`AWS::NoValue`: the property or list element is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


@dataclass
class Provider:
    """An OIDC provider the inputs declare (or look up): its issuer key (URL without https://) and ClientIDList."""

    issuer_key: str
    audiences: tuple[str, ...] | None  # None: not known (a Terraform value known after apply)
    resource: str  # logical id or Terraform address
    file: Path
    line: int | None = None
    unresolved_audiences: tuple[str, ...] = ()  # origins of list entries that could be anything
    # Names the provider can be referred to by (CloudFormation: its logical id per template; Terraform: its address).
    refs: frozenset[str] = frozenset()


@dataclass
class RoleTrust:
    """One role's trust policy as a reader found it, with where it was written."""

    file: Path
    resource: str  # CloudFormation logical id or Terraform address
    resource_type: str  # AWS::IAM::Role, aws_iam_role
    line: int | None
    policy: Any  # a MarkedDict tree (values may be Placeholder/Unresolved), or an Unresolved for a policy unknown
    variant: str = ""  # which branch of Fn::If conditions this is ("CreateProvider=true")
    stack: str = ""  # CloudFormation/CDK stack name
    cdk_path: str = ""  # the construct path (CDK's aws:cdk:path metadata)
    source_document: str = ""  # the Terraform aws_iam_policy_document the policy comes from
    # Federated principal (as written) -> the provider it is linked to (by reference, ARN or URL).
    providers: dict[str, Provider] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)  # placeholders the policy was judged with
    placeholders: dict[str, str] = field(default_factory=dict)  # placeholder text -> what it stands for
    role_name: str = ""  # RoleName / name where the template or plan fixes it (presets know roles by name)
