"""What one HTTP request of a probe is, as configured: the keys the ``http`` target and each
step of a ``flow`` share (the URL each checks its own way)."""

from __future__ import annotations

from pydantic import Field, field_validator

from pitwatch.config_types import StrictModel
from pitwatch.probes._assertions import Assertions
from pitwatch.probes._auth import Auth
from pitwatch.probes._client import check_method, check_statuses
from pitwatch.probes._hidden import SecretHeaders, TemplateSecret


class RequestSpec(StrictModel):
    method: str = "GET"
    headers: SecretHeaders = Field(default_factory=dict)
    """Header values may use ``${ENV_VAR}``; they are treated as secrets."""
    body: TemplateSecret | None = None
    """Request body; may use ``${ENV_VAR}`` (a login form's password) and is kept secret."""
    valid_status_codes: tuple[int | str, ...] = ("2xx",)
    """Allowed final statuses: codes (``200``), classes (``"2xx"``) or ranges (``"200-299"``)."""
    auth: Auth | None = None
    assertions: Assertions = Field(default_factory=Assertions)

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        return check_method(value)

    @field_validator("valid_status_codes")
    @classmethod
    def _statuses(cls, value: tuple[int | str, ...]) -> tuple[int | str, ...]:
        return check_statuses(value)
