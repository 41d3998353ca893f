"""``/probe`` cannot hammer a target, and a hostile client cannot flood the log: a burst of
10,000 ``/probe`` requests against a real pitwatch reaches the target at most once per
``probe_min_interval`` (hits counted at the target server), concurrent requests share one
probe, requests past ``--web.max-requests`` get 503, and malformed requests get 400 with
one log line at most."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from devtools.processes import free_port
from tests.support.services import Pitwatch

BURST = 10_000
MIN_INTERVAL = 0.5


class CountingTarget(threading.Thread):
    """An HTTP target in its own thread that counts the requests reaching it."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.port = free_port()
        self.hits = 0
        self.ready = threading.Event()
        self._stopping = asyncio.Event()

    def run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()

        async def ok(_: web.Request) -> web.Response:
            self.hits += 1
            await asyncio.sleep(0.05)  # a probe takes a moment: concurrent requests overlap it
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_get("/ok", ok)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self.ready.set()
        await self._stopping.wait()
        await runner.cleanup()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stopping.set)
        self.join(10)


@pytest.fixture
def target() -> Iterator[CountingTarget]:
    server = CountingTarget()
    server.start()
    server.ready.wait(10)
    yield server
    server.stop()


def _config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "pitwatch.yml"
    path.write_text(
        f"global: {{interval: 10s, timeout: 2s, probe_min_interval: {int(MIN_INTERVAL * 1000)}ms}}\n"
        "host: {enabled: false}\n"
        "targets:\n"
        f"  - {{name: psp, component: payment_gateway, probe: http, url: 'http://127.0.0.1:{port}/ok'}}\n"
    )
    return path


async def _burst(url: str, count: int, parallel: int) -> tuple[dict[int, int], float]:
    statuses: dict[int, int] = {}
    queue = iter(range(count))
    connector = aiohttp.TCPConnector(limit=parallel)
    started = time.monotonic()
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for _ in queue:
                async with session.get(url) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(parallel)))
    return statuses, time.monotonic() - started


def test_a_probe_burst_reaches_the_target_once_per_min_interval(
    tmp_path: Path, target: CountingTarget
) -> None:
    with Pitwatch(
        tmp_path / "run", _config(tmp_path, target.port), "--no-schedule", "--web.max-requests", "0"
    ) as pitwatch:
        statuses, elapsed = asyncio.run(_burst(f"{pitwatch.url}/probe?target=psp", BURST, 32))
    allowed = int(elapsed / MIN_INTERVAL) + 1
    print(
        f"/probe burst: {BURST} requests in {elapsed:.1f}s, {target.hits} reached the target (at most {allowed} allowed)"
    )
    assert statuses == {200: BURST}
    assert 1 <= target.hits <= allowed


def test_scrapes_past_the_cap_get_503(tmp_path: Path, target: CountingTarget) -> None:
    with Pitwatch(
        tmp_path / "run", _config(tmp_path, target.port), "--no-schedule", "--web.max-requests", "2"
    ) as pitwatch:
        statuses, _ = asyncio.run(_burst(f"{pitwatch.url}/probe?target=psp", 200, 20))
    assert set(statuses) == {200, 503}
    assert statuses[200] >= 2


def test_malformed_requests_get_400_and_one_log_line(tmp_path: Path) -> None:
    pitwatch = Pitwatch(tmp_path / "run")
    with pitwatch:
        answers = []
        for _ in range(50):
            with socket.create_connection(("127.0.0.1", pitwatch.port), timeout=10) as sock:
                sock.sendall(
                    b"GET /probe?target=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
                )
                answers.append(sock.recv(64))
        with socket.create_connection(("127.0.0.1", pitwatch.port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"b" * 20_000 + b"\r\n\r\n")
            answers.append(sock.recv(64))
        time.sleep(0.3)
        log = pitwatch.output()
    assert all(answer.startswith(b"HTTP/1.0 400 Bad Request") for answer in answers), answers[:2]
    malformed = [line for line in log.splitlines() if "malformed request" in line]
    assert len(malformed) == 1, log[-3000:]
    assert "answered 400" in malformed[0] and len(malformed[0]) < 400
    assert "Traceback" not in log
