"""Secrets: values that must never reach ``/metrics``, logs, the status page or an error message.

A config never holds a secret inline. It names an environment variable (``${DB_PASSWORD}``)
or a file (``password_file: secrets/db``, relative to the config file's directory), and the
value lands in a :class:`Secret`, whose ``str()`` and ``repr()`` are ``<secret>``. Text
that may have picked up a secret on its way out (an exception message, say) goes through
:func:`redact` with the target's secrets.
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
    """A string that prints as ``<secret>``; :meth:`reveal` is the one way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

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


def redact(text: str, secrets: Iterable[Secret]) -> str:
    """``text`` with every secret value (long enough to be one) replaced by ``<secret>``."""
    for secret in secrets:
        raw = secret.reveal()
        if len(raw) >= _MIN_REDACTED_LEN and raw in text:
            text = text.replace(raw, "<secret>")
    return text
