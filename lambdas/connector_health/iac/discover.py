"""What each path given to `lint-trust` is, decided by content rather than by name.

- A directory holding a CDK `manifest.json` is a cloud assembly; any other directory is searched (hidden directories,
  node_modules, __pycache__, site-packages and virtualenvs left out) for files that are one of the kinds below, and a
  cloud assembly found inside is read as a whole. JSON files whose first 64 KB name none of the telling keys are not
  parsed.
- A JSON file is a CloudFormation template (`Resources` or `AWSTemplateFormatVersion`), a Terraform plan or state
  (`format_version` with `planned_values`, `prior_state`, `resource_changes` or `values`), a CDK manifest (its
  assembly), or a trust policy (`Statement`, or `aws iam get-role` output).
- A YAML file is a CloudFormation template when it has a top-level `Resources` or `AWSTemplateFormatVersion` key.

Files named on the command line must be one of these (else a one-line error, exit 2) unless `skip_unrecognised`;
files found in a directory that are not are passed over. A file that looks like a template or plan but cannot be read
is an error either way: CloudFormation or Terraform would refuse it too.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cdk import MANIFEST, is_assembly
from .source import MAX_TEXT_BYTES, SourceError, load_json, load_yaml
from .terraform import is_plan

SUFFIXES = (".json", ".yaml", ".yml", ".template", ".cfn")
PRUNED_DIRS = ("node_modules", "__pycache__", "site-packages", "dist-packages")
HINT_SPAN = 65536  # a template, plan or policy names its telling key near the top
MAX_FILES = 20_000
_YAML_TEMPLATE = re.compile(r"^(AWSTemplateFormatVersion|Resources)\s*:", re.MULTILINE)
_JSON_HINT = re.compile(r'"(AWSTemplateFormatVersion|Resources|format_version|planned_values|Statement)"\s*:')


class InputError(Exception):
    """A path lint-trust cannot read (one line; exit status 2)."""


@dataclass
class Input:
    path: Path
    kind: str  # "policy" | "template" | "plan" | "assembly"
    data: Any = None  # marked template, plan dict, or the policy file's text
    explicit: bool = False  # named on the command line (policy files keep lint-trust FILE's contract)


@dataclass
class Found:
    inputs: list[Input] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # named files that are none of the kinds (skip_unrecognised)


def read_text(path: Path) -> str:
    """A file's UTF-8 text (a byte-order mark accepted), at most MAX_TEXT_BYTES; InputError with one line otherwise."""
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise InputError(f"{path}: {size} bytes, larger than lint-trust reads ({MAX_TEXT_BYTES} bytes)")
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None


def _is_policy(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    role = data.get("Role")
    return "Statement" in data or (isinstance(role, dict) and "AssumeRolePolicyDocument" in role)


def _has_principal(data: dict[str, Any]) -> bool:
    """A trust (resource-based) policy names principals; an identity policy found in a directory does not."""
    if isinstance(data.get("Role"), dict):
        return True
    statements = data.get("Statement")
    return any(isinstance(s, dict) and ("Principal" in s or "NotPrincipal" in s)
               for s in (statements if isinstance(statements, list) else [statements]))


def classify(path: Path, *, explicit: bool) -> Input | None:
    """The input a file is, or None when it is none of the kinds lint-trust reads."""
    if path.name == MANIFEST and is_assembly(path.parent):
        return Input(path.parent, "assembly", explicit=explicit)
    text = read_text(path)
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        if not explicit and not _JSON_HINT.search(text[:HINT_SPAN]):
            return None  # data files found in a directory (package metadata, SDK models) are not parsed at all
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            if explicit:
                return Input(path, "policy", text, explicit)  # lint-trust FILE's one line names the JSON error
            if _JSON_HINT.search(text[:HINT_SPAN]):
                raise InputError(f"{path}: invalid JSON ({exc})") from None
            return None
        if isinstance(data, dict) and ("Resources" in data or "AWSTemplateFormatVersion" in data):
            try:
                return Input(path, "template", load_json(text, str(path)), explicit)
            except SourceError as exc:
                raise InputError(str(exc)) from None
        if is_plan(data):
            return Input(path, "plan", data, explicit)
        if explicit or (_is_policy(data) and _has_principal(data)):
            return Input(path, "policy", text, explicit)  # lint-trust FILE says why a JSON file is not a policy
        return None
    if not _YAML_TEMPLATE.search(text):
        return None
    try:
        data = load_yaml(text, str(path))
    except SourceError as exc:
        raise InputError(str(exc)) from None
    if isinstance(data, dict) and isinstance(data.get("Resources"), dict):
        return Input(path, "template", data, explicit)
    return None


def _walk(directory: Path, found: Found) -> None:
    count = 0
    for root, dirs, files in os.walk(directory):
        here = Path(root)
        if here != directory and is_assembly(here):
            found.inputs.append(Input(here, "assembly"))
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in PRUNED_DIRS
                         and not (here / d / "pyvenv.cfg").exists())  # a virtualenv without a leading dot
        for name in sorted(files):
            if not name.lower().endswith(SUFFIXES) or name == MANIFEST:
                continue
            count += 1
            if count > MAX_FILES:
                raise InputError(f"{directory}: more than {MAX_FILES} candidate files; name the templates or plans")
            found_input = classify(here / name, explicit=False)
            if found_input is not None:
                found.inputs.append(found_input)


def collect(paths: list[str | Path], *, skip_unrecognised: bool = False) -> Found:
    found = Found()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            if is_assembly(path):
                found.inputs.append(Input(path, "assembly", explicit=True))
                continue
            before = len(found.inputs)
            _walk(path, found)
            if len(found.inputs) == before and not skip_unrecognised:
                raise InputError(f"{path}: no CloudFormation template, CDK assembly, Terraform plan or trust policy "
                                 "found in this directory")
            continue
        if not path.exists():
            raise InputError(f"{path}: no such file or directory")
        item = classify(path, explicit=not skip_unrecognised)
        if item is None:
            if skip_unrecognised:
                found.skipped.append(str(path))
                continue
            raise InputError(f"{path}: not a trust policy, CloudFormation template, CDK assembly or Terraform plan")
        found.inputs.append(item)
    return found


__all__ = ["Found", "Input", "InputError", "classify", "collect"]
