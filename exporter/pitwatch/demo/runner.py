"""A running demo: the simulated platform, its players, the exporter probing it and the
control endpoint, started in that order and stopped in the reverse one."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from pitwatch.config import ConfigError, load_config
from pitwatch.demo.accesslog import AccessLog
from pitwatch.demo.apps import Credentials, Simulation
from pitwatch.demo.catalog import SERVICES
from pitwatch.demo.config import ACCESS_LOG_NAME, write_config
from pitwatch.demo.control import State, control_app, remove_state, write_state
from pitwatch.demo.faults import Fault, FaultBoard
from pitwatch.demo.platform import HOST, SimulatedPlatform
from pitwatch.demo.traffic import Players
from pitwatch.runtime import Exporter
from pitwatch.server import make_app, runner_options

log = logging.getLogger("pitwatch.demo")

SLOW_SHARE = 0.3
"""A ``slow`` service adds this share of the probe timeout (at most :data:`SLOW_MAX`) to each
answer: well over a latency objective of 1s at the default timeout of 5s, yet every probe
(a three-step flow too) still ends in time."""
SLOW_MAX = 2.0


class DemoError(Exception):
    """A reason the demo cannot start, shown as one line."""


@dataclass(frozen=True, slots=True)
class Options:
    listen_host: str | None
    listen_port: int
    interval: float
    latency_scale: float
    state_file: Path
    control_port: int = 0
    seed: int | None = None


class Demo:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.workdir = Path(tempfile.mkdtemp(prefix="pitwatch-demo-"))
        self.board = FaultBoard((service.name for service in SERVICES), options.seed)
        self.access_log = AccessLog(self.workdir / ACCESS_LOG_NAME)
        self.sim = Simulation(
            board=self.board,
            rng=random.Random(options.seed),
            credentials=Credentials(),
            access_log=self.access_log,
            latency_scale=options.latency_scale,
        )
        self.platform = SimulatedPlatform(self.sim)
        self.exporter: Exporter | None = None
        self.config_path: Path | None = None
        self.control_url = ""
        self.exporter_port = options.listen_port
        self._runners: list[web.AppRunner] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._state_written = False

    @property
    def exporter_url(self) -> str:
        host = self.options.listen_host or "localhost"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.exporter_port}"

    async def start(self) -> None:
        """Everything up, or :class:`DemoError` with everything already stopped again."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        await self.platform.start()
        self.config_path = write_config(
            self.workdir, self.platform, self.sim.credentials, self.options.interval
        )
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:  # a bug of the demo, not something the user can fix
            raise DemoError(f"the generated config is invalid: {exc.problems[0]}") from None
        timeout = max(target.timeout for target in config.targets)
        self.sim.slow_delay = min(SLOW_MAX, SLOW_SHARE * timeout)
        self.exporter = Exporter(config, self.config_path)
        self.exporter_port = await self._serve(
            make_app(self.exporter), self.options.listen_host, self.options.listen_port, "pitwatch"
        )
        control_port = await self._serve(
            control_app(self.board), HOST, self.options.control_port, "the control endpoint"
        )
        self.control_url = f"http://{HOST}:{control_port}"
        self.board.listen(self._announce)
        self.spawn(Players(self.sim).run(), "players")
        write_state(
            self.options.state_file,
            State(os.getpid(), self.control_url, self.exporter_url),
        )
        self._state_written = True

    async def _serve(self, app: web.Application, host: str | None, port: int, what: str) -> int:
        runner = web.AppRunner(app, shutdown_timeout=2, **runner_options())
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise DemoError(
                f"cannot listen on {host or ''}:{port} for {what}: {reason}"
                + (" (is `make run` or another demo running? use --listen)" if port else "")
            ) from None
        return site.port

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for runner in reversed(self._runners):
            await runner.cleanup()
        await self.platform.stop()
        self.access_log.close()
        if self._state_written:
            remove_state(self.options.state_file, os.getpid())
        shutil.rmtree(self.workdir, ignore_errors=True)

    async def _announce(self, service: str, old: Fault, new: Fault) -> None:
        if new != old:
            log.info("demo fault: %s %s -> %s", service, old, new)

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task that lives as long as the demo (cancelled by :meth:`stop`)."""
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.append(task)
        return task

    async def wait_until_probed(self, seconds: float) -> bool:
        """Whether every target has been probed at least once within ``seconds``."""
        assert self.exporter is not None
        records = self.exporter.store.records
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            if all(record.latest is not None for record in records.values()):
                return True
            await asyncio.sleep(0.2)
        return False
