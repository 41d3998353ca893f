"""The running exporter: config, store, renderer, scheduler and host collection, started and
stopped together, with the one reload path that SIGHUP and ``POST /-/reload`` share.

The pipeline runs one way: a config goes to the store (which targets exist) and the
scheduler (which run); probes land in the store; the store tells the renderer; endpoints
read the renderer (``/metrics``, ``/probe``) and the store (the status page)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from pathlib import Path

from pitwatch.config import Config, ConfigError, Target, default_config, load_config_off_loop
from pitwatch.exposition import Fragments
from pitwatch.host import HostCollector
from pitwatch.ondemand import OnDemand
from pitwatch.renderer import HOST_SOURCE, Renderer
from pitwatch.result import Observation
from pitwatch.scheduler import Scheduler
from pitwatch.selfmetrics import SelfMetrics
from pitwatch.sharding import Shard
from pitwatch.store import ResultStore

log = logging.getLogger("pitwatch")

HOUSEKEEPING_SECONDS = 5.0


class Exporter:
    def __init__(
        self,
        config: Config,
        config_path: Path | None = None,
        shard: Shard | None = None,
        *,
        schedule: bool = True,
    ) -> None:
        self.config = config
        """The whole config: ``/probe`` serves every configured target, whatever the shard."""
        self.config_path = config_path
        self.shard = shard
        self.schedule = schedule
        """False: probe only when ``/probe`` asks (Prometheus decides when, and where)."""
        self.metrics = SelfMetrics()
        self.store = ResultStore()
        self.renderer = Renderer()
        self.store.subscribe(self.renderer)
        self.scheduler = Scheduler(self.store, self.metrics, config.global_.max_concurrency)
        self.ready = False
        self.started_at = time.time()
        self._reload_lock = asyncio.Lock()
        self._host: HostCollector | None = None
        self._background: list[asyncio.Task[None]] = []
        self._reload_tasks: set[asyncio.Task[list[str]]] = set()
        self.on_demand: OnDemand[Observation] = OnDemand()

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._apply(self.config)
        self.metrics.reload_successful.set(1)
        self.metrics.reload_timestamp.set(time.time())
        self._background = [
            asyncio.create_task(self._host_loop(), name="host metrics"),
            asyncio.create_task(self._housekeeping_loop(), name="housekeeping"),
        ]
        self.ready = True
        extra = {"config": str(self.config_path or "built-in default")}
        if self.shard is not None:
            extra["shard"] = str(self.shard)
        log.info("pitwatch started with %d targets", len(self.store.records), extra=extra)

    async def stop(self) -> None:
        self.ready = False
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.scheduler.stop()

    def _apply(self, config: Config) -> None:
        self.config = config
        owned = config
        if self.shard is not None:
            shard = self.shard
            owned = replace(config, targets=tuple(t for t in config.targets if shard.owns(t.name)))
        self.store.apply_config(owned)
        scheduled = owned.targets if self.schedule else ()
        self.scheduler.apply(scheduled, config.global_.max_concurrency)
        if config.host.enabled:
            self._host = HostCollector(config.host, config.global_.labels)
        else:
            self._host = None
            self.renderer.set_source(HOST_SOURCE, {})
            self.metrics.host_success.set(1)

    # -- reload ----------------------------------------------------------------------------
    def request_reload(self) -> None:
        """For signal handlers: reload in the background."""
        task = asyncio.create_task(self.reload(), name="reload")
        self._reload_tasks.add(task)
        task.add_done_callback(self._reload_tasks.discard)

    async def reload(self) -> list[str]:
        """Load the config file again and swap it in if valid; returns the problems found
        (empty on success). On failure the running config stays."""
        async with self._reload_lock:
            if self.config_path is None:
                new = default_config()
            else:
                try:
                    new = await load_config_off_loop(self.config_path)
                except ConfigError as exc:
                    self.metrics.reload_successful.set(0)
                    for problem in exc.problems:
                        log.error("config reload rejected: %s", problem)
                    return exc.problems
            self.metrics.reload_successful.set(1)
            self.metrics.reload_timestamp.set(time.time())
            if new.checksum == self.config.checksum:
                log.info("config unchanged")
                return []
            self._apply(new)
            log.info("config reloaded: %d targets", len(self.store.records))
            return []

    # -- output ----------------------------------------------------------------------------
    async def metrics_body(self, gzip: bool) -> bytes:
        started = time.perf_counter()
        body = await self.renderer.metrics_body(self.metrics.render(), gzip)
        self.metrics.render_seconds.observe(time.perf_counter() - started)
        return body

    async def probe_now(self, name: str) -> bytes | None:
        """Probe a configured target now; its ``/probe`` answer, or ``None`` if unknown."""
        target = self.config.target(name)
        if target is None:
            return None
        observation = await self.on_demand.probe(
            target.name,
            self.config.global_.probe_min_interval,
            lambda: self.probe_and_record(target),
        )
        return self.renderer.probe_answer(target, observation)

    async def probe_and_record(self, target: Target) -> Observation:
        """One on-demand probe of ``target``. A target this replica keeps (its shard's, or
        every one with ``schedule`` off) counts it like a scheduled one, so the rule pack
        works when Prometheus drives the probes."""
        observation = await self.scheduler.run_probe(target)
        if target.name in self.store.records:
            self.scheduler.record(target, observation)
        return observation

    # -- background loops ------------------------------------------------------------------
    async def _host_loop(self) -> None:
        loop = asyncio.get_running_loop()
        pending: asyncio.Future[Fragments] | None = None
        due = loop.time()
        while True:
            collector = self._host
            interval = self.config.host.interval or self.config.global_.interval
            if collector is not None:
                if pending is None or pending.done():  # never a second thread while one hangs
                    pending = loop.run_in_executor(None, collector.collect)
                try:
                    # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                    # that arrives as the collection finishes, and shutdown would then hang.
                    async with asyncio.timeout(interval):
                        fragments = await asyncio.shield(pending)
                except TimeoutError:
                    log.warning("host metrics collection is hanging (a dead mount?)")
                    self.metrics.host_success.set(0)
                except Exception:
                    log.exception("host metrics collection failed")
                    self.metrics.host_success.set(0)
                else:
                    if self._host is collector:
                        self.renderer.set_source(HOST_SOURCE, fragments)
                    self.metrics.host_success.set(1)
            due = max(due + interval, loop.time())
            await asyncio.sleep(due - loop.time())

    async def _housekeeping_loop(self) -> None:
        while True:
            self.store.refresh_maintenance()
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
