"""Checks on an HTTP answer: body regexes, JSON conditions and header conditions.

Conditions are short strings, parsed when the config loads (so a typo is a
``FILE:LINE`` error, not a failing probe)::

    json:                                   headers:
      - status == "UP"                        - Content-Type matches ^application/json
      - checks.db.latency_ms < 300            - X-Request-Id exists
      - len(providers) >= 5                   - Server != legacy-gateway
      - session.id exists
      - result in [approved, declined]
      - region not in ["test", "staging"]
      - version matches ^2\\.

Values on the right are JSON (``"UP"``, ``300``, ``true``, ``null``, ``[1, 2]``); a bare
word such as ``UP`` is a string, and ``'...'`` is a string taken literally (handy for
regexes). A failed check names itself and what it found instead, e.g.
``json status == "UP" (got "DEGRADED")``; long strings are shown by length only, since
they may be tokens.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from multidict import CIMultiDictProxy
from pydantic import BeforeValidator, Field, GetCoreSchemaHandler
from pydantic_core import core_schema

from pitwatch.config_types import StrictModel
from pitwatch.probes._client import Response, status_failure
from pitwatch.probes._jsonpath import JsonPath, describe, parse_path
from pitwatch.reasons import ProbeFailure, Reason

_JSON_OPERATOR = re.compile(
    r"(==|!=|<=|>=|<|>|not\s+in\b|in\b|not\s+matches\b|matches\b|not\s+exists\b|exists\b)"
)
_HEADER_OPERATOR = re.compile(r"(==|!=|not\s+matches\b|matches\b|not\s+exists\b|exists\b)")
_JSON_OPERATORS = "==, !=, <, <=, >, >=, in, not in, matches, not matches, exists, not exists"
_HEADER_OPERATORS = "==, !=, matches, not matches, exists, not exists"
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BARE_WORD = re.compile(r"[^\s,\[\]{}\"']+")
_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "www-authenticate"}
)
_DECODER = json.JSONDecoder()


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None


def _regex(value: object) -> object:
    return _compile(value) if isinstance(value, str) else value


Regex = Annotated[re.Pattern[str], BeforeValidator(_regex)]
"""A regular expression, compiled when the config loads."""


# -- reading values ------------------------------------------------------------------------
def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def parse_value(text: str, position: int) -> tuple[Any, int]:
    """A JSON value, a ``'literal'``, a bare word, or a ``[...]`` list of those."""
    position = _skip_space(text, position)
    if position >= len(text):
        raise ValueError("expected a value")
    char = text[position]
    if char == "[":
        items: list[Any] = []
        position = _skip_space(text, position + 1)
        if text.startswith("]", position):
            return items, position + 1
        while True:
            item, position = parse_value(text, position)
            items.append(item)
            position = _skip_space(text, position)
            if text.startswith(",", position):
                position += 1
            elif text.startswith("]", position):
                return items, position + 1
            else:
                raise ValueError("a list needs commas between items and a closing ]")
    if char == "'":
        end = text.find("'", position + 1)
        if end < 0:
            raise ValueError("a '...' string is not closed")
        return text[position + 1 : end], end + 1
    try:
        value, end = _DECODER.raw_decode(text, position)
    except json.JSONDecodeError:
        if char == '"':
            raise ValueError('a "..." string is not closed or has a bad escape') from None
    else:
        if end == len(text) or text[end].isspace() or text[end] in ",]":
            return value, end
    word = _BARE_WORD.match(text, position)
    if not word:
        raise ValueError(f"cannot read a value at {text[position:]!r}")
    return word.group(0), word.end()


def _string_operand(text: str, position: int) -> str:
    """A quoted string, or else the rest of the condition as written."""
    rest = text[position:].strip()
    if not rest:
        raise ValueError("expected a value after the operator")
    if rest[0] in "'\"":
        value, end = parse_value(rest, 0)
        if end != len(rest):
            raise ValueError(f"unexpected {rest[end:]!r} after the value")
        return str(value)
    return rest


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def json_equal(left: Any, right: Any) -> bool:
    """JSON equality: ``1 == 1.0`` but ``true != 1`` and ``"1" != 1``."""
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    return type(left) is type(right) and bool(left == right)


def _operator(
    pattern: re.Pattern[str], known: str, text: str, position: int, after: str
) -> tuple[str, int]:
    """The operator ``pattern`` finds at ``position`` (inner spaces made one) and where it
    ends; raises ValueError naming the ``known`` operators."""
    found = pattern.match(text, position)
    if not found:
        raise ValueError(f"expected an operator after {after!r}: {known}")
    return " ".join(found.group(1).split()), found.end()


# -- JSON conditions -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class JsonCondition:
    text: str
    path: JsonPath = field(compare=False)
    length: bool = field(compare=False)
    op: str = field(compare=False)
    value: Any = field(default=None, compare=False)
    pattern: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str) -> JsonCondition:
        text = text.strip()
        opening = re.match(r"len\s*\(\s*", text)
        length = opening is not None
        position = opening.end() if opening else 0
        path, position = parse_path(text, position)
        if length:
            position = _skip_space(text, position)
            if not text.startswith(")", position):
                raise ValueError("len( needs a closing )")
            position += 1
        position = _skip_space(text, position)
        after = text[:position].strip()
        op, position = _operator(_JSON_OPERATOR, _JSON_OPERATORS, text, position, after)
        if op in ("exists", "not exists"):
            if length:
                raise ValueError(f"len() cannot be used with {op}")
            if text[position:].strip():
                raise ValueError(f"nothing may follow {op!r}")
            return cls(text, path, False, op)
        if op in ("matches", "not matches"):
            pattern = _compile(_string_operand(text, position))
            return cls(text, path, length, op, pattern=pattern)
        value, end = parse_value(text, position)
        if text[end:].strip():
            raise ValueError(f"unexpected {text[end:].strip()!r} after the value")
        if op in _ORDERING and not _is_number(value):
            raise ValueError(f"{op} needs a number on the right, got {json.dumps(value)}")
        if op in ("in", "not in") and not isinstance(value, list):
            raise ValueError(f"{op} needs a list on the right, e.g. [approved, declined]")
        if length and not (_is_number(value) and op not in ("in", "not in")):
            raise ValueError("len() compares with a number")
        return cls(text, path, length, op, value)

    def check(self, document: Any) -> str | None:
        """``None`` when the condition holds, else what was found instead."""
        found, value = self.path.resolve(document)
        if self.op == "exists":
            return None if found else "not found"
        if self.op == "not exists":
            return None if not found else f"found {describe(value)}"
        if not found:
            return "not found"
        if self.length:
            if not isinstance(value, (str, list, dict)):
                return f"got {describe(value)}, which has no length"
            value = len(value)
        return self._compare(value)

    def _compare(self, value: Any) -> str | None:
        op = self.op
        if op in ("==", "!="):
            holds = json_equal(value, self.value) == (op == "==")
        elif op in _ORDERING:
            if not _is_number(value):
                return f"got {describe(value)}, not a number"
            holds = _ORDERING[op](value, self.value)
        elif op in ("in", "not in"):
            inside = any(json_equal(value, option) for option in self.value)
            holds = inside == (op == "in")
        else:
            if isinstance(value, (list, dict)):
                return f"got {describe(value)}, not a string"
            text = value if isinstance(value, str) else json.dumps(value)
            assert self.pattern is not None
            holds = bool(self.pattern.search(text)) == (op == "matches")
        return None if holds else f"got {describe(value)}"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _condition_schema(cls.parse)


# -- header conditions ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HeaderCondition:
    text: str
    name: str = field(compare=False)
    op: str = field(compare=False)
    value: str = field(default="", compare=False)
    pattern: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str) -> HeaderCondition:
        text = text.strip()
        name = _HEADER_NAME.match(text)
        if not name:
            raise ValueError(f"expected a header name at the start of {text!r}")
        position = _skip_space(text, name.end())
        op, position = _operator(_HEADER_OPERATOR, _HEADER_OPERATORS, text, position, name.group(0))
        if op in ("exists", "not exists"):
            if text[position:].strip():
                raise ValueError(f"nothing may follow {op!r}")
            return cls(text, name.group(0), op)
        value = _string_operand(text, position)
        pattern = _compile(value) if op.endswith("matches") else None
        return cls(text, name.group(0), op, value, pattern)

    def check(self, headers: CIMultiDictProxy[str]) -> str | None:
        values = headers.getall(self.name, [])
        op = self.op
        if op == "exists":
            return None if values else "header absent"
        if op == "not exists":
            return None if not values else "header present"
        if op == "==":
            holds = self.value in values
        elif op == "!=":
            holds = self.value not in values
        else:
            assert self.pattern is not None
            hit = any(self.pattern.search(value) for value in values)
            holds = hit == (op == "matches")
        if holds:
            return None
        if not values:
            return "header absent"
        if self.name.lower() in _SENSITIVE_HEADERS:
            return "got a value not shown here (sensitive header)"
        return f"got {describe(values[0])}" if len(values) == 1 else f"got {len(values)} values"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _condition_schema(cls.parse)


def _condition_schema(parse: Callable[[str], object]) -> core_schema.CoreSchema:
    def validate(value: object) -> object:
        if not isinstance(value, str):
            raise ValueError("a condition is one line of text, e.g. status == UP")
        return parse(value)

    return core_schema.no_info_plain_validator_function(
        validate,
        serialization=core_schema.plain_serializer_function_ser_schema(lambda item: item.text),
    )


# -- the checks of one response ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AssertionFailure:
    assertion: str
    """As configured, with its kind: ``json status == "UP"``."""
    found: str
    """What was there instead: ``got "DEGRADED"``, ``not found``, ``no match``."""


class ResponseView:
    """A response with its body decoded once, for assertions and captures alike."""

    def __init__(self, response: Response) -> None:
        self.response = response
        self._text: str | None = None
        self._json: tuple[bool, Any] | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self.response.body.decode("utf-8", "replace")
        return self._text

    def json(self) -> tuple[bool, Any]:
        """``(True, document)``, or ``(False, None)`` when the body is not JSON."""
        if self._json is None:
            try:
                self._json = (True, json.loads(self.response.body))
            except ValueError:
                self._json = (False, None)
        return self._json


class Assertions(StrictModel):
    headers: tuple[HeaderCondition, ...] = ()
    body_matches: tuple[Regex, ...] = ()
    """Each must match somewhere in the body."""
    body_not_matches: tuple[Regex, ...] = ()
    """None may match anywhere in the body."""
    json_: tuple[JsonCondition, ...] = Field(default=(), alias="json")

    def failures(self, view: ResponseView) -> list[AssertionFailure]:
        """Every check that does not hold, in the order headers, body, json."""
        failed: list[AssertionFailure] = []
        for header in self.headers:
            found = header.check(view.response.headers)
            if found is not None:
                failed.append(AssertionFailure(f"header {header.text}", found))
        for pattern in self.body_matches:
            if not pattern.search(view.text):
                failed.append(AssertionFailure(f"body_matches /{pattern.pattern}/", "no match"))
        for pattern in self.body_not_matches:
            match = pattern.search(view.text)
            if match:
                failed.append(
                    AssertionFailure(
                        f"body_not_matches /{pattern.pattern}/", f"matched {describe(match[0])}"
                    )
                )
        if self.json_:
            parsed, document = view.json()
            if not parsed:
                failed.append(AssertionFailure(f"json {self.json_[0].text}", "body is not JSON"))
                return failed
            for condition in self.json_:
                found = condition.check(document)
                if found is not None:
                    failed.append(AssertionFailure(f"json {condition.text}", found))
        return failed


def judge(
    view: ResponseView,
    allowed: tuple[int | str, ...],
    assertions: Assertions,
    authenticated: bool,
) -> ProbeFailure | None:
    """The verdict on one answer, its status first, then every assertion: why it is not
    healthy, or ``None`` when it is."""
    status = view.response.status
    failure = status_failure(status, allowed, authenticated)
    if failure is not None:
        return failure
    failed = assertions.failures(view)
    if not failed:
        return None
    first = failed[0]
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    details = tuple(("assertion", f"{item.assertion} ({item.found})") for item in failed)
    return ProbeFailure(
        Reason.ASSERTION, f"assertion failed: {first.assertion} ({first.found}){more}", details
    )
