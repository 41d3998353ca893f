"""The HTTP client the ``http`` and ``flow`` probers share: one request on a new, timed
connection, its body read up to a cap, and every failure translated once into the closed
``reason`` set.

Phases follow blackbox_exporter (summed over redirects): ``resolve`` (DNS), ``connect``
(TCP), ``tls`` (handshake), ``processing`` (request sent until response headers) and
``transfer`` (reading the body). DNS and request events come from aiohttp's tracing hooks;
the TCP/TLS split comes from :class:`_TimedConnector`, which opens the socket and then runs
the handshake on it, timing each.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import aiohappyeyeballs
import aiohttp
from aiohttp import client_exceptions as errors
from aiohttp.abc import AbstractCookieJar, AbstractResolver
from multidict import CIMultiDictProxy
from pydantic import Field

from pitwatch import __version__
from pitwatch.addresses import IpProtocol, address_family, join_host_port
from pitwatch.config_types import ByteSize, StrictModel
from pitwatch.families import Family, register
from pitwatch.probes._tls import (
    HostTlsOptions,
    earliest_expiry,
    expiry_sample,
    presented_chain,
    ssl_error_text,
)
from pitwatch.reasons import ProbeFailure, Reason, os_error_text, translated
from pitwatch.result import ProbeContext, Sample

PHASES = ("resolve", "connect", "tls", "processing", "transfer")
TLS_SHUTDOWN_SECONDS = 1.0
DEFAULT_MAX_BODY = 4 * 1024 * 1024
USER_AGENT = f"pitwatch/{__version__}"

HTTP_STATUS = register(
    Family(
        "pitwatch_http_status_code",
        "gauge",
        "HTTP status of the last probe's final response; 0 if none arrived.",
    )
)
HTTP_PHASE = register(
    Family(
        "pitwatch_http_phase_duration_seconds",
        "gauge",
        "Time the last probe spent in each phase (resolve, connect, tls, processing, transfer), "
        "summed over redirects, in seconds.",
        ("phase",),
    )
)
HTTP_REDIRECTS = register(
    Family("pitwatch_http_redirects", "gauge", "Redirects the last probe followed.")
)
HTTP_BODY_BYTES = register(
    Family(
        "pitwatch_http_response_body_bytes",
        "gauge",
        "Bytes of the final response body the last probe read (after decompression).",
    )
)


class ClientOptions(StrictModel):
    """How requests are made; shared by the ``http`` target and a ``flow``'s steps."""

    follow_redirects: bool = True
    max_redirects: int = Field(default=10, ge=1, le=100)
    max_body_bytes: ByteSize = DEFAULT_MAX_BODY
    """Reading stops, and the probe fails, past this many bytes of body."""
    ip_protocol: IpProtocol = "auto"
    tls: HostTlsOptions = Field(default_factory=HostTlsOptions)


def check_url(value: str) -> str:
    """An ``http(s)://`` URL with a host, a valid port and no credentials; raises ValueError."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must be http:// or https:// with a host, got {value!r}")
    if parts.username or parts.password:
        raise ValueError("credentials in the url would leak into logs: use headers with ${ENV_VAR}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"url has an invalid port: {value!r}") from None
    return value


def check_method(value: str) -> str:
    if not value.isalpha():
        raise ValueError(f"invalid HTTP method {value!r}")
    return value.upper()


def check_statuses(value: tuple[int | str, ...]) -> tuple[int | str, ...]:
    for item in value:
        status_range(item)
    if not value:
        raise ValueError("valid_status_codes needs at least one code")
    return value


def status_range(item: int | str) -> tuple[int, int]:
    """``200`` -> (200, 200); ``"2xx"`` -> (200, 299); ``"200-204"`` -> (200, 204)."""
    text = str(item).strip().lower()
    try:
        if len(text) == 3 and text.endswith("xx") and text[0] in "12345":
            base = int(text[0]) * 100
            return base, base + 99
        if "-" in text:
            low, high = (int(part) for part in text.split("-", 1))
        else:
            low = high = int(text)
    except ValueError:
        raise ValueError(f'invalid status code {item!r}: use 200, "2xx" or "200-299"') from None
    if not 100 <= low <= high <= 599:
        raise ValueError(f"status code {item!r} is outside 100-599")
    return low, high


def status_failure(
    status: int, allowed: tuple[int | str, ...], authenticated: bool
) -> ProbeFailure | None:
    """Why ``status`` is not an accepted answer, or ``None`` when it is.

    With credentials configured, a 401 or 403 that is not explicitly allowed means they
    were rejected: reason ``auth``, so it routes apart from a broken service."""
    if any(low <= status <= high for low, high in map(status_range, allowed)):
        return None
    if authenticated and status in (401, 403):
        return ProbeFailure(Reason.AUTH, f"HTTP {status}: the credentials were rejected")
    expected = ", ".join(str(code) for code in allowed)
    return ProbeFailure(Reason.HTTP_STATUS, f"HTTP {status} (expected {expected})")


@dataclass(slots=True)
class Timings:
    """Phase totals and certificate expiry of one probe, filled in as it runs."""

    phases: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    cert_expiry: float | None = None
    status: int = 0
    redirects: int = 0
    body_bytes: int = 0
    _dns_start: float = 0.0
    _sent_at: float = 0.0

    def add(self, phase: str, seconds: float) -> None:
        self.phases[phase] += max(0.0, seconds)

    def saw_certificates(self, chain: list[bytes]) -> None:
        expiry = earliest_expiry(chain)
        if expiry is not None and (self.cert_expiry is None or expiry < self.cert_expiry):
            self.cert_expiry = expiry

    def samples(self) -> tuple[Sample, ...]:
        phases = tuple(
            Sample(HTTP_PHASE, seconds, (("phase", phase),))
            for phase, seconds in self.phases.items()
        )
        return (
            Sample(HTTP_STATUS, self.status),
            *phases,
            Sample(HTTP_REDIRECTS, self.redirects),
            Sample(HTTP_BODY_BYTES, self.body_bytes),
            *expiry_sample(self.cert_expiry),
        )


def _timings(trace_ctx: SimpleNamespace) -> Timings:
    timings = trace_ctx.trace_request_ctx
    assert isinstance(timings, Timings)
    return timings


async def _on_dns_start(_: Any, ctx: SimpleNamespace, __: Any) -> None:
    _timings(ctx)._dns_start = time.perf_counter()


async def _on_dns_end(_: Any, ctx: SimpleNamespace, __: Any) -> None:
    timings = _timings(ctx)
    timings.add("resolve", time.perf_counter() - timings._dns_start)


async def _on_sent(_: Any, ctx: SimpleNamespace, __: Any) -> None:
    _timings(ctx)._sent_at = time.perf_counter()


async def _on_response(_: Any, ctx: SimpleNamespace, params: Any) -> None:
    timings = _timings(ctx)
    now = time.perf_counter()
    if timings._sent_at:
        timings.add("processing", now - timings._sent_at)
    timings._sent_at = 0.0
    timings.status = params.response.status


def _trace_config() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_dns_resolvehost_start.append(_on_dns_start)
    trace.on_dns_resolvehost_end.append(_on_dns_end)
    trace.on_request_headers_sent.append(_on_sent)
    trace.on_request_chunk_sent.append(_on_sent)
    trace.on_request_redirect.append(_on_response)
    trace.on_request_end.append(_on_response)
    return trace


_TRACE = _trace_config()


class _TimedConnector(aiohttp.TCPConnector):
    """A connector that opens the TCP socket, then runs TLS on it, timing both.

    Overrides aiohttp's connection step (``_wrap_create_connection``, stable across 3.10-3.14)
    because no tracing hook separates TCP connect from the TLS handshake.
    """

    def __init__(self, timings: Timings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pitwatch_timings = timings

    async def _wrap_create_connection(
        self,
        *args: Any,
        addr_infos: list[Any],
        req: aiohttp.ClientRequest,
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature
        client_error: type[Exception] = errors.ClientConnectorError,
        **kwargs: Any,
    ) -> tuple[asyncio.Transport, Any]:
        timings = self._pitwatch_timings
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            sock = await aiohappyeyeballs.start_connection(addr_infos, loop=loop)
        except OSError as exc:
            raise client_error(req.connection_key, exc) from exc
        connected = time.perf_counter()
        timings.add("connect", connected - started)
        if kwargs.get("ssl"):
            # A peer that never answers close_notify would hold the socket for asyncio's
            # default 30 s after every probe; 10,000 targets cannot afford that.
            kwargs["ssl_shutdown_timeout"] = TLS_SHUTDOWN_SECONDS
        try:
            transport, protocol = await loop.create_connection(*args, **kwargs, sock=sock)
        except BaseException as exc:
            sock.close()  # also when the deadline cancels the handshake
            if isinstance(exc, ssl.SSLCertVerificationError):
                raise errors.ClientConnectorCertificateError(req.connection_key, exc) from exc
            if isinstance(exc, ssl.SSLError):
                raise errors.ClientConnectorSSLError(req.connection_key, exc) from exc
            if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
                raise client_error(req.connection_key, exc) from exc
            raise
        finally:
            if kwargs.get("ssl"):
                timings.add("tls", time.perf_counter() - connected)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            timings.saw_certificates(presented_chain(ssl_object))
        return transport, protocol


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str]
    body: str | None = None
    step_prefix: str = ""
    """Put before what the probe is doing, e.g. ``step "login": ``."""

    def with_header(self, name: str, value: str) -> Request:
        headers = {key: item for key, item in self.headers.items() if key.lower() != name.lower()}
        headers[name] = value
        return Request(self.method, self.url, headers, self.body, self.step_prefix)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    url: str


def open_session(
    options: ClientOptions,
    timings: Timings,
    resolver: AbstractResolver | None = None,
    cookies: AbstractCookieJar | None = None,
) -> aiohttp.ClientSession:
    """A session whose every request uses a new, timed connection."""
    connector = _TimedConnector(
        timings,
        # The configured TLS options apply to every https request, redirects included.
        ssl=options.tls.context(),
        force_close=True,
        use_dns_cache=False,
        family=address_family(options.ip_protocol),
        resolver=resolver,
    )
    return aiohttp.ClientSession(
        connector=connector,
        trace_configs=[_TRACE],
        cookie_jar=cookies if cookies is not None else aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None),
        headers={"User-Agent": USER_AGENT},
    )


async def send(
    session: aiohttp.ClientSession,
    options: ClientOptions,
    timings: Timings,
    ctx: ProbeContext,
    request: Request,
) -> Response:
    """One request (redirects followed per ``options``), body read up to the cap; every
    failure is raised as :class:`ProbeFailure` with its reason."""
    ctx.step = f"{request.step_prefix}requesting {safe_url(request.url)}"
    with translated(lambda exc: http_failure(exc, request.url, options.max_redirects)):
        async with session.request(
            request.method,
            request.url,
            headers=dict(request.headers),
            data=request.body,
            allow_redirects=options.follow_redirects,
            max_redirects=options.max_redirects,
            server_hostname=options.tls.server_name,
            trace_request_ctx=timings,
        ) as response:
            timings.redirects += len(response.history)
            ctx.step = f"{request.step_prefix}reading the response body"
            started = time.perf_counter()
            content = await _read_capped(response, options.max_body_bytes)
            timings.add("transfer", time.perf_counter() - started)
            timings.body_bytes = len(content)
            return Response(response.status, response.headers, content, str(response.url))


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ProbeFailure(
                Reason.PROTOCOL, f"response body larger than the {_human_bytes(limit)} limit"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _human_bytes(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"


def safe_url(url: str) -> str:
    """Scheme, host and path only: queries can carry tokens."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path or '/'}"


def http_failure(exc: Exception, url: str, max_redirects: int) -> ProbeFailure | None:
    """The one place aiohttp, ssl and socket errors become a :class:`ProbeFailure`: the
    reason and message for an exception met during a request, or ``None`` for a bug."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 0
    # Several services often share one host: the port says which one refused.
    endpoint = join_host_port(host, port)
    if isinstance(exc, TimeoutError):
        return ProbeFailure(Reason.TIMEOUT, "timed out")
    if isinstance(exc, errors.ClientConnectorCertificateError):
        return ProbeFailure(
            Reason.TLS, f"certificate not accepted: {ssl_error_text(exc.certificate_error)}"
        )
    if isinstance(exc, (errors.ClientSSLError, ssl.SSLError)):
        cause = exc.__cause__ if isinstance(exc.__cause__, ssl.SSLError) else exc
        return ProbeFailure(Reason.TLS, f"TLS handshake failed: {ssl_error_text(cause)}")
    if isinstance(exc, errors.ClientConnectorDNSError) or isinstance(
        getattr(exc, "os_error", None), socket.gaierror
    ):
        return ProbeFailure(Reason.DNS, f"cannot resolve {host}")
    if isinstance(exc, errors.ClientConnectorError):
        return ProbeFailure(
            Reason.CONNECT, f"cannot connect to {endpoint}: {os_error_text(exc.os_error)}"
        )
    if isinstance(exc, errors.ServerDisconnectedError):
        return ProbeFailure(Reason.CONNECT, "server closed the connection without a response")
    if isinstance(exc, errors.TooManyRedirects):
        return ProbeFailure(
            Reason.HTTP_STATUS, f"more than {max_redirects} redirects (redirect loop?)"
        )
    if isinstance(exc, errors.InvalidURL):
        return ProbeFailure(Reason.PROTOCOL, "invalid URL (a redirect or a captured value?)")
    if isinstance(exc, (errors.ClientPayloadError, errors.ClientResponseError)):
        return ProbeFailure(Reason.PROTOCOL, f"invalid HTTP response: {_first_line(exc)}")
    if isinstance(exc, aiohttp.http_exceptions.HttpProcessingError):
        return ProbeFailure(Reason.PROTOCOL, f"invalid HTTP response: {_first_line(exc)}")
    if isinstance(exc, (errors.ClientOSError, ConnectionError, OSError)):
        return ProbeFailure(
            Reason.CONNECT, f"connection to {endpoint} failed: {os_error_text(exc)}"
        )
    return None


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(text).splitlines()[0][:200]
