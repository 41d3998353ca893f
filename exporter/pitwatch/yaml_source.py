"""YAML to plain Python data, remembering the line of every key and item.

Config errors must point at ``FILE:LINE``, so the file is composed into nodes (which keep
their marks) and converted here rather than by ``yaml.safe_load``. Scalars follow YAML 1.2's
core schema: ``yes``/``no``/``on``/``off`` stay strings, ``03:00`` is not a base-60 number and
timestamps stay strings for the schema to parse. Duplicate keys are errors, not silent
overwrites. ``<<`` merge keys work.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]

# PyYAML tries these with .match(), so each is anchored at both ends.
_INT = re.compile(r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")

_TAG = "tag:yaml.org,2002:"


class _CoreSchemaLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema implicit types only."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's class-level table


_CoreSchemaLoader.add_implicit_resolver(_TAG + "bool", _BOOL, list("tTfF"))
_CoreSchemaLoader.add_implicit_resolver(_TAG + "int", _INT, list("-+0123456789"))
_CoreSchemaLoader.add_implicit_resolver(_TAG + "float", _FLOAT, list("-+.0123456789"))
_CoreSchemaLoader.add_implicit_resolver(_TAG + "null", _NULL, ["~", "n", "N", ""])


class YamlError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class LocatedData:
    """The document as Python data plus the 1-based line of every path in it."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    problems: list[YamlError] = field(default_factory=list)

    def line_of(self, path: Path_) -> int:
        """The line of ``path``, or of its nearest ancestor present in the document."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1


def load_located(text: str) -> LocatedData:
    try:
        node = yaml.compose(text, Loader=_CoreSchemaLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "cannot parse"
        raise YamlError(line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlError(None, f"invalid YAML: {exc}") from None
    located = LocatedData(None)
    if node is not None:
        located.data = _convert(node, (), located)
    return located


def _convert(node: yaml.Node, path: Path_, out: LocatedData) -> Any:
    out.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node, out)
    if isinstance(node, yaml.SequenceNode):
        return [_convert(child, (*path, index), out) for index, child in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        return _mapping(node, path, out)
    out.problems.append(YamlError(node.start_mark.line + 1, "unsupported YAML node"))
    return None


def _mapping(node: yaml.MappingNode, path: Path_, out: LocatedData) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    merged: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == _TAG + "merge" or (
            isinstance(key_node, yaml.ScalarNode) and key_node.value == "<<"
        ):
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for source in sources:
                value = _convert(source, path, out)
                if isinstance(value, dict):
                    merged = {**value, **merged}
                else:
                    out.problems.append(YamlError(line, "a << merge needs a mapping"))
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            out.problems.append(YamlError(line, "mapping keys must be plain values"))
            continue
        key = _scalar(key_node, out)
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            key = str(key)
        if key in result:
            first = out.lines.get((*path, key))
            out.problems.append(YamlError(line, f'duplicate key "{key}" (first on line {first})'))
            continue
        result[key] = _convert(value_node, (*path, key), out)
        out.lines[(*path, key)] = line
    for key, value in merged.items():
        result.setdefault(key, value)
    return result


def _scalar(node: yaml.ScalarNode, out: LocatedData) -> Any:
    tag = node.tag
    value: str = node.value
    if tag == _TAG + "str":
        return value
    if tag == _TAG + "bool":
        return value.lower() == "true"
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "int":
        if value.startswith("0x"):
            return int(value, 16)
        if value.startswith("0o"):
            return int(value[2:], 8)
        return int(value)
    if tag == _TAG + "float":
        lowered = value.lower().lstrip("+")
        if lowered.endswith(".inf"):
            return -math.inf if lowered.startswith("-") else math.inf
        if lowered == ".nan":
            return math.nan
        return float(value)
    out.problems.append(YamlError(node.start_mark.line + 1, f"unsupported YAML tag {tag}"))
    return value
