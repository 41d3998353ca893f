"""The Prometheus HTTP API, as ``pitwatch report`` uses it: instant queries (vectors and raw
range vectors), range queries and series look-ups, with basic auth or a bearer token, a CA
file, a per-request timeout and a bound on the requests in flight.

Every failure is translated here, once, into a :class:`ReportError` that names the Prometheus
by its display URL (no credentials) and says what to check.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import aiohttp

from pitwatch.report.connection import Connection
from pitwatch.report.errors import ReportError
from pitwatch.report.progress import Progress

DEFAULT_CONCURRENCY = 4
MAX_POINTS = 11000
"""Prometheus refuses range queries of more than 11,000 points per series."""


@dataclass(frozen=True, slots=True)
class Sample:
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class Series:
    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]
    """(Unix time, value), oldest first."""


def _number(text: str) -> float:
    value = float(text)
    return value if not math.isnan(value) else math.nan


class Prometheus:
    """Use as ``async with Prometheus(connection) as prom: await prom.vector(...)``."""

    def __init__(
        self,
        connection: Connection,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: Progress | None = None,
    ) -> None:
        self.connection = connection
        self.progress = progress or Progress(enabled=False)
        self._slots = asyncio.Semaphore(concurrency)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        ssl_context: ssl.SSLContext | bool = True
        if self.connection.ca_file is not None:
            try:
                ssl_context = ssl.create_default_context(cafile=str(self.connection.ca_file))
            except (ssl.SSLError, OSError):
                raise ReportError(
                    f"--ca-file {self.connection.ca_file}: not a PEM certificate file"
                ) from None
        headers = {"Accept": "application/json", "User-Agent": "pitwatch-report"}
        auth = None
        if self.connection.bearer_token is not None:
            headers["Authorization"] = f"Bearer {self.connection.bearer_token.reveal()}"
        elif self.connection.username is not None:
            password = self.connection.password.reveal() if self.connection.password else ""
            auth = aiohttp.BasicAuth(self.connection.username, password)
        self._session = aiohttp.ClientSession(
            headers=headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=self.connection.timeout),
            connector=aiohttp.TCPConnector(ssl=ssl_context, limit=0),
        )
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- the API -------------------------------------------------------------------------

    async def check(self) -> None:
        """Fails with a clear message unless this answers like a Prometheus and logs us in."""
        await self._call("query", {"query": "vector(1)"})

    async def vector(self, expr: str, at: float) -> list[Sample]:
        data = await self._call("query", {"query": expr, "time": _time(at)})
        if data.get("resultType") != "vector":
            raise self._unexpected("query", f"a {data.get('resultType')} for an instant vector")
        return [Sample(dict(item["metric"]), _number(item["value"][1])) for item in data["result"]]

    async def matrix(self, expr: str, at: float) -> list[Series]:
        """Raw samples of a range selector (``ALERTS[1d]``) evaluated at ``at``."""
        data = await self._call("query", {"query": expr, "time": _time(at)})
        if data.get("resultType") != "matrix":
            raise self._unexpected("query", f"a {data.get('resultType')} for a range selector")
        return [_series(item) for item in data["result"]]

    async def range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """A range query, split so that no part asks for more than Prometheus allows."""
        step = max(1.0, float(int(step)))
        parts = []
        begin = float(int(start))
        while begin <= end:
            finish = min(end, begin + step * (MAX_POINTS - 1))
            parts.append((begin, finish))
            begin = finish + step
        answers = await asyncio.gather(*(self._range(expr, a, b, step) for a, b in parts))
        merged: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        labels_of: dict[tuple[tuple[str, str], ...], Mapping[str, str]] = {}
        for answer in answers:
            for series in answer:
                key = tuple(sorted(series.labels.items()))
                labels_of[key] = series.labels
                merged.setdefault(key, []).extend(series.points)
        return [Series(labels_of[key], tuple(points)) for key, points in merged.items()]

    async def _range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        data = await self._call(
            "query_range",
            {"query": expr, "start": _time(start), "end": _time(end), "step": f"{step:g}"},
        )
        return [_series(item) for item in data["result"]]

    async def series(self, match: str, start: float, end: float) -> list[Mapping[str, str]]:
        data = await self._call(
            "series", {"match[]": match, "start": _time(start), "end": _time(end)}
        )
        if not isinstance(data, list):
            raise self._unexpected("series", "no list of series")
        return [dict(item) for item in data]

    # -- transport and errors ------------------------------------------------------------

    async def _call(self, endpoint: str, form: Mapping[str, str]) -> Any:
        assert self._session is not None, "use Prometheus as an async context manager"
        url = f"{self.connection.base_url}/api/v1/{endpoint}"
        where = self.connection.display_url
        async with self._slots:
            try:
                async with self._session.post(url, data=dict(form)) as response:
                    body = await response.read()
                    status = response.status
                    content_type = response.headers.get("Content-Type", "")
            except TimeoutError:
                raise ReportError(
                    f"{where} did not answer within {self.connection.timeout:g}s "
                    "(a slow query or a hung server; raise --timeout or shorten the range)"
                ) from None
            except aiohttp.ClientConnectorCertificateError:
                raise ReportError(
                    f"{where}: its TLS certificate is not trusted (give its CA with --ca-file)"
                ) from None
            except aiohttp.ClientSSLError as exc:
                raise ReportError(f"{where}: TLS failed: {_ssl_reason(exc)}") from None
            except aiohttp.ClientConnectorError as exc:
                error = exc.os_error
                reason = (os.strerror(error.errno) if error.errno else str(error)).lower()
                raise ReportError(f"cannot connect to {where}: {reason}") from None
            except aiohttp.ClientError as exc:
                raise ReportError(f"{where}: {self._scrub(type(exc).__name__)}") from None
        self.progress.answered_one()
        return self._payload(endpoint, status, content_type, body)

    def _payload(self, endpoint: str, status: int, content_type: str, body: bytes) -> Any:
        where = self.connection.display_url
        if status == 401:
            raise ReportError(
                f"{where}: HTTP 401 Unauthorized: check --basic-auth-user and "
                "--basic-auth-password-file, or --bearer-token-file"
            )
        if status == 403:
            raise ReportError(f"{where}: HTTP 403 Forbidden: these credentials may not query")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict) or payload.get("status") not in ("success", "error"):
            kind = content_type.split(";", maxsplit=1)[0] or "no content type"
            raise ReportError(
                f"{where} is not a Prometheus: /api/v1/{endpoint} answered HTTP {status} "
                f"({kind}); give the URL Prometheus's web UI is served at"
            )
        if payload["status"] == "error":
            error = self._scrub(str(payload.get("error", "unknown error")))[:300]
            raise ReportError(
                f"{where} refused a query (HTTP {status}, {payload.get('errorType', 'error')}): "
                f"{error}"
            )
        return payload.get("data")

    def _unexpected(self, endpoint: str, what: str) -> ReportError:
        return ReportError(
            f"{self.connection.display_url} answered /api/v1/{endpoint} with {what}: "
            "is it a Prometheus-compatible API?"
        )

    def _scrub(self, text: str) -> str:
        for secret in self.connection.secrets:
            text = text.replace(secret, "<secret>")
        return text


def _ssl_reason(exc: aiohttp.ClientSSLError) -> str:
    inner = exc.os_error if hasattr(exc, "os_error") else exc
    reason = getattr(inner, "reason", None) or getattr(inner, "strerror", None)
    return str(reason or type(inner).__name__).lower()


def _time(at: float) -> str:
    return f"{at:.3f}"


def _series(item: Mapping[str, Any]) -> Series:
    return Series(
        dict(item["metric"]),
        tuple((float(t), _number(v)) for t, v in item.get("values", ())),
    )
