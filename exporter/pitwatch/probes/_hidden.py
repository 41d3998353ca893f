"""Secret text templates: header values and request bodies that may carry ``${ENV_VAR}``.

A header ``Bearer ${TOKEN}`` or a body ``{"password": "${PASSWORD}"}`` is one secret as a
whole; a server that echoes only the token or the password would get past a mask of the
whole text. :data:`TemplateSecret` keeps each substituted value as a part of the secret, so
the probe's :class:`~pitwatch.secrets.Redactor` masks those as well.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

from pitwatch.secrets import Secret, template_secret


def _secret_text(value: object) -> object:
    return template_secret(value) if isinstance(value, str) else value


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
