"""The state of every target: its latest result, counters, histogram, recent history and
maintenance state. Nothing here renders; whoever shows the state subscribes.

Everything here runs on the event loop. A target's :class:`Observation` is replaced whole;
its counters and histogram live in :class:`TargetStats`, which a reload that keeps the
target carries over. Every change is announced to the subscribed :class:`StoreListener`
(the renderer), with whether the target's slow-moving facts (config, maintenance) changed.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from pitwatch.config import Config, Target
from pitwatch.config_types import utcnow
from pitwatch.reasons import Reason
from pitwatch.result import Observation

HISTORY_LENGTH = 60
FAILURES_KEPT = 10


@dataclass(slots=True)
class TargetStats:
    """Counters and histogram of one target since the exporter started."""

    successes: int = 0
    failures: int = 0
    errors: dict[Reason, int] = field(default_factory=lambda: dict.fromkeys(Reason, 0))
    skipped: int = 0
    buckets: tuple[float, ...] = ()
    cumulative: list[int] = field(default_factory=list)
    latency_sum: float = 0.0
    last_success: float | None = None

    def observe(self, observation: Observation) -> None:
        result = observation.result
        if result.success:
            self.successes += 1
            self.last_success = observation.finished_at
        else:
            self.failures += 1
            self.errors[result.reason or Reason.OTHER] += 1
        self.latency_sum += observation.duration
        for index in range(
            bisect.bisect_left(self.buckets, observation.duration), len(self.buckets)
        ):
            self.cumulative[index] += 1

    def rebucket(self, buckets: tuple[float, ...]) -> None:
        """Adopt new bucket bounds; counts restart only when the bounds change."""
        if buckets != self.buckets:
            self.buckets = buckets
            self.cumulative = [0] * len(buckets)
            self.latency_sum = 0.0


@dataclass(slots=True)
class TargetRecord:
    target: Target
    stats: TargetStats
    state: dict[str, object] = field(default_factory=dict)
    """The prober's own state across probes (e.g. a log file's read offset)."""
    latest: Observation | None = None
    last_failure: Observation | None = None
    failures: deque[Observation] = field(default_factory=lambda: deque(maxlen=FAILURES_KEPT))
    """The last few failed probes, kept however many successes follow (blackbox's history
    loses failures among successes; the person on call wants exactly those)."""
    changed_at: float | None = None
    """Unix time the target last went up or down (or was first probed)."""
    history: deque[tuple[float, bool, str]] = field(
        default_factory=lambda: deque(maxlen=HISTORY_LENGTH)
    )
    in_maintenance: bool = False

    @property
    def up(self) -> bool | None:
        return None if self.latest is None else self.latest.result.success

    @property
    def name(self) -> str:
        return self.target.name


class StoreListener(Protocol):
    """Told of every change, on the event loop, right after it happened."""

    def target_changed(self, record: TargetRecord, static: bool) -> None:
        """``record`` changed; ``static``: so did its config or maintenance state, not
        only its results and counters."""

    def target_removed(self, name: str) -> None: ...


class ResultStore:
    def __init__(self) -> None:
        self.records: dict[str, TargetRecord] = {}
        self._listeners: list[StoreListener] = []

    def subscribe(self, listener: StoreListener) -> None:
        """Tell ``listener`` of every change from now on, and of every target there is."""
        self._listeners.append(listener)
        for record in self.records.values():
            listener.target_changed(record, static=True)

    # -- config -----------------------------------------------------------------------------
    def apply_config(self, config: Config) -> None:
        """Keep counters of targets that stay, drop everything of targets that went."""
        wanted = {target.name: target for target in config.targets}
        for name in list(self.records):
            if name not in wanted:
                del self.records[name]
                for listener in self._listeners:
                    listener.target_removed(name)
        for name, target in wanted.items():
            record = self.records.get(name)
            if record is None:
                record = TargetRecord(target, TargetStats())
                self.records[name] = record
            else:
                record.target = target
            record.stats.rebucket(target.latency_buckets)
            record.in_maintenance = _in_maintenance(target)
            self._changed(record, static=True)
        # Keep the order of the config file on /metrics and the status page.
        self.records = {name: self.records[name] for name in wanted}

    # -- results ----------------------------------------------------------------------------
    def record(self, name: str, observation: Observation) -> bool | None:
        """Store a finished probe; returns whether the target was up before (None: unknown)."""
        record = self.records.get(name)
        if record is None:  # removed by a reload while the probe ran
            return None
        before = record.up
        record.stats.observe(observation)
        record.latest = observation
        result = observation.result
        if not result.success:
            record.last_failure = observation
            record.failures.append(observation)
        if before is None or before != result.success:
            record.changed_at = observation.finished_at
        record.history.append(
            (observation.finished_at, result.success, result.reason.value if result.reason else "")
        )
        self._changed(record)
        return before

    def skipped(self, name: str) -> None:
        record = self.records.get(name)
        if record is not None:
            record.stats.skipped += 1
            self._changed(record)

    def refresh_maintenance(self) -> None:
        for record in self.records.values():
            now_in = _in_maintenance(record.target)
            if now_in != record.in_maintenance:
                record.in_maintenance = now_in
                self._changed(record, static=True)

    def __iter__(self) -> Iterator[TargetRecord]:
        return iter(self.records.values())

    def _changed(self, record: TargetRecord, static: bool = False) -> None:
        for listener in self._listeners:
            listener.target_changed(record, static)


def _in_maintenance(target: Target) -> bool:
    if not target.maintenance:
        return False
    now = utcnow()
    return any(window.active(now) for window in target.maintenance)
