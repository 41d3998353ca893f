"""Per-target figures of a period, chunk by chunk: probes by result, failures by reason,
latency sums, real traffic and whether a maintenance window was seen. All server-side
aggregates (``increase``, ``sum_over_time``), so no raw sample leaves Prometheus."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

from pitwatch.report.chunks import Chunk
from pitwatch.report.prometheus import Prometheus
from pitwatch.report.promql import Queries

RESULTS = ("success", "failure", "maintenance")


@dataclass(slots=True)
class Counts:
    """What one target did in one chunk (or, summed, in the period)."""

    success: float = 0.0
    failure: float = 0.0
    maintenance: float = 0.0
    """Probes the exporter itself counted under ``result="maintenance"`` (newer exporters)."""
    reasons: dict[str, float] = field(default_factory=dict)
    latency_sum: float = 0.0
    latency_count: float = 0.0
    maintenance_seen: bool = False
    counts_maintenance: bool = False
    """The exporter has a ``result="maintenance"`` series for this target: its success and
    failure counters already leave maintenance out."""

    def add(self, other: Counts) -> None:
        self.success += other.success
        self.failure += other.failure
        self.maintenance += other.maintenance
        for reason, value in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0.0) + value
        self.latency_sum += other.latency_sum
        self.latency_count += other.latency_count
        self.maintenance_seen |= other.maintenance_seen
        self.counts_maintenance |= other.counts_maintenance


@dataclass(slots=True)
class ChunkFigures:
    chunk: Chunk
    targets: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    traffic: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))


async def count_chunk(prom: Prometheus, queries: Queries, chunk: Chunk) -> ChunkFigures:
    window = chunk.seconds
    probes, errors, latency, maintenance, traffic = await asyncio.gather(
        prom.vector(queries.probes(window), chunk.end),
        prom.vector(queries.errors(window), chunk.end),
        prom.vector(queries.latency_sum_count(window), chunk.end),
        prom.vector(queries.maintenance_seen(window), chunk.end),
        prom.vector(queries.traffic(window), chunk.end),
    )
    figures = ChunkFigures(chunk)
    for sample in probes:
        counts = figures.targets[sample.labels.get("target", "")]
        result = sample.labels.get("result", "")
        if result == "success":
            counts.success += sample.value
        elif result == "failure":
            counts.failure += sample.value
        elif result == "maintenance":
            counts.maintenance += sample.value
            counts.counts_maintenance = True
    for sample in errors:
        reasons = figures.targets[sample.labels.get("target", "")].reasons
        reason = sample.labels.get("reason", "other")
        reasons[reason] = reasons.get(reason, 0.0) + sample.value
    for sample in latency:
        counts = figures.targets[sample.labels.get("target", "")]
        if sample.labels.get("stat") == "sum":
            counts.latency_sum += sample.value
        else:
            counts.latency_count += sample.value
    for sample in maintenance:
        figures.targets[sample.labels.get("target", "")].maintenance_seen = True
    for sample in traffic:
        classes = figures.traffic[sample.labels.get("target", "")]
        status = sample.labels.get("status_class", "other")
        classes[status] = classes.get(status, 0.0) + sample.value
    return figures


async def count_chunks(
    prom: Prometheus, queries: Queries, chunks: list[Chunk]
) -> list[ChunkFigures]:
    return list(await asyncio.gather(*(count_chunk(prom, queries, c) for c in chunks)))
