"""The faults a simulated service can be switched into, and the board that holds them.

A fault is written the way ``pitwatch demo fault`` takes it: ``down``, ``slow`` (or
``slow=1.5s``), ``errors=0.2`` (or ``errors=20%``), ``hang`` or ``ok``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from pitwatch.durations import format_duration, parse_duration

Kind = Literal["ok", "down", "slow", "errors", "hang"]
FAULT_SYNTAX = "down | slow[=DURATION] | errors=RATIO | hang | ok"

HANG_LIMIT = 600.0
"""A hung request is let go after this long even if the fault stays (bounds what piles up)."""


@dataclass(frozen=True, slots=True)
class Fault:
    kind: Kind = "ok"
    delay: float | None = None
    """``slow``: extra seconds per request; ``None`` takes the demo's default."""
    error_rate: float = 0.0
    """``errors``: share of requests answered with a server error."""

    def __str__(self) -> str:
        if self.kind == "slow" and self.delay is not None:
            return f"slow={format_duration(self.delay)}"
        if self.kind == "errors":
            return f"errors={self.error_rate:g}"
        return self.kind


OK = Fault()


def parse_fault(text: str) -> Fault:
    """A fault from its command-line form; ValueError with a one-line message otherwise."""
    name, sep, value = text.strip().partition("=")
    name = name.lower()
    if name in ("ok", "down", "hang") and not sep:
        return Fault(name)  # type: ignore[arg-type]  # narrowed by the membership test
    if name == "slow":
        if not sep:
            return Fault("slow")
        try:
            delay = parse_duration(value)
        except ValueError as exc:
            raise ValueError(f"slow={value}: {exc}") from None
        if delay <= 0:
            raise ValueError("slow needs a delay greater than zero, e.g. slow=1500ms")
        return Fault("slow", delay=delay)
    if name == "errors" and sep:
        try:
            rate = float(value[:-1]) / 100 if value.endswith("%") else float(value)
        except ValueError:
            raise ValueError(f"errors={value}: expected a ratio such as 0.2 or 20%") from None
        if not 0 < rate <= 1:
            raise ValueError(f"errors={value}: the ratio must be above 0 and at most 1 (100%)")
        return Fault("errors", error_rate=rate)
    raise ValueError(f"unknown fault {text!r}: expected {FAULT_SYNTAX}")


class ErrorGate:
    """Fails exactly ``rate`` of the calls, spread evenly from a random phase: a probe every
    interval then sees the advertised share, not a lucky or unlucky streak."""

    def __init__(self, rng: random.Random) -> None:
        self._credit = rng.random()

    def fail(self, rate: float) -> bool:
        self._credit += rate
        if self._credit >= 1:
            self._credit -= 1
            return True
        return False


Listener = Callable[[str, Fault, Fault], Awaitable[None]]
"""Called with (service, old fault, new fault) after every change."""


class FaultBoard:
    """The current fault of every simulated service. Requests read it; the control endpoint
    and the incident tour change it."""

    def __init__(self, services: Iterable[str], seed: int | None = None) -> None:
        self._faults = dict.fromkeys(services, OK)
        self._changed = {name: asyncio.Event() for name in self._faults}
        self._rng = random.Random(seed)
        self._gates = {name: ErrorGate(self._rng) for name in self._faults}
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(self._faults)

    def get(self, service: str) -> Fault:
        return self._faults[service]

    def snapshot(self) -> dict[str, str]:
        return {name: str(fault) for name, fault in self._faults.items()}

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def set(self, service: str, fault: Fault) -> Fault:
        """Switch ``service`` to ``fault``; returns the fault it had. KeyError if unknown."""
        async with self._lock:  # one listener run (a listener opening a port) at a time
            old = self._faults[service]
            self._faults[service] = fault
            released = self._changed[service]
            self._changed[service] = asyncio.Event()
            released.set()  # hung requests of the old fault go on
            for listener in self._listeners:
                await listener(service, old, fault)
            return old

    def should_fail(self, service: str) -> bool:
        """For an ``errors`` fault: whether this request is one of the failing share."""
        fault = self._faults[service]
        return fault.kind == "errors" and self._gates[service].fail(fault.error_rate)

    async def hang(self, service: str) -> None:
        """Wait until ``service``'s fault changes (at most :data:`HANG_LIMIT`)."""
        event = self._changed[service]
        try:
            async with asyncio.timeout(HANG_LIMIT):
                await event.wait()
        except TimeoutError:
            pass
