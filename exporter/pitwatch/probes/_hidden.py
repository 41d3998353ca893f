"""Secret text templates: header values and request bodies that may carry ``${ENV_VAR}``.

A header ``Bearer ${TOKEN}`` or a body ``{"password": "${PASSWORD}"}`` is one secret as a
whole; a server that echoes only the token or the password would get past a mask of the
whole text. :data:`TemplateSecret` keeps each substituted value as a part of the secret, so
the probe's :class:`~pitwatch.secrets.Redactor` masks those as well.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator

from pitwatch.secrets import Secret, template_secret


def _secret_text(value: object) -> object:
    return template_secret(value) if isinstance(value, str) else value


TemplateSecret = Annotated[Secret, BeforeValidator(_secret_text)]
"""Text that may carry ``${ENV_VAR}`` references (headers, bodies): kept as a secret, and
so is every value put into it."""
