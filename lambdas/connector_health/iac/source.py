"""Loaders that keep the line each value came from.

- JSON: the standard library's decoder with its pure-Python scanner, whose object and array hooks are wrapped to
  record where each value starts (the C scanner has no such hooks). Every key is kept as written, repeats included.
- YAML: PyYAML's safe loader (already a runtime dependency) with CloudFormation's short-form tags (`!Ref`, `!Sub`,
  `!GetAtt`, `!If`, ...) turned into their long forms (`{"Ref": ...}`, `{"Fn::Sub": ...}`), timestamps kept as
  text (`Version: 2012-10-17` unquoted is a string to CloudFormation), and repeated keys recorded.

cfn-lint's decoder does the same, but it pulls in a rule engine, JSON schemas and sympy; the CLI would carry tens of
megabytes for two small loaders, and requirements.txt also feeds the Lambda layer.
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import re
from typing import Any

import yaml

from .model import MarkedDict, MarkedList, MarkedStr, Unresolved, unresolved_text

MAX_TEXT_BYTES = 64 * 1024 * 1024  # a CloudFormation template is at most 1 MB; large Terraform plans are tens of MB


class SourceError(Exception):
    """The text cannot be read as JSON or YAML (one line, with the line number where the parser stopped)."""


# --------------------------------------------------------------------------------------------------- JSON

class _LineDecoder(json.JSONDecoder):
    def __init__(self, text: str) -> None:
        super().__init__()
        newlines = [m.start() for m in re.finditer("\n", text)]

        def line(pos: int) -> int:
            return bisect.bisect_left(newlines, pos) + 1

        def parse_object(s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo=None, *rest):
            start = line(s_and_end[1] - 1)

            def pairs_hook(pairs: list[tuple[str, Any]]) -> MarkedDict:
                out = MarkedDict(line=start)
                for key, value in pairs:
                    out[key] = value
                    out.key_lines.setdefault(key, getattr(value, "line", None) or start)
                out.keys_written = [k for k, _ in pairs]
                return out

            return json.decoder.JSONObject(s_and_end, strict, scan_once, None, pairs_hook, memo)

        def parse_array(s_and_end, scan_once, *rest):
            values, end = json.decoder.JSONArray(s_and_end, scan_once)
            return MarkedList(values, line=line(s_and_end[1] - 1)), end

        def parse_string(s: str, end: int, strict: bool = True):
            value, after = json.decoder.scanstring(s, end, strict)
            return MarkedStr(value, line(end - 1)), after

        self.parse_object = parse_object
        self.parse_array = parse_array
        self.parse_string = parse_string
        self.memo = {}
        self.scan_once = json.scanner.py_make_scanner(self)


def load_json(text: str, where: str) -> Any:
    """JSON text as marked values (objects, arrays and strings know their line)."""
    try:
        return _LineDecoder(text).decode(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{where}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})") from None
    except RecursionError:
        raise SourceError(f"{where}: JSON nested too deeply to read") from None


# --------------------------------------------------------------------------------------------------- YAML

class _TemplateLoader(yaml.SafeLoader):
    """Safe YAML with CloudFormation's tags and marks. Timestamps stay text."""


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _construct_mapping(loader: _TemplateLoader, node: yaml.MappingNode) -> MarkedDict:
    loader.flatten_mapping(node)
    out = MarkedDict(line=_line(node))
    written: list[str] = []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        key = key if isinstance(key, str) else str(key).lower() if isinstance(key, bool) else str(key)
        value = loader.construct_object(value_node, deep=True)
        written.append(key)
        out[key] = value
        out.key_lines.setdefault(key, _line(key_node))
    out.keys_written = written
    return out


def _construct_sequence(loader: _TemplateLoader, node: yaml.SequenceNode) -> MarkedList:
    return MarkedList((loader.construct_object(child, deep=True) for child in node.value), line=_line(node))


def _construct_str(loader: _TemplateLoader, node: yaml.ScalarNode) -> MarkedStr:
    return MarkedStr(loader.construct_scalar(node), _line(node), block=node.style in ("|", ">"))


def _construct_intrinsic(loader: _TemplateLoader, tag_suffix: str, node: yaml.Node) -> MarkedDict:
    """`!Ref X` -> {"Ref": X}; `!GetAtt A.B` -> {"Fn::GetAtt": [A, B]}; `!Condition C` -> {"Condition": C};
    any other `!Name v` -> {"Fn::Name": v}."""
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = _construct_str(loader, node)
        if name == "Fn::GetAtt":
            parts = str(value).split(".", 1)
            value = MarkedList([MarkedStr(p, _line(node)) for p in parts], line=_line(node))
    elif isinstance(node, yaml.SequenceNode):
        value = _construct_sequence(loader, node)
    else:
        value = _construct_mapping(loader, node)
    out = MarkedDict({name: value}, line=_line(node))
    out.key_lines[name] = _line(node)
    return out


_TemplateLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_TemplateLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
_TemplateLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)
_TemplateLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_str)
_TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def load_yaml(text: str, where: str) -> Any:
    try:
        return yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}" if mark else ""
        raise SourceError(f"{where}: invalid YAML{at} ({exc.problem or exc.context})") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise SourceError(f"{where}: invalid YAML ({exc.__class__.__name__})") from None


def json_or_yaml(text: str, where: str) -> Any:
    """JSON when the text is JSON (it starts with `{` or `[`), else YAML."""
    return load_json(text, where) if text.lstrip()[:1] in ("{", "[") else load_yaml(text, where)


def plain(value: Any) -> Any:
    """Marked values as plain dicts, lists and strings (what the policy parser and JSON output get); an unresolved
    value becomes its marker text."""
    if isinstance(value, Unresolved):
        return unresolved_text(value.origin)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def line_of(value: Any) -> int | None:
    return getattr(value, "line", None)


__all__ = ["MAX_TEXT_BYTES", "SourceError", "json_or_yaml", "line_of", "load_json", "load_yaml", "plain"]
