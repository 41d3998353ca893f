"""The HTTP side: ``/metrics``, ``/probe``, ``/-/healthy``, ``/-/ready``, ``/-/reload``, ``/``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from pitwatch.exposition import CONTENT_TYPE
from pitwatch.runtime import Exporter
from pitwatch.statuspage import render_status_page

EXPORTER = web.AppKey("exporter", Exporter)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    exporter = app[EXPORTER]
    await exporter.start()
    yield
    await exporter.stop()


def make_app(exporter: Exporter) -> web.Application:
    app = web.Application()
    app[EXPORTER] = exporter
    app.cleanup_ctx.append(_lifecycle)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/probe", probe)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    app.router.add_get("/", status_page)
    return app


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
        return web.Response(status=404, text=f"unknown target {name!r}: use a configured name\n")
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def healthy(_: web.Request) -> web.Response:
    return web.Response(text="pitwatch is healthy\n")


async def ready(request: web.Request) -> web.Response:
    if request.app[EXPORTER].ready:
        return web.Response(text="pitwatch is ready\n")
    return web.Response(status=503, text="pitwatch is not ready\n")


async def reload(request: web.Request) -> web.Response:
    problems = await request.app[EXPORTER].reload()
    if problems:
        text = "config rejected, the previous one keeps running:\n" + "\n".join(problems) + "\n"
        return web.Response(status=400, text=text)
    return web.Response(text="config reloaded\n")


async def status_page(request: web.Request) -> web.Response:
    exporter = request.app[EXPORTER]
    return web.Response(text=render_status_page(exporter), content_type="text/html")
