"""Runs every target's probe on its own fixed cadence, and turns whatever a probe does into
an :class:`~pitwatch.result.Observation`.

- Each target's first probe is offset into its interval by a hash of its name, so targets
  spread evenly and keep their slot across restarts.
- Ticks follow a fixed cadence (sleep until the next due time, not ``interval`` after the
  last probe). A probe still running when its next tick comes is skipped and counted.
- A global semaphore bounds how many probes (and sockets) run at once.
- Each probe runs under its deadline. Probers only measure and raise: this module alone
  turns what they do (a :class:`~pitwatch.result.Passed`, a :class:`ProbeFailure`, the
  deadline passing, a bug) into a result, once, with its reason and the samples the prober
  left in its context, masked by the probe's redactor. Nothing ends as a dead loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

from pitwatch.config import Target
from pitwatch.durations import format_duration
from pitwatch.reasons import ProbeFailure, Reason
from pitwatch.result import Observation, ProbeContext, ProbeResult
from pitwatch.secrets import Redactor
from pitwatch.selfmetrics import SelfMetrics
from pitwatch.store import ResultStore

log = logging.getLogger("pitwatch.scheduler")


def start_offset(name: str, interval: float) -> float:
    """Where in its interval a target's probes fall: stable per name, uniform over names."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * interval


class Scheduler:
    def __init__(self, store: ResultStore, metrics: SelfMetrics, max_concurrency: int) -> None:
        self.store = store
        self.metrics = metrics
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._max_concurrency = max_concurrency
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._targets: dict[str, Target] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._bugs_logged: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------------
    def apply(self, targets: tuple[Target, ...], max_concurrency: int) -> None:
        """Start, restart or stop target loops to match ``targets``; loops of unchanged
        targets keep running undisturbed."""
        if max_concurrency != self._max_concurrency:
            # Probes holding the old semaphore finish against it; new ones use the new one.
            self._semaphore = asyncio.Semaphore(max_concurrency)
            self._max_concurrency = max_concurrency
        wanted = {target.name: target for target in targets}
        for name in list(self._loops):
            if name not in wanted or wanted[name] != self._targets[name]:
                self._stop(name)
        for name, target in wanted.items():
            if name not in self._loops:
                self._targets[name] = target
                self._loops[name] = self._spawn(self._target_loop(target), f"loop {name}")
        self.metrics.targets.set(len(wanted))

    async def stop(self) -> None:
        for name in list(self._loops):
            self._stop(name)
        pending = list(self._tasks)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _stop(self, name: str) -> None:
        self._loops.pop(name).cancel()
        self._targets.pop(name, None)
        running = self._running.pop(name, None)
        if running is not None:
            running.cancel()

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- the cadence -----------------------------------------------------------------------
    async def _target_loop(self, target: Target) -> None:
        loop = asyncio.get_running_loop()
        interval = target.interval
        due = loop.time() + start_offset(target.name, interval)
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            running = self._running.get(target.name)
            if running is not None and not running.done():
                self.store.skipped(target.name)
            else:
                self._running[target.name] = self._spawn(
                    self._probe_and_store(target, due), f"probe {target.name}"
                )
            due += interval
            behind = loop.time() - due
            if behind > 0:  # the loop was blocked for more than an interval: skip the gap
                missed = int(behind // interval) + 1
                due += missed * interval
                for _ in range(missed):
                    self.store.skipped(target.name)

    async def _probe_and_store(self, target: Target, due: float) -> None:
        self.record(target, await self.run_probe(target, due))

    def record(self, target: Target, observation: Observation) -> None:
        """Store a finished probe and log the target going down or coming back."""
        before = self.store.record(target.name, observation)
        _log_transition(target, before, observation)

    # -- one probe -------------------------------------------------------------------------
    async def run_probe(self, target: Target, due: float | None = None) -> Observation:
        """Run ``target``'s probe now, within the concurrency cap and its deadline."""
        loop = asyncio.get_running_loop()
        record = self.store.records.get(target.name)
        state = record.state if record is not None else {}
        async with self._semaphore:
            started = loop.time()
            if due is not None:
                self.metrics.lag.observe(max(0.0, started - due))
            ctx = ProbeContext(
                timeout=target.timeout,
                deadline=started + target.timeout,
                state=state,
                redactor=Redactor(target.secrets),
            )
            self.metrics.in_flight.inc()
            clock = time.perf_counter()
            try:
                result = await self._outcome(target, ctx)
            finally:
                self.metrics.in_flight.dec()
            duration = time.perf_counter() - clock
        return Observation(result, duration, time.time())

    async def _outcome(self, target: Target, ctx: ProbeContext) -> ProbeResult:
        """The one place a probe's ending becomes a result."""
        try:
            async with asyncio.timeout_at(ctx.deadline):
                passed = await target.kind.probe(target.spec, ctx)
        except TimeoutError:
            failure = ProbeFailure(
                Reason.TIMEOUT, f"no answer within {format_duration(target.timeout)} ({ctx.step})"
            )
        except ProbeFailure as raised:
            failure = raised
        except Exception as exc:
            key = (target.name, type(exc).__name__)
            if key not in self._bugs_logged:
                self._bugs_logged.add(key)
                log.exception(
                    "prober bug while probing target %s (reported as reason other)",
                    target.name,
                    extra={"target": target.name},
                )
            # What a prober measured before its bug cannot be trusted: no samples.
            return ProbeResult(False, Reason.OTHER, f"internal error: {type(exc).__name__}")
        else:
            return ProbeResult(
                True, None, ctx.redact(passed.message), ctx.samples, _redacted(ctx, passed.details)
            )
        return ProbeResult(
            False,
            failure.reason,
            ctx.redact(failure.message),
            ctx.samples,
            _redacted(ctx, failure.details),
        )


def _redacted(
    ctx: ProbeContext, details: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    return tuple((key, ctx.redact(value)) for key, value in details)


def _log_transition(target: Target, before: bool | None, observation: Observation) -> None:
    result = observation.result
    if not result.success and before is not False:
        log.warning(
            "target %s is down: %s: %s",
            target.name,
            result.reason,
            result.message,
            extra={"target": target.name, "reason": str(result.reason)},
        )
    elif result.success and before is False:
        log.info("target %s recovered", target.name, extra={"target": target.name})
