"""Config errors found after a model's own fields validated, reported at the exact key.

A cross-field check (a flow step using a value no earlier step captures) belongs to the
whole model, but the user needs the line of the offending key. Pydantic keeps the location
of a ``ValidationError`` raised inside a validator, prefixed with the enclosing path, so the
loader's ``FILE:LINE`` points at that key.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


def error_at(
    model: str, loc: tuple[str | int, ...], message: str, value: object
) -> ValidationError:
    detail = InitErrorDetails(
        type=PydanticCustomError("value_error", "{error}", {"error": message}),
        loc=loc,
        input=value,
    )
    return ValidationError.from_exception_data(model, [detail])
