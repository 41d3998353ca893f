"""The simulated platform as running servers: one loopback port per service (providers
behind the aggregator share its port), opened and closed as ``down`` faults come and go."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from aiohttp import web

from pitwatch.demo.apps import APPS, Simulation
from pitwatch.demo.cache import cache_handler
from pitwatch.demo.catalog import BY_NAME, SERVICES, Service
from pitwatch.demo.faults import Fault

log = logging.getLogger("pitwatch.demo")

HOST = "127.0.0.1"


class Listener(Protocol):
    port: int

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def cleanup(self) -> None: ...


class HttpListener:
    """An aiohttp app whose port can be closed (connection refused) and opened again."""

    def __init__(self, app: web.Application) -> None:
        # A short shutdown: hung requests of a ``hang`` fault must not hold up Ctrl-C.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
        self._site: web.TCPSite | None = None
        self.port = 0

    async def open(self) -> None:
        if self._runner.server is None:
            await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.port, reuse_address=True)
        await site.start()
        self._site = site
        self.port = site.port

    async def close(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def cleanup(self) -> None:
        self._site = None
        await self._runner.cleanup()


class TcpListener:
    def __init__(self, sim: Simulation, service: Service) -> None:
        self._handler = cache_handler(sim, service)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port = 0

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._track, HOST, self.port, reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._handler(reader, writer)
        except asyncio.CancelledError:
            # Only cleanup() cancels these. Ending normally matters: on 3.11 asyncio's stream
            # callback calls exception() on the finished task, which raises for a cancelled one.
            pass
        finally:
            self._connections.discard(task)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def cleanup(self) -> None:
        await self.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)


class SimulatedPlatform:
    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.listeners: dict[str, Listener] = {}

    async def start(self) -> None:
        for service in SERVICES:
            if not service.own_port:
                continue
            listener: Listener
            if service.role == "cache":
                listener = TcpListener(self.sim, service)
            else:
                listener = HttpListener(APPS[service.role](self.sim, service))
            self.listeners[service.name] = listener
            await listener.open()
        self.sim.board.listen(self._on_fault)

    async def stop(self) -> None:
        for listener in self.listeners.values():
            await listener.cleanup()

    async def _on_fault(self, name: str, old: Fault, new: Fault) -> None:
        listener = self.listeners.get(name)
        if listener is None:  # behind the aggregator: it answers 502 for this one
            return
        if new.kind == "down" and old.kind != "down":
            await listener.close()
        elif old.kind == "down" and new.kind != "down":
            try:
                await listener.open()
            except OSError as exc:
                log.error("cannot open port %d of %s again: %s", listener.port, name, exc)

    def origin(self, name: str) -> str:
        """``http://127.0.0.1:PORT`` of a service (of its aggregator, for those behind one)."""
        service = BY_NAME[name]
        return f"http://{self.address(service.behind or name)}"

    def address(self, name: str) -> str:
        return f"{HOST}:{self.listeners[name].port}"
