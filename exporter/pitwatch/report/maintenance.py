"""Maintenance windows, and the probes made inside them taken out of availability.

A window is a run of scrapes in which ``pitwatch_target_maintenance`` was 1, read with a range
query at the scrape interval (only for targets and chunks where the gauge was seen at 1). Each
scrape stands for the interval that ends at it, so a window of n scrapes lasts n x interval.

Exporters that count maintenance probes under ``result="maintenance"`` already leave them out
of success and failure. For older ones the probes of each window (the increase of the counters
from the scrape before its first to its last) are subtracted here, with their failure reasons.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from pitwatch.report.chunks import Chunk
from pitwatch.report.counting import ChunkFigures, Counts
from pitwatch.report.prometheus import Prometheus
from pitwatch.report.promql import Queries, regex_of


@dataclass(frozen=True, slots=True)
class Window:
    start: float
    """One scrape interval before the first scrape that saw the target in maintenance: the
    probes counted after this moment and up to ``last`` were made in maintenance."""
    last: float
    """The last scrape that saw it."""
    targets: tuple[str, ...]
    step: float

    @property
    def seconds(self) -> float:
        return self.last - self.start

    @property
    def begins(self) -> float:
        """When it began, as people read it: the first scrape that saw it."""
        return self.start + self.step

    @property
    def ends(self) -> float:
        """When it ended: one interval after the last scrape that saw it."""
        return self.last + self.step


def runs(points: tuple[tuple[float, float], ...], step: float) -> list[tuple[float, float]]:
    """(first, last) times of the runs of points at 1, neighbours at most 1.5 steps apart."""
    found: list[tuple[float, float]] = []
    first = last = None
    for at, value in points:
        if value >= 1:
            if last is not None and at - last <= step * 1.5:
                last = at
            else:
                if first is not None and last is not None:
                    found.append((first, last))
                first = last = at
    if first is not None and last is not None:
        found.append((first, last))
    return found


async def windows_in(
    prom: Prometheus, queries: Queries, chunk: Chunk, targets: list[str], step: float
) -> list[Window]:
    """The maintenance windows of ``targets`` within ``chunk``, joined across targets that
    share the same window (a component-wide window is one row, not forty)."""
    if not targets:
        return []
    first_point = chunk.start + step
    if first_point > chunk.end:
        return []
    answer = await prom.range(
        queries.maintenance_state(regex_of(targets)), first_point, chunk.end, step
    )
    by_window: dict[tuple[float, float], list[str]] = defaultdict(list)
    for series in answer:
        name = series.labels.get("target", "")
        for first, last in runs(series.points, step):
            by_window[(max(chunk.start, first - step), last)].append(name)
    return [Window(a, b, tuple(sorted(names)), step) for (a, b), names in sorted(by_window.items())]


async def _probes_in(prom: Prometheus, queries: Queries, window: Window) -> dict[str, Counts]:
    seconds = max(1, round(window.seconds))
    regex = regex_of(window.targets)
    probes, errors = await asyncio.gather(
        prom.vector(queries.probes(seconds, target=f"~{regex}"), window.last),
        prom.vector(queries.errors(seconds, target=f"~{regex}"), window.last),
    )
    found: dict[str, Counts] = defaultdict(Counts)
    for sample in probes:
        counts = found[sample.labels.get("target", "")]
        if sample.labels.get("result") == "success":
            counts.success += sample.value
        elif sample.labels.get("result") == "failure":
            counts.failure += sample.value
    for sample in errors:
        reasons = found[sample.labels.get("target", "")].reasons
        reason = sample.labels.get("reason", "other")
        reasons[reason] = reasons.get(reason, 0.0) + sample.value
    return found


@dataclass(slots=True)
class MaintenanceFigures:
    windows: list[Window]
    seconds: dict[str, float]
    probes: dict[str, float]
    """Probes made in maintenance, per target (left out of availability)."""


async def apply_maintenance(
    prom: Prometheus,
    queries: Queries,
    figures: list[ChunkFigures],
    step: float,
    counts_maintenance: set[str],
) -> MaintenanceFigures:
    """Finds every window and takes its probes out of the chunk counts (in place) for the
    targets whose exporter does not count maintenance itself."""
    per_chunk = await asyncio.gather(
        *(
            windows_in(
                prom,
                queries,
                chunk.chunk,
                sorted(n for n, c in chunk.targets.items() if c.maintenance_seen),
                step,
            )
            for chunk in figures
        )
    )
    seconds: dict[str, float] = defaultdict(float)
    probes: dict[str, float] = defaultdict(float)
    subtract: list[tuple[ChunkFigures, Window]] = []
    for chunk, windows in zip(figures, per_chunk, strict=True):
        for window in windows:
            for name in window.targets:
                seconds[name] += window.seconds
            old_style = tuple(n for n in window.targets if n not in counts_maintenance)
            if old_style:
                subtract.append((chunk, Window(window.start, window.last, old_style, step)))
    taken = await asyncio.gather(*(_probes_in(prom, queries, w) for _, w in subtract))
    for (chunk, _), found in zip(subtract, taken, strict=True):
        for name, inside in found.items():
            counts = chunk.targets[name]
            counts.success = max(0.0, counts.success - inside.success)
            counts.failure = max(0.0, counts.failure - inside.failure)
            for reason, value in inside.reasons.items():
                counts.reasons[reason] = max(0.0, counts.reasons.get(reason, 0.0) - value)
            probes[name] += inside.success + inside.failure
    for chunk in figures:
        for name, counts in chunk.targets.items():
            if name in counts_maintenance:
                probes[name] += counts.maintenance
    merged = _merge_adjacent([w for windows in per_chunk for w in windows])
    return MaintenanceFigures(merged, dict(seconds), dict(probes))


def _merge_adjacent(windows: list[Window]) -> list[Window]:
    """Windows cut at chunk boundaries joined again, for the listing."""
    merged: list[Window] = []
    for window in sorted(windows, key=lambda w: (w.targets, w.start)):
        previous = merged[-1] if merged else None
        if previous and previous.targets == window.targets and previous.last >= window.start:
            merged[-1] = Window(
                previous.start, max(previous.last, window.last), window.targets, window.step
            )
        else:
            merged.append(window)
    return sorted(merged, key=lambda w: (w.start, w.targets))
