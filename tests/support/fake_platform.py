"""Real servers on 127.0.0.1 that behave like a platform's components, good and bad.

:class:`FakePlatform` runs in a background thread with its own event loop, so both
in-process probes and a pitwatch subprocess (or Prometheus) can use it while the test
waits. Every listener is on port 0.

HTTP (``http_url(path)``): ``/ok``, ``/status/<code>``, ``/slow?ms=N``, ``/hang``,
``/endless`` (a body that never ends), ``/big?bytes=N``, ``/redirect-loop``,
``/redirect?to=PATH``, ``/headers`` (echoes request headers as JSON), ``/control``
(POST ``{"path": ..., "status": ...}`` to change what a ``/switch/<name>`` route answers).
HTTPS: a valid certificate for localhost/127.0.0.1/lobby.example.com expiring at
:data:`CERT_EXPIRY`, and one that expired. Raw TCP: a server that resets every
connection, one that answers garbage, one that accepts and never speaks, a line banner.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import trustme
from aiohttp import web

CERT_EXPIRY = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)
EXPIRED = datetime(2020, 1, 1, tzinfo=UTC)
BANNER = b"220 fake-platform ready\r\n"


class Concurrency:
    """How many /slow requests run at once, and the most seen."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0


def _app(switches: dict[str, int], slow_load: Concurrency) -> web.Application:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="status")

    async def slow(request: web.Request) -> web.Response:
        slow_load.now += 1
        slow_load.most = max(slow_load.most, slow_load.now)
        try:
            await asyncio.sleep(int(request.query.get("ms", "1000")) / 1000)
        finally:
            slow_load.now -= 1
        return web.Response(text="slow")

    async def hang(_: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        return web.Response(text="never")

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            while True:
                await response.write(chunk)
        except ConnectionError:  # the prober hung up at its body cap: what it should do
            return response

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"y" * int(request.query.get("bytes", "1000")))

    async def redirect_loop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/redirect-loop")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query.get("to", "/ok"))

    async def headers(request: web.Request) -> web.Response:
        return web.json_response(dict(request.headers))

    async def switch(request: web.Request) -> web.Response:
        code = switches.get(request.match_info["name"], 200)
        return web.Response(status=code, text=f"switch {code}")

    async def control(request: web.Request) -> web.Response:
        payload = await request.json()
        switches[payload["name"]] = int(payload["status"])
        return web.json_response(switches)

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/slow", slow)
    app.router.add_get("/hang", hang)
    app.router.add_get("/endless", endless)
    app.router.add_get("/big", big)
    app.router.add_get("/redirect-loop", redirect_loop)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/headers", headers)
    app.router.add_get("/switch/{name}", switch)
    app.router.add_post("/control", control)
    return app


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _reset(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1024)
    writer.write(b"\x16\x03\x01 this is not HTTP at all \x00\xff\r\n\r\n")
    await writer.drain()
    writer.close()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)
    writer.close()


async def _banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(BANNER)
    await writer.drain()
    line = await reader.readline()
    if line:
        writer.write(b"echo " + line)
        await writer.drain()
    writer.close()


class LoopThread:
    """Servers on their own event loop in a daemon thread, so the test's loop (or a pitwatch
    subprocess) can talk to them while the test waits. Subclasses start them in ``_start``."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []
        self._servers: list[asyncio.Server] = []

    def __enter__(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        for server in self._servers:
            server.close()
        for runner in self._runners:
            await runner.cleanup()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _site(self, app: web.Application, context: ssl.SSLContext | None = None) -> int:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self._runners.append(runner)
        server: Any = site._server  # the bound port is only known here
        return int(server.sockets[0].getsockname()[1])


class ServerThread(LoopThread):
    """One aiohttp app on 127.0.0.1, port 0."""

    def __init__(self, app: web.Application) -> None:
        super().__init__()
        self.app = app
        self.port = 0

    async def _start(self) -> None:
        self.port = await self._site(self.app)


class FakePlatform(LoopThread):
    def __init__(self, workdir: Path) -> None:
        super().__init__()
        self.workdir = workdir
        self.switches: dict[str, int] = {}
        self.slow_load = Concurrency()
        self.ports: dict[str, int] = {}
        self.connections: dict[str, int] = {}
        self.ca = trustme.CA()
        self.ca_file = workdir / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    # -- addresses -----------------------------------------------------------------------
    def http_url(self, path: str = "/ok") -> str:
        return f"http://127.0.0.1:{self.ports['http']}{path}"

    def https_url(self, path: str = "/ok", expired: bool = False) -> str:
        port = self.ports["https_expired" if expired else "https"]
        return f"https://127.0.0.1:{port}{path}"

    def address(self, kind: str) -> str:
        return f"127.0.0.1:{self.ports[kind]}"

    def set_switch(self, name: str, status: int) -> None:
        self.switches[name] = status

    async def _start(self) -> None:
        app = _app(self.switches, self.slow_load)
        self.ports["http"] = await self._site(app, None)
        self.ports["https"] = await self._site(app, self._tls(CERT_EXPIRY))
        self.ports["https_expired"] = await self._site(app, self._tls(EXPIRED))
        for name, handler in (
            ("reset", _reset),
            ("garbage", _garbage),
            ("silent", _silent),
            ("banner", _banner),
        ):
            self.ports[name] = await self._raw(name, handler)
        self.ports["banner_tls"] = await self._raw("banner_tls", _banner, self._tls(CERT_EXPIRY))

    def _tls(self, not_after: datetime) -> ssl.SSLContext:
        cert = self.ca.issue_cert(
            "localhost",
            "127.0.0.1",
            "lobby.example.com",
            not_before=datetime(2019, 1, 1, tzinfo=UTC),
            not_after=not_after,
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return context

    async def _raw(self, name: str, handler: Handler, context: ssl.SSLContext | None = None) -> int:
        self.connections[name] = 0

        async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections[name] += 1
            try:
                await handler(reader, writer)
            finally:  # also when shutdown cancels a handler that never finishes (silent)
                writer.close()

        server = await asyncio.start_server(counted, "127.0.0.1", 0, ssl=context)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])


def counting_listener() -> tuple[socket.socket, int]:
    """A plain listening socket whose backlog shows whether anyone connected."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    return sock, int(sock.getsockname()[1])


def json_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()
