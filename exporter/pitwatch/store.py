"""The latest result, counters and histogram of every target, and their rendered lines.

Everything here runs on the event loop. A target's :class:`Observation` is replaced whole;
its counters and histogram live in :class:`TargetStats`, which a reload that keeps the
target carries over. Each change re-renders that target's lines into ``fragments``
(family -> source -> bytes), which is all a scrape reads.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from pitwatch import families as fam
from pitwatch.config import Config, Target
from pitwatch.config_types import utcnow
from pitwatch.exposition import Fragments, LineBuilder, label_text
from pitwatch.reasons import Reason
from pitwatch.result import Observation

HISTORY_LENGTH = 60
FAILURES_KEPT = 10
HOST_SOURCE = "\x00host"
"""Source key of the host's lines; cannot clash with a target name."""


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
    base_labels: str
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
    heads: dict[str, str] = field(default_factory=dict)
    """Rendering cache of ``name{labels`` heads; reset when the labels change."""
    static: Fragments = field(default_factory=dict)
    """Lines that change only with the config or maintenance: rendered once, reused."""

    @property
    def up(self) -> bool | None:
        return None if self.latest is None else self.latest.result.success


class ResultStore:
    def __init__(self) -> None:
        self.records: dict[str, TargetRecord] = {}
        self.fragments: dict[str, dict[str, bytes]] = {}

    # -- config -----------------------------------------------------------------------------
    def apply_config(self, config: Config) -> None:
        """Keep counters of targets that stay, drop everything of targets that went."""
        wanted = {target.name: target for target in config.targets}
        for name in list(self.records):
            if name not in wanted:
                del self.records[name]
                self._set_fragments(name, {})
        for name, target in wanted.items():
            record = self.records.get(name)
            if record is None:
                stats = TargetStats()
                record = TargetRecord(target, stats, label_text(target.labels))
                self.records[name] = record
            else:
                record.target = target
                record.base_labels = label_text(target.labels)
                record.heads = {}
            record.stats.rebucket(target.latency_buckets)
            self._render(record, config_changed=True)
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
        self._render(record)
        return before

    def skipped(self, name: str) -> None:
        record = self.records.get(name)
        if record is not None:
            record.stats.skipped += 1
            self._render(record)

    def set_source(self, key: str, fragments: Fragments) -> None:
        """Lines of a non-target source, such as the host."""
        self._set_fragments(key, fragments)

    def refresh_maintenance(self) -> None:
        for record in self.records.values():
            if _in_maintenance(record.target) != record.in_maintenance:
                self._render(record, config_changed=True)

    # -- output -----------------------------------------------------------------------------
    def exposition_parts(self) -> list[bytes]:
        """Every family's header and lines, in order; join them for ``/metrics``."""
        parts: list[bytes] = []
        for family in fam.all_families():
            sources = self.fragments.get(family.name)
            if sources:
                parts.append(family.header)
                parts.extend(sources.values())
        return parts

    def fragments_of(self, key: str) -> Fragments:
        """Every line one source contributes, by family (for ``/probe``)."""
        return {name: sources[key] for name, sources in self.fragments.items() if key in sources}

    def __iter__(self) -> Iterator[TargetRecord]:
        return iter(self.records.values())

    # -- internals --------------------------------------------------------------------------
    def _render(self, record: TargetRecord, config_changed: bool = False) -> None:
        if config_changed:
            record.in_maintenance = _in_maintenance(record.target)
            record.static = render_static(record)
        self._set_fragments(record.target.name, {**render_record(record), **record.static})

    def _set_fragments(self, key: str, fragments: Fragments) -> None:
        for family_name, sources in list(self.fragments.items()):
            if key in sources and family_name not in fragments:
                del sources[key]
        for family_name, lines in fragments.items():
            self.fragments.setdefault(family_name, {})[key] = lines


def _in_maintenance(target: Target) -> bool:
    if not target.maintenance:
        return False
    now = utcnow()
    return any(window.active(now) for window in target.maintenance)


def render_record(record: TargetRecord) -> Fragments:
    """The series of one target that move with every probe: verdict, counters, histogram
    and the prober's own measurements."""
    stats = record.stats
    out = LineBuilder(record.base_labels, record.heads)
    latest = record.latest
    if latest is not None:
        out.add(fam.PROBE_SUCCESS, 1 if latest.result.success else 0)
        out.add(fam.PROBE_DURATION, latest.duration)
    if stats.buckets:
        out.add_histogram(
            fam.PROBE_LATENCY,
            stats.buckets,
            stats.cumulative,
            stats.latency_sum,
            stats.successes + stats.failures,
        )
    out.add(fam.PROBES_TOTAL, stats.successes, _SUCCESS)
    out.add(fam.PROBES_TOTAL, stats.failures, _FAILURE)
    for reason, count in stats.errors.items():
        out.add(fam.PROBE_ERRORS, count, _REASON_LABELS[reason])
    if stats.last_success is not None:
        out.add(fam.PROBE_LAST_SUCCESS, stats.last_success)
    out.add(fam.PROBES_SKIPPED, stats.skipped)
    if latest is not None:
        out.add_samples(latest.result.samples)
    return out.fragments()


def render_static(record: TargetRecord) -> Fragments:
    """The series of one target that only a reload or a maintenance window changes."""
    target = record.target
    out = LineBuilder(record.base_labels, record.heads)
    canary = "true" if target.spec.canary else "false"
    out.add(fam.TARGET_INFO, 1, (("probe", target.spec.probe), ("canary", canary)))
    out.add(fam.OBJECTIVE_RATIO, target.objective_ratio)
    out.add(
        fam.LATENCY_OBJECTIVE,
        target.latency_objective,
        (("percentile", target.latency_percentile),),
    )
    out.add(fam.MAINTENANCE, 1 if record.in_maintenance else 0)
    return out.fragments()


_SUCCESS = (("result", "success"),)
_FAILURE = (("result", "failure"),)
_REASON_LABELS = {reason: (("reason", reason.value),) for reason in Reason}


def render_single(target: Target, observation: Observation) -> Fragments:
    """The series of one on-demand probe (``/probe``): its verdict and measurements only."""
    out = LineBuilder(label_text(target.labels))
    out.add(fam.PROBE_SUCCESS, 1 if observation.result.success else 0)
    out.add(fam.PROBE_DURATION, observation.duration)
    if observation.result.success:
        out.add(fam.PROBE_LAST_SUCCESS, observation.finished_at)
    out.add_samples(observation.result.samples)
    return out.fragments()
