"""Paths into a JSON document, as assertions and flow captures write them.

``status``, ``data.session.id``, ``providers[0].name``, ``providers[-1]``,
``headers["x-request-id"]`` (a key that is not a plain word), and ``$`` for the whole
document (``$.status`` is accepted too, for JSONPath habits).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INDEX = re.compile(r"\[\s*(-?\d+)\s*\]")
_QUOTED_KEY = re.compile(r'\[\s*("(?:[^"\\]|\\.)*")\s*\]')

Segment = str | int
SHOWN_STRING_LENGTH = 32
"""Longer strings are shown by length only: tokens and session ids are long."""


@dataclass(frozen=True, slots=True)
class JsonPath:
    segments: tuple[Segment, ...]
    text: str

    def resolve(self, document: Any) -> tuple[bool, Any]:
        """``(True, value)`` where the path leads somewhere (even to ``null``), else
        ``(False, None)``."""
        current = document
        for segment in self.segments:
            if isinstance(segment, int):
                if not isinstance(current, list) or not -len(current) <= segment < len(current):
                    return False, None
                current = current[segment]
            else:
                if not isinstance(current, dict) or segment not in current:
                    return False, None
                current = current[segment]
        return True, current


def parse_path(text: str, start: int = 0) -> tuple[JsonPath, int]:
    """The path at ``text[start:]`` and where it ends; raises ValueError."""
    position = start
    segments: list[Segment] = []
    if text.startswith("$", position):
        position += 1
        if text.startswith(".", position):
            position += 1
        elif position == len(text) or not text.startswith("[", position):
            return JsonPath((), "$"), position
    expect_name = True
    while position < len(text):
        char = text[position]
        if char == "[":
            index = _INDEX.match(text, position)
            quoted = _QUOTED_KEY.match(text, position)
            if index:
                segments.append(int(index.group(1)))
                position = index.end()
            elif quoted:
                segments.append(json.loads(quoted.group(1)))
                position = quoted.end()
            else:
                raise ValueError(
                    f'bad path at "{text[position : position + 12]}": use [0], [-1] or ["some key"]'
                )
            expect_name = False
            continue
        if expect_name:
            name = _NAME.match(text, position)
            if not name:
                break
            segments.append(name.group(0))
            position = name.end()
            expect_name = False
            continue
        if char == "." and position + 1 < len(text):
            position += 1
            expect_name = True
            if not _NAME.match(text, position):
                raise ValueError(f"bad path: expected a key name after '.' in {text[start:]!r}")
            continue
        break
    if not segments and text[start:position] != "$":
        raise ValueError(f"expected a JSON path (e.g. status or data.items[0].id) in {text!r}")
    return JsonPath(tuple(segments), text[start:position]), position


def parse_whole_path(text: str) -> JsonPath:
    path, end = parse_path(text.strip())
    if end != len(text.strip()):
        raise ValueError(f"unexpected {text.strip()[end:]!r} after the path {path.text!r}")
    return path


def describe(value: Any) -> str:
    """How a found value is shown on the status page: short scalars as JSON, everything
    else by kind and size (a long string may well be a token)."""
    if isinstance(value, str):
        if len(value) <= SHOWN_STRING_LENGTH:
            return json.dumps(value)
        return f"a string of {_count(len(value), 'character')}"
    if isinstance(value, list):
        return f"a list of {_count(len(value), 'item')}"
    if isinstance(value, dict):
        return f"an object with {_count(len(value), 'key')}"
    return json.dumps(value)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
