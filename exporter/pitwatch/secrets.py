"""Secrets: values that must never reach ``/metrics``, logs, the status page or an error message.

A config never holds a secret inline. It names an environment variable (``${DB_PASSWORD}``)
or a file (``password_file: secrets/db``, relative to the config file's directory), and the
value lands in a :class:`Secret`, whose ``str()`` and ``repr()`` are ``<secret>``. Text
that may have picked up a secret on its way out (an exception message, say) goes through
a :class:`Redactor`, the one place text is masked: each probe gets one holding its target's
secrets, adds what it learns (a token fetched, a value captured) and the scheduler applies
it to whatever the probe says.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, GetCoreSchemaHandler, ValidationInfo
from pydantic_core import core_schema

from pitwatch.config_types import resolve_path

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MIN_REDACTED_LEN = 3  # shorter values would blank out ordinary words


class Secret:
    """A string that prints as ``<secret>``; :meth:`reveal` is the one way to read it.

    ``parts`` are values inside it that must not show on their own either: the
    ``${ENV}`` values substituted into a header template, the password inside a DSN."""

    __slots__ = ("_parts", "_value")

    def __init__(self, value: str, parts: tuple[str, ...] = ()) -> None:
        self._value = value
        self._parts = parts

    def reveal(self) -> str:
        return self._value

    def masked(self) -> tuple[str, ...]:
        """Every value a :class:`Redactor` hides for this secret."""
        return (self._value, *self._parts)

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("pitwatch.Secret", self._value))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _only_secret, serialization=core_schema.plain_serializer_function_ser_schema(repr)
        )


def _only_secret(value: object) -> Secret:
    if isinstance(value, Secret):
        return value
    raise ValueError("write secrets as ${ENV_VAR} or put them in the matching *_file key")


def expand_env(text: str) -> str:
    """``text`` with every ``${NAME}`` replaced by that environment variable."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REF.sub(substitute, text)


def template_secret(text: str) -> Secret:
    """``text`` with its ``${NAME}`` references filled in, as a secret whose parts are the
    values filled in."""
    expanded = expand_env(text)  # raises for an unset variable
    return Secret(expanded, tuple(os.environ[name] for name in _ENV_REF.findall(text)))


def _env_secret(value: object) -> object:
    if isinstance(value, str):
        if not _ENV_REF.search(value):
            raise ValueError("write secrets as ${ENV_VAR} or put them in the matching *_file key")
        return Secret(expand_env(value))
    return value


def _file_secret(value: object, info: ValidationInfo) -> object:
    if not isinstance(value, str):
        return value
    path = resolve_path(value, info)
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"secret file {path} is not UTF-8 text") from None
    content = content.rstrip("\r\n")
    if not content:
        raise ValueError(f"secret file {path} is empty")
    return Secret(content)


EnvSecret = Annotated[Secret, BeforeValidator(_env_secret)]
"""A secret written as ``${ENV_VAR}`` (a literal value is an error)."""

FileSecret = Annotated[Secret, BeforeValidator(_file_secret)]
"""A ``*_file`` key: the field holds the file's content, read at load and at every reload."""


def find_secrets(value: object) -> Iterator[Secret]:
    """Every :class:`Secret` inside a config object, however deep."""
    if isinstance(value, Secret):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from find_secrets(getattr(value, name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from find_secrets(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from find_secrets(item)


def either(model: BaseModel, key: str, *, required: bool = True) -> Secret | None:
    """The secret of a ``key`` / ``key_file`` pair of fields on ``model``: at most one may
    be set, and with ``required`` one must. Raises ValueError, for a model validator."""
    value, from_file = getattr(model, key), getattr(model, f"{key}_file")
    if value is not None and from_file is not None:
        raise ValueError(f"use {key} or {key}_file, not both")
    if required and value is None and from_file is None:
        raise ValueError(f"needs {key} (as ${{ENV_VAR}}) or {key}_file")
    secret = value if value is not None else from_file
    assert secret is None or isinstance(secret, Secret)
    return secret


class Redactor:
    """Replaces every value it holds (long enough to be a secret) by ``<secret>``."""

    __slots__ = ("_ordered", "_values")

    def __init__(self, secrets: Iterable[Secret] = ()) -> None:
        self._values = {value for secret in secrets for value in secret.masked()}
        self._ordered: list[str] | None = None

    def hide(self, value: str) -> None:
        if value not in self._values:
            self._values.add(value)
            self._ordered = None

    def __call__(self, text: str) -> str:
        if self._ordered is None:
            # Longest first: a short value inside a longer one must not leave the rest showing.
            self._ordered = sorted(
                (value for value in self._values if len(value) >= _MIN_REDACTED_LEN),
                key=len,
                reverse=True,
            )
        for value in self._ordered:
            if value in text:
                text = text.replace(value, "<secret>")
        return text
