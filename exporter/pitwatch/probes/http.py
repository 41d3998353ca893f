"""The ``http`` prober: one request on a new connection, timed phase by phase, with
optional credentials (:mod:`._auth`) and checks on the answer (:mod:`._assertions`).

The request machinery lives in :mod:`._client`, shared with the ``flow`` prober; its
names are re-exported here for the callers that know them from this module.
"""

from __future__ import annotations

from typing import Literal, Self

import aiohttp
from pydantic import Field, field_validator, model_validator

from pitwatch.config_types import TargetBase
from pitwatch.probes._assertions import Assertions, ResponseView, judge
from pitwatch.probes._auth import AUTH_CONFLICT, Auth, authorization_key, send_authorised
from pitwatch.probes._client import (
    HTTP_BODY_BYTES,
    HTTP_PHASE,
    HTTP_REDIRECTS,
    HTTP_STATUS,
    PHASES,
    USER_AGENT,
    ClientOptions,
    Request,
    Response,
    Timings,
    check_method,
    check_statuses,
    check_url,
    open_session,
    send,
    status_range,
)
from pitwatch.probes._hidden import TemplateSecret
from pitwatch.probes._kind import ProbeKind
from pitwatch.probes._located import error_at
from pitwatch.result import Passed, ProbeContext

OAUTH2_STATE_KEY = "http.oauth2"


class HttpTarget(TargetBase, ClientOptions):
    probe: Literal["http"]
    url: str
    method: str = "GET"
    headers: dict[str, TemplateSecret] = Field(default_factory=dict)
    """Header values may use ``${ENV_VAR}``; they are treated as secrets."""
    body: TemplateSecret | None = None
    """Request body; may use ``${ENV_VAR}`` (a login form's password) and is kept secret."""
    valid_status_codes: tuple[int | str, ...] = ("2xx",)
    """Allowed final statuses: codes (``200``), classes (``"2xx"``) or ranges (``"200-299"``)."""
    auth: Auth | None = None
    assertions: Assertions = Field(default_factory=Assertions)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        return check_method(value)

    @field_validator("valid_status_codes")
    @classmethod
    def _statuses(cls, value: tuple[int | str, ...]) -> tuple[int | str, ...]:
        return check_statuses(value)

    @model_validator(mode="after")
    def _one_authorization(self) -> Self:
        key = authorization_key(self.headers)
        if self.auth is not None and key is not None:
            raise error_at("HttpTarget", ("headers", key), AUTH_CONFLICT, key)
        return self

    def request(self) -> Request:
        headers = {name: value.reveal() for name, value in self.headers.items()}
        body = self.body.reveal() if self.body is not None else None
        return Request(self.method, self.url, headers, body)


async def fetch(
    session: aiohttp.ClientSession,
    target: HttpTarget,
    timings: Timings,
    ctx: ProbeContext,
    *,
    url: str | None = None,
    method: str | None = None,
    headers: dict[str, str] | None = None,
    body: str | None = None,
) -> Response:
    """``target``'s request (parts overridable), without its auth; failures are raised as
    :class:`ProbeFailure`."""
    base = target.request()
    request = Request(
        method or base.method,
        url or base.url,
        headers if headers is not None else base.headers,
        body if body is not None else base.body,
    )
    return await send(session, target, timings, ctx, request)


async def probe(target: HttpTarget, ctx: ProbeContext) -> Passed:
    timings = Timings()
    try:
        async with open_session(target, timings) as session:
            response = await send_authorised(
                session,
                target,
                timings,
                ctx,
                target.request(),
                auth=target.auth,
                state_key=OAUTH2_STATE_KEY,
            )
    finally:
        ctx.samples = timings.samples()
    authenticated = target.auth is not None
    failure = judge(
        ResponseView(response), target.valid_status_codes, target.assertions, authenticated
    )
    if failure is not None:
        raise failure
    return Passed(f"HTTP {response.status}")


KIND = ProbeKind("http", HttpTarget, probe)

__all__ = [
    "HTTP_BODY_BYTES",
    "HTTP_PHASE",
    "HTTP_REDIRECTS",
    "HTTP_STATUS",
    "KIND",
    "PHASES",
    "USER_AGENT",
    "HttpTarget",
    "Response",
    "Timings",
    "fetch",
    "open_session",
    "probe",
    "status_range",
]
