"""``pitwatch demo --incident-tour``: a scripted evening on the platform, narrated. Each act
switches faults, then reports what pitwatch itself saw (read from the exporter's store, not
assumed), then holds for the pace so Prometheus and Alertmanager have time to react."""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pitwatch.demo.catalog import AGGREGATED, AGGREGATOR
from pitwatch.demo.faults import OK, Fault, parse_fault
from pitwatch.demo.runner import Demo
from pitwatch.durations import format_duration
from pitwatch.store import TargetRecord

Expect = Literal["slow", "down", "up"]
WIDTH = 92


@dataclass(frozen=True, slots=True)
class Act:
    title: str
    faults: tuple[tuple[str, str], ...]
    """(service, fault) switched at the start; ``("all", "ok")`` clears everything."""
    watch: tuple[str, ...]
    expect: Expect
    story: str


ACTS = (
    Act(
        "A game provider slows down",
        (("gp-boreal-slots", "slow"),),
        ("gp-boreal-slots",),
        "slow",
        "gp-boreal-slots, a slots studio, starts answering in over a second instead of 80 ms. "
        "Its probes still succeed, so nobody is paged: the status page and the Target detail "
        "dashboard show the latency climb, and PitwatchTargetSlow (medium, the integrations "
        "chat) fires only if its p95 stays above the 1s objective for 15 minutes.",
    ),
    Act(
        "A payment gateway fails",
        (("psp-northpay", "down"),),
        ("psp-northpay",),
        "down",
        "psp-northpay, the card acquirer, stops accepting connections. After two failed "
        "probes and one more minute PitwatchTargetDown (high) pages the payments team. "
        "Deposits still go through psp-cardway and psp-paywallet, so it is not critical; "
        "with all three down it would be PitwatchPaymentGatewaysDown (critical).",
    ),
    Act(
        "The game aggregator drops",
        ((AGGREGATOR, "down"),),
        AGGREGATED,
        "down",
        f"The aggregator that {len(AGGREGATED)} of the 8 game providers sit behind goes away: "
        "their probes fail together. PitwatchGameProvidersDown (critical) reaches the central "
        "pager, the incident channel and support within about a minute, and Alertmanager "
        "holds back the per-provider alerts it covers: one page, not five.",
    ),
    Act(
        "Everything recovers",
        (("all", "ok"),),
        (),
        "up",
        "Every fault is cleared. Probes succeed again, the alerts resolve and the pagers get "
        "their resolved notices; the error budgets keep the dent.",
    ),
)


class Tour:
    def __init__(self, demo: Demo, pace: float, say: Callable[[str], None]) -> None:
        self.demo = demo
        self.pace = pace
        self.say = say

    async def run(self) -> None:
        self.say(
            f"== Incident tour: {len(ACTS)} acts, {format_duration(self.pace)} each "
            "(change with --tour-pace); the faults add up until the last act clears them =="
        )
        warm_up = 2 * self.demo.options.interval + 10
        if not await self.demo.wait_until_probed(warm_up):
            self.say("   (some targets have not been probed yet; starting anyway)")
        for number, act in enumerate(ACTS, 1):
            await self._play(number, act)
        self.say("== Tour over: every fault cleared; the demo keeps running (Ctrl-C stops it) ==")

    async def _play(self, number: int, act: Act) -> None:
        started = time.monotonic()
        before = {name: self._record(name) for name in act.watch}
        baseline = {
            name: record.latest.duration
            for name, record in before.items()
            if record is not None and record.latest is not None
        }
        switched_at = time.time()
        self.say("")
        self.say(f"[{_clock()}] {number}/{len(ACTS)}  {act.title}")
        for service, fault in act.faults:
            await self._switch(service, parse_fault(fault))
            self.say(f"           $ pitwatch demo fault {service} {fault}")
        for line in textwrap.wrap(act.story, WIDTH - 11):
            self.say(f"           {line}")
        await self._report(act, switched_at, baseline, deadline=started + max(self.pace, 1.0))
        await asyncio.sleep(max(0.0, self.pace - (time.monotonic() - started)))

    async def _switch(self, service: str, fault: Fault) -> None:
        board = self.demo.board
        if service == "all":
            for name in board.services:
                if board.get(name) != OK:
                    await board.set(name, OK)
        else:
            await board.set(service, fault)

    def _record(self, name: str) -> TargetRecord | None:
        assert self.demo.exporter is not None
        return self.demo.exporter.store.records.get(name)

    def _probed_since(self, name: str, since: float) -> TargetRecord | None:
        """The target's record if its latest probe began after ``since`` (Unix time)."""
        record = self._record(name)
        latest = record.latest if record is not None else None
        if latest is None or latest.finished_at - latest.duration < since:
            return None
        return record

    def _shows(self, act: Act, record: TargetRecord) -> bool:
        latest = record.latest
        assert latest is not None
        if act.expect == "down":
            return not latest.result.success
        return latest.result.success

    async def _report(
        self, act: Act, since: float, baseline: dict[str, float], deadline: float
    ) -> None:
        """Wait (until ``deadline``) for pitwatch to see the act, then say what it saw."""
        assert self.demo.exporter is not None
        store = self.demo.exporter.store
        watch = act.watch or tuple(store.records)
        # A probe that began before the switch may still report the old state: wait for one
        # that shows the new state, or for the deadline.
        while time.monotonic() < deadline:
            records = [self._probed_since(name, since) for name in watch]
            if all(r is not None and self._shows(act, r) for r in records):
                break
            await asyncio.sleep(0.2)
        now = time.time()
        if act.expect == "up":
            up = sum(1 for r in store.records.values() if r.latest and r.latest.result.success)
            self.say(
                f"[{_clock()}]      pitwatch sees {up} of {len(store.records)} targets up "
                f"{now - since:.1f}s after the fault was cleared"
            )
            return
        for name in watch:
            record = self._probed_since(name, since)
            if record is None or record.latest is None:
                self.say(f"[{_clock()}]      pitwatch has not probed {name} since the fault yet")
                continue
            latest = record.latest
            result = latest.result
            if result.success:
                was = f" (was {baseline[name]:.2f}s)" if name in baseline else ""
                state = f"up, answered in {latest.duration:.2f}s{was}"
            else:
                state = f"down, {result.reason}: {result.message}"
            self.say(f"[{_clock()}]      pitwatch sees {name}: {state}")


def _clock() -> str:
    return time.strftime("%H:%M:%S")
