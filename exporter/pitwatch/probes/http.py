"""The ``http`` prober: one request on a new connection, timed phase by phase, with
optional credentials (:mod:`._auth`) and checks on the answer (:mod:`._assertions`).

The request machinery lives in :mod:`._client`, shared with the ``flow`` prober, and so do
the keys of a request (:mod:`._request`).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import field_validator, model_validator

from pitwatch.config_types import TargetBase
from pitwatch.probes._assertions import ResponseView, judge
from pitwatch.probes._auth import AUTH_CONFLICT, authorization_key, send_authorised
from pitwatch.probes._client import (
    ClientOptions,
    Request,
    Timings,
    check_url,
    open_session,
)
from pitwatch.probes._kind import ProbeKind
from pitwatch.probes._located import error_at
from pitwatch.probes._request import RequestSpec
from pitwatch.result import Passed, ProbeContext

OAUTH2_STATE_KEY = "http.oauth2"


class HttpTarget(TargetBase, ClientOptions, RequestSpec):
    probe: Literal["http"]
    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)

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
