"""A session cache that speaks just enough of Redis's protocol for a health check:
``PING`` answers ``+PONG``. Probed by the ``tcp`` probe with ``send``/``expect``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from pitwatch.demo.apps import Simulation
from pitwatch.demo.catalog import Service

MAX_LINE = 4096
IDLE_SECONDS = 30.0


def cache_handler(
    sim: Simulation, service: Service
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                async with asyncio.timeout(IDLE_SECONDS):
                    line = await reader.readline()
                if not line or len(line) > MAX_LINE:
                    return
                command = line.strip().split(b" ", 1)[0].upper()
                if sim.board.get(service.name).kind == "hang":
                    await sim.board.hang(service.name)
                failing = sim.board.should_fail(service.name)
                await asyncio.sleep(sim.delay(service))
                if failing:
                    # What a Redis replica says while it loads its dump after a restart.
                    writer.write(b"-LOADING Redis is loading the dataset in memory\r\n")
                    await writer.drain()
                    return
                if command == b"PING":
                    writer.write(b"+PONG\r\n")
                elif command == b"QUIT":
                    writer.write(b"+OK\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"-ERR unknown command\r\n")
                await writer.drain()
        except (TimeoutError, ConnectionError):
            return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return handle
