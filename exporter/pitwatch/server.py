"""The HTTP side: ``/metrics``, ``/probe``, ``/-/healthy``, ``/-/ready``, ``/-/reload``, ``/``.

Requests pass the web config's checks first (:mod:`pitwatch.websecurity`), then the cap on
concurrent scrapes (:mod:`pitwatch.ondemand`). A request the HTTP parser cannot read (a
100,000-character URL, binary garbage) is answered 400 by aiohttp and logged as one warning
line at most every :data:`CLIENT_ERROR_LOG_SECONDS`, never with a traceback: a client must
not be able to flood the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from pitwatch.exposition import CONTENT_TYPE
from pitwatch.ondemand import DEFAULT_MAX_REQUESTS, ScrapeLimit
from pitwatch.runtime import Exporter
from pitwatch.statuspage import render_status_page
from pitwatch.websecurity.guard import WebGuard

EXPORTER = web.AppKey("exporter", Exporter)
LIFECYCLE = web.AppKey("lifecycle", bool)
SCRAPES = web.AppKey("scrapes", ScrapeLimit)
CLIENT_ERROR_LOG_SECONDS = 60.0
_SHOWN_NAME = 100
"""Characters of an unknown target name echoed back."""


class _ClientErrorLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger, with a malformed request as a rate-limited line."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})
        self._next = 0.0
        self._hidden = 0

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if not isinstance(exc_info, HttpProcessingError):
            self.logger.error(msg, *args, exc_info=exc_info, **kwargs)
            return
        now = time.monotonic()
        if now < self._next:
            self._hidden += 1
            return
        hidden = f" ({self._hidden} more since the last such line)" if self._hidden else ""
        self._next, self._hidden = now + CLIENT_ERROR_LOG_SECONDS, 0
        reason = str(exc_info.message).splitlines()[0][:120]
        peer = args[0] if args else "?"
        self.logger.warning(
            "malformed request from %s answered %d: %s%s", peer, exc_info.code, reason, hidden
        )

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return msg, kwargs


def runner_options() -> dict[str, Any]:
    """What every pitwatch ``web.AppRunner`` is made with."""
    return {
        "access_log": None,
        "handle_signals": False,
        "logger": _ClientErrorLog(logging.getLogger("aiohttp.server")),
    }


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    exporter = app[EXPORTER]
    await exporter.start()
    yield
    await exporter.stop()


def make_app(
    exporter: Exporter,
    *,
    guard: WebGuard | None = None,
    lifecycle: bool = False,
    max_requests: int = DEFAULT_MAX_REQUESTS,
) -> web.Application:
    """The exporter's app; ``lifecycle`` enables ``POST /-/reload`` (``--web.enable-lifecycle``)."""
    middlewares = [guard.middleware] if guard is not None else []
    app = web.Application(middlewares=[*middlewares, _scrape_limit])
    app[EXPORTER] = exporter
    app[LIFECYCLE] = lifecycle
    app[SCRAPES] = ScrapeLimit(max_requests)
    app.cleanup_ctx.append(_lifecycle)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/probe", probe)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    app.router.add_get("/", status_page)
    return app


@web.middleware
async def _scrape_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path not in ("/metrics", "/probe"):
        return await handler(request)
    limit = request.app[SCRAPES]
    if not limit.enter():
        return web.Response(
            status=503,
            text=f"too many concurrent scrapes (--web.max-requests={limit.limit})\n",
            headers={"Retry-After": "1"},
        )
    try:
        return await handler(request)
    finally:
        limit.leave()


async def metrics(request: web.Request) -> web.Response:
    exporter = request.app[EXPORTER]
    gzip = "gzip" in request.headers.get("Accept-Encoding", "")
    body = await exporter.metrics_body(gzip)
    response = web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
    if gzip:
        response.headers["Content-Encoding"] = "gzip"
    return response


async def probe(request: web.Request) -> web.Response:
    name = request.query.get("target", "")
    body = await request.app[EXPORTER].probe_now(name) if name else None
    if body is None:
        # Only configured target names are probed: never an address from the query string.
        shown = name[:_SHOWN_NAME] + ("..." if len(name) > _SHOWN_NAME else "")
        return web.Response(status=404, text=f"unknown target {shown!r}: use a configured name\n")
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def healthy(_: web.Request) -> web.Response:
    return web.Response(text="pitwatch is healthy\n")


async def ready(request: web.Request) -> web.Response:
    if request.app[EXPORTER].ready:
        return web.Response(text="pitwatch is ready\n")
    return web.Response(status=503, text="pitwatch is not ready\n")


async def reload(request: web.Request) -> web.Response:
    if not request.app[LIFECYCLE]:
        # As Prometheus: the endpoint exists, and says how to turn it on.
        return web.Response(
            status=403,
            text="Lifecycle API is not enabled: run with --web.enable-lifecycle, or send SIGHUP\n",
        )
    problems = await request.app[EXPORTER].reload()
    if problems:
        text = "config rejected, the previous one keeps running:\n" + "\n".join(problems) + "\n"
        return web.Response(status=400, text=text)
    return web.Response(text="config reloaded\n")


async def status_page(request: web.Request) -> web.Response:
    exporter = request.app[EXPORTER]
    return web.Response(text=render_status_page(exporter), content_type="text/html")
