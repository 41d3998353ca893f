"""YAML to plain Python data, remembering the line of every key and item.

Config errors must point at ``FILE:LINE``, so the file is composed into nodes (which keep
their marks) and converted here rather than by ``yaml.safe_load``. Scalars follow YAML 1.2's
core schema: ``yes``/``no``/``on``/``off`` stay strings, ``03:00`` is not a base-60 number and
timestamps stay strings for the schema to parse. Duplicate keys are errors, not silent
overwrites. ``<<`` merge keys work.

A config may come from anyone who can write the file, so loading it has limits, each
answered with one located message rather than a hang or a traceback: the document's size
(:data:`MAX_DOCUMENT_BYTES`), how deep it nests (:data:`MAX_DEPTH`), how much its aliases
may expand (a "billion laughs" bomb stops after :data:`ALIAS_ALLOWANCE` extra values), an
alias inside itself, bytes that are not UTF-8 and characters YAML forbids (NUL), each at
the line where it is.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from pitwatch.yaml_errors import describe

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
_MAX_INT_DIGITS = 100
"""Python refuses to parse integers of over 4,300 digits; no config value needs 100."""

MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
"""A config of 10,000 targets is a few MiB; far more is a mistake or an attack."""
MAX_DEPTH = 64
"""Nesting levels (a config needs under ten); PyYAML composes recursively, so an unlimited
depth ends in a RecursionError."""
ALIAS_ALLOWANCE = 100_000
"""Values that aliases may add beyond the document's own (``<<: *defaults`` in every one of
10,000 targets stays well inside it, and so does reusing anchors in proportion to size)."""


class _CoreSchemaLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema implicit types only, and a nesting limit."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's class-level table

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.node_count = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        self.node_count += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise YamlError(mark.line + 1, f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


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


def decode(data: bytes, what: str = "config") -> str:
    """``data`` as text; :class:`YamlError` at the line of the first byte that is not UTF-8,
    or of a size over :data:`MAX_DOCUMENT_BYTES`."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise YamlError(1, f"the {what} is larger than {MAX_DOCUMENT_BYTES // 2**20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlError(
            line,
            f"byte 0x{data[exc.start]:02x} in column {column} is not UTF-8 text "
            "(save the file as UTF-8)",
        ) from None


def load_located(text: str) -> LocatedData:
    if len(text) > MAX_DOCUMENT_BYTES:
        raise YamlError(1, f"the document is larger than {MAX_DOCUMENT_BYTES // 2**20} MiB")
    try:
        loader = _CoreSchemaLoader(text)  # checks every character first
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        bad_line = text.count("\n", 0, exc.position or 0) + 1
        raise YamlError(bad_line, _forbidden_character(exc.character)) from None
    except yaml.YAMLError as exc:
        raise YamlError(*describe(exc)) from None
    located = LocatedData(None)
    if node is not None:
        converter = _Converter(located, loader.node_count + ALIAS_ALLOWANCE)
        located.data = converter.convert(node, ())
    return located


def _forbidden_character(character: object) -> str:
    code = ord(character) if isinstance(character, str) else int(str(character))
    if code == 0:
        return "a NUL byte: YAML text cannot contain one (is this a binary file?)"
    return f"character U+{code:04X} is not allowed in YAML text (a control character?)"


class _Converter:
    """Nodes to data. Aliases make the node graph a DAG, or a cycle: ``budget`` caps the
    values produced and ``active`` (the nodes being converted) catches an alias inside itself."""

    def __init__(self, out: LocatedData, budget: int) -> None:
        self.out = out
        self.budget = budget
        self.active: set[int] = set()

    def convert(self, node: yaml.Node, path: Path_) -> Any:
        out = self.out
        line = node.start_mark.line + 1
        out.lines.setdefault(path, line)
        self.budget -= 1
        if self.budget < 0:
            raise YamlError(line, "aliases expand to too many values (an alias bomb?)")
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node, out)
        if id(node) in self.active:
            raise YamlError(line, "this collection holds an alias of itself (a cycle)")
        if len(self.active) >= MAX_DEPTH:
            raise YamlError(line, f"aliases nest deeper than {MAX_DEPTH} levels")
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [
                    self.convert(child, (*path, index)) for index, child in enumerate(node.value)
                ]
            if isinstance(node, yaml.MappingNode):
                return _mapping(node, path, self)
        finally:
            self.active.discard(id(node))
        out.problems.append(YamlError(line, "unsupported YAML node"))
        return None


def _mapping(node: yaml.MappingNode, path: Path_, converter: _Converter) -> dict[Any, Any]:
    out = converter.out
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
                value = converter.convert(source, path)
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
        result[key] = converter.convert(value_node, (*path, key))
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
        if len(value) > _MAX_INT_DIGITS:
            raise YamlError(node.start_mark.line + 1, "number has too many digits")
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
