"""Credentials on HTTP requests: basic, bearer token, OAuth2 client credentials.

Every secret comes from ``${ENV}`` or a ``*_file`` (see :mod:`pitwatch.secrets`). An OAuth2
token is fetched from the token URL and kept in the target's probe state until shortly
before it expires, so a probe every 15 s does not ask the identity provider every 15 s.
A token the target rejects with 401 although it had not expired (revoked, keys rotated)
is dropped and fetched once more within the same probe.

Failures: the token endpoint refusing the client (400, 401, 403) is reason ``auth``; it
failing otherwise keeps the reason of what went wrong (``connect``, ``http_status``, ...).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal, Self
from urllib.parse import quote_plus, urlencode

import aiohttp
from pydantic import Field, field_validator, model_validator

from pitwatch.config_types import StrictModel
from pitwatch.probes._client import (
    ClientOptions,
    Request,
    Response,
    Timings,
    check_url,
    open_session,
    send,
)
from pitwatch.probes._tls import HostTlsOptions
from pitwatch.reasons import ProbeFailure, Reason
from pitwatch.result import ProbeContext
from pitwatch.secrets import EnvSecret, FileSecret, either

_REFRESH_SHARE = 0.1
_REFRESH_MAX_SECONDS = 60.0
"""A token is renewed when 10% of its life, at most a minute, is left: no request should
carry a token that expires on the way."""
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


class _WithSecret(StrictModel):
    """Credentials holding one secret as ``<secret_key>`` (``${ENV}``) or
    ``<secret_key>_file``: exactly one of the two."""

    secret_key: ClassVar[str]

    @model_validator(mode="after")
    def _one_secret(self) -> Self:
        either(self, self.secret_key)
        return self

    def secret(self) -> str:
        secret = either(self, self.secret_key)
        assert secret is not None  # the validator required one
        return secret.reveal()


class BasicAuth(_WithSecret):
    secret_key = "password"
    username: str
    password: EnvSecret | None = None
    password_file: FileSecret | None = None

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if ":" in value:
            raise ValueError("a basic auth username cannot contain ':'")
        return value


class BearerAuth(_WithSecret):
    secret_key = "token"
    token: EnvSecret | None = None
    token_file: FileSecret | None = None


class OAuth2(_WithSecret):
    secret_key = "client_secret"
    token_url: str
    client_id: str
    client_secret: EnvSecret | None = None
    client_secret_file: FileSecret | None = None
    scopes: tuple[str, ...] = ()
    params: dict[str, str] = Field(default_factory=dict)
    """Extra form fields of the token request, e.g. ``{audience: payments-api}``."""
    client_auth: Literal["basic", "post"] = "basic"
    """``basic``: client id and secret in an Authorization header (client_secret_basic);
    ``post``: in the form body (client_secret_post)."""
    tls: HostTlsOptions = Field(default_factory=HostTlsOptions)
    """TLS towards the token URL (CA, client certificate for mTLS)."""

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str) -> str:
        return check_url(value)


class Auth(StrictModel):
    """Exactly one of ``basic``, ``bearer``, ``oauth2``."""

    basic: BasicAuth | None = None
    bearer: BearerAuth | None = None
    oauth2: OAuth2 | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        chosen = [key for key in ("basic", "bearer", "oauth2") if getattr(self, key) is not None]
        if len(chosen) != 1:
            raise ValueError("auth needs exactly one of basic, bearer, oauth2")
        return self


AUTH_CONFLICT = "an Authorization header and auth cannot both be set"


def authorization_key(headers: Mapping[str, object]) -> str | None:
    """The key of an Authorization header in ``headers``, however it is capitalised."""
    return next((name for name in headers if name.lower() == "authorization"), None)


def basic_credentials(username: str, password: str) -> str:
    """RFC 7617 with UTF-8 (aiohttp's BasicAuth is deprecated and defaults to Latin-1)."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


@dataclass(frozen=True, slots=True)
class Credentials:
    header: str
    """The Authorization header value."""
    secret: str
    """The part of it that must never be shown on its own (token, encoded password)."""
    cached: bool
    """A token from an earlier probe (worth one fresh try if the target rejects it)."""


@dataclass(frozen=True, slots=True)
class _CachedToken:
    config: OAuth2
    token: str
    refresh_at: float | None
    """Loop time after which a fresh token is fetched; ``None``: until the target rejects it."""


async def credentials(auth: Auth, ctx: ProbeContext, state_key: str, prefix: str) -> Credentials:
    if auth.basic is not None:
        encoded = basic_credentials(auth.basic.username, auth.basic.secret())
        return Credentials(f"Basic {encoded}", encoded, cached=False)
    if auth.bearer is not None:
        token = auth.bearer.secret()
        return Credentials(f"Bearer {token}", token, cached=False)
    assert auth.oauth2 is not None
    now = asyncio.get_running_loop().time()
    cached = ctx.state.get(state_key)
    if (
        isinstance(cached, _CachedToken)
        and cached.config == auth.oauth2
        and (cached.refresh_at is None or now < cached.refresh_at)
    ):
        return Credentials(f"Bearer {cached.token}", cached.token, cached=True)
    token, lifetime = await fetch_token(auth.oauth2, ctx, prefix)
    refresh_at = None
    if lifetime is not None:
        refresh_at = now + lifetime - min(_REFRESH_MAX_SECONDS, lifetime * _REFRESH_SHARE)
    ctx.state[state_key] = _CachedToken(auth.oauth2, token, refresh_at)
    return Credentials(f"Bearer {token}", token, cached=False)


async def fetch_token(oauth: OAuth2, ctx: ProbeContext, prefix: str) -> tuple[str, float | None]:
    """A new access token and its lifetime in seconds (``None`` when the server gives none)."""
    form = {"grant_type": "client_credentials"}
    if oauth.scopes:
        form["scope"] = " ".join(oauth.scopes)
    form.update(oauth.params)
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    if oauth.client_auth == "basic":
        # RFC 6749 2.3.1: id and secret are form-encoded before they go into the header.
        encoded = basic_credentials(quote_plus(oauth.client_id), quote_plus(oauth.secret()))
        headers["Authorization"] = f"Basic {encoded}"
    else:
        form.update(client_id=oauth.client_id, client_secret=oauth.secret())
    options = ClientOptions(tls=oauth.tls, follow_redirects=False)
    request = Request(
        "POST", oauth.token_url, headers, urlencode(form), step_prefix=f"{prefix}OAuth2 token: "
    )
    timings = Timings()  # the token's phases are not the target's
    try:
        async with open_session(options, timings) as session:
            response = await send(session, options, timings, ctx, request)
    except ProbeFailure as failure:
        raise ProbeFailure(failure.reason, f"OAuth2 token endpoint: {failure.message}") from None
    return _read_token(response)


def _read_token(response: Response) -> tuple[str, float | None]:
    try:
        document = json.loads(response.body)
    except ValueError:
        document = None
    status = response.status
    if status in (400, 401, 403):
        code = document.get("error") if isinstance(document, dict) else None
        shown = f" ({code})" if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else ""
        raise ProbeFailure(Reason.AUTH, f"OAuth2 token request rejected: HTTP {status}{shown}")
    if not 200 <= status < 300:
        raise ProbeFailure(Reason.HTTP_STATUS, f"OAuth2 token endpoint answered HTTP {status}")
    token = document.get("access_token") if isinstance(document, dict) else None
    if not isinstance(token, str) or not token:
        raise ProbeFailure(Reason.PROTOCOL, "OAuth2 token endpoint answered without access_token")
    assert isinstance(document, dict)
    lifetime = document.get("expires_in")
    if isinstance(lifetime, str) and lifetime.isdigit():
        lifetime = int(lifetime)  # some servers send a string
    if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or lifetime <= 0:
        return token, None
    return token, float(lifetime)


async def send_authorised(
    session: aiohttp.ClientSession,
    options: ClientOptions,
    timings: Timings,
    ctx: ProbeContext,
    request: Request,
    *,
    auth: Auth | None,
    state_key: str,
) -> Response:
    """``request`` with its credentials; a cached OAuth2 token the target refuses is
    replaced once."""
    if auth is None:
        return await send(session, options, timings, ctx, request)
    granted = await credentials(auth, ctx, state_key, request.step_prefix)
    response = await _send_with(session, options, timings, ctx, request, granted=granted)
    if response.status == 401 and granted.cached:
        ctx.state.pop(state_key, None)
        granted = await credentials(auth, ctx, state_key, request.step_prefix)
        response = await _send_with(session, options, timings, ctx, request, granted=granted)
    return response


async def _send_with(
    session: aiohttp.ClientSession,
    options: ClientOptions,
    timings: Timings,
    ctx: ProbeContext,
    request: Request,
    *,
    granted: Credentials,
) -> Response:
    ctx.hide(granted.header)
    ctx.hide(granted.secret)
    authorised = request.with_header("Authorization", granted.header)
    return await send(session, options, timings, ctx, authorised)
