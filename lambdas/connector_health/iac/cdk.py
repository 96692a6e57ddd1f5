"""CDK cloud assemblies (`cdk.out`): every stack template the manifest lists, the stacks of nested assemblies (CDK
Stages, `cdk:cloud-assembly` artifacts) and every other `*.template.json` beside them (nested stacks' templates)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .cloudformation import Template
from .source import SourceError, load_json

MANIFEST = "manifest.json"
MAX_ASSEMBLY_DEPTH = 8
MAX_TEMPLATE_BYTES = 16 * 1024 * 1024


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The assembly's manifest, or None when `directory` is not a cloud assembly."""
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("artifacts"), dict) else None


def is_assembly(directory: Path) -> bool:
    return read_manifest(directory) is not None


def _template(path: Path, stack: str) -> Template:
    try:
        size = path.stat().st_size
        if size > MAX_TEMPLATE_BYTES:
            raise SourceError(f"{path}: {size} bytes, larger than any template CloudFormation accepts")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8 text") from None
    data = load_json(text, str(path))
    if not isinstance(data, dict):
        raise SourceError(f"{path}: not a CloudFormation template (not a JSON object)")
    return Template(path, data, stack=stack)


def assembly_templates(directory: Path, depth: int = 0) -> list[Template]:
    manifest = read_manifest(directory)
    if manifest is None or depth > MAX_ASSEMBLY_DEPTH:
        return []
    templates: list[Template] = []
    seen: set[Path] = set()
    for name, artifact in manifest["artifacts"].items():
        if not isinstance(artifact, dict):
            continue
        properties = artifact.get("properties") if isinstance(artifact.get("properties"), dict) else {}
        if artifact.get("type") == "aws:cloudformation:stack" and isinstance(properties.get("templateFile"), str):
            path = (directory / properties["templateFile"]).resolve()
            if path.is_file() and path not in seen and path.is_relative_to(directory.resolve()):
                seen.add(path)
                templates.append(_template(path, str(artifact.get("displayName") or name)))
        elif artifact.get("type") == "cdk:cloud-assembly" and isinstance(properties.get("directoryName"), str):
            nested = (directory / properties["directoryName"]).resolve()
            if nested.is_dir() and nested.is_relative_to(directory.resolve()):
                templates.extend(assembly_templates(nested, depth + 1))
    for path in sorted(directory.glob("*.template.json")):
        if path.resolve() not in seen:
            seen.add(path.resolve())
            templates.append(_template(path, path.name.removesuffix(".template.json").removesuffix(".nested")))
    return templates


__all__ = ["MANIFEST", "assembly_templates", "is_assembly", "read_manifest"]
