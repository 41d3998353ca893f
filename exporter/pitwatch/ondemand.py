"""``/probe`` cannot be used to hammer a target.

- **One probe in flight per target**: a request that arrives while that target's probe runs
  waits for it and gets the same result.
- **A minimum interval between on-demand probes of one target**
  (``global.probe_min_interval``, 1s by default): a request sooner than that after the last
  probe ended is answered with that probe's result.
- **A cap on concurrent scrapes** (``--web.max-requests``, as the exporter-toolkit's flag):
  ``/probe`` and ``/metrics`` requests beyond it are answered 503 at once rather than queued.

So a burst of 10,000 ``/probe?target=psp`` requests costs the payment gateway one probe per
interval, and Prometheus HA pairs that scrape the same target at once share one probe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

_R = TypeVar("_R")

DEFAULT_MAX_REQUESTS = 40


@dataclass(slots=True)
class _Last(Generic[_R]):
    result: _R
    ended: float


class OnDemand(Generic[_R]):
    """Single-flight and minimum-interval probing, per target name."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[_R]] = {}
        self._last: dict[str, _Last[_R]] = {}

    async def probe(self, name: str, min_interval: float, run: Callable[[], Awaitable[_R]]) -> _R:
        running = self._running.get(name)
        if running is not None:
            return await asyncio.shield(running)
        last = self._last.get(name)
        if last is not None and time.monotonic() - last.ended < min_interval:
            return last.result
        future: asyncio.Future[_R] = asyncio.ensure_future(run())
        self._running[name] = future
        future.add_done_callback(lambda done: self._finished(name, done))
        # Shielded: a client that disconnects must not cancel the probe the others wait for.
        return await asyncio.shield(future)

    def _finished(self, name: str, done: asyncio.Future[_R]) -> None:
        if self._running.get(name) is done:
            del self._running[name]
        if not done.cancelled() and done.exception() is None:
            self._last[name] = _Last(done.result(), time.monotonic())

    def forget(self, keep: set[str]) -> None:
        """Drop what is kept for targets no longer configured."""
        for name in set(self._last) - keep:
            del self._last[name]


class ScrapeLimit:
    """At most ``limit`` requests inside at once (0: no limit); the rest are refused."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.inside = 0

    def enter(self) -> bool:
        if self.limit and self.inside >= self.limit:
            return False
        self.inside += 1
        return True

    def leave(self) -> None:
        self.inside -= 1
