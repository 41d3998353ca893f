"""What a probe must never show beyond the config's own secrets, which the scheduler masks:
values learned while probing (OAuth2 tokens, a flow's captured values), and the
``${ENV}`` values inside a longer secret text.

A header ``Bearer ${TOKEN}`` or a body ``{"password": "${PASSWORD}"}`` is one secret as a
whole; a server that echoes only the token or the password would get past a mask of the
whole text. :data:`TemplateSecret` keeps each substituted value too, and the probers mask
those as well.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Annotated

from pydantic import BeforeValidator

from pitwatch.secrets import Secret, expand_env, redact

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SecretText(Secret):
    """Secret text that knows the environment values substituted into it."""

    __slots__ = ("parts",)

    def __init__(self, value: str, parts: tuple[str, ...] = ()) -> None:
        super().__init__(value)
        self.parts = parts


def _secret_text(value: object) -> object:
    if isinstance(value, str):
        text = expand_env(value)  # raises for an unset variable
        return SecretText(text, tuple(os.environ[name] for name in _ENV_REF.findall(value)))
    return value


TemplateSecret = Annotated[Secret, BeforeValidator(_secret_text)]
"""Text that may carry ``${ENV_VAR}`` references (headers, bodies): kept as a secret, and
so is every value put into it."""

_CREDENTIAL_HEADER = re.compile(
    r"authorization|cookie|auth|token|secret|passw(or)?d|api[-_]?key|access[-_]?key", re.I
)


def _no_literal_credentials(value: object) -> object:
    """A header that carries a credential takes it from ``${ENV_VAR}`` (or, in a flow, from
    a ``{{ captured }}`` value), as a literal password is refused: the config file ends up in
    version control, backups and support tickets."""
    if isinstance(value, dict):
        for name, text in value.items():
            if not isinstance(name, str) or not isinstance(text, str):
                continue
            if _CREDENTIAL_HEADER.search(name) and not ("${" in text or "{{" in text):
                raise ValueError(
                    f'header "{name}" holds a literal credential: write secrets as ${{ENV_VAR}}, '
                    f'e.g. {name}: "Bearer ${{API_TOKEN}}"'
                )
    return value


SecretHeaders = Annotated[dict[str, TemplateSecret], BeforeValidator(_no_literal_credentials)]
"""Request headers: secret like :data:`TemplateSecret`, and a credential header written as a
literal is an error."""


class Hidden:
    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str) -> None:
        self._values.add(value)

    def add_parts(self, secrets: Iterable[Secret | None]) -> None:
        for secret in secrets:
            if isinstance(secret, SecretText):
                self._values.update(secret.parts)

    def __call__(self, text: str) -> str:
        # Longest first: a short value inside a longer one must not leave the rest showing.
        values = sorted(self._values, key=len, reverse=True)
        return redact(text, [Secret(value) for value in values])
