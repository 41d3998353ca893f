"""Alert episodes from Prometheus's own record of its alerts.

``ALERTS{alertstate="pending"|"firing"}`` has a sample at every rule evaluation while an alert
is active, and ``ALERTS_FOR_STATE``'s value is the moment the alert became active (``activeAt``,
exact, and kept across a Prometheus restart). Raw samples of the paging alerts only are read
(they exist only while something is wrong), in chunks. One alert series' samples split into
episodes where they stop for more than two evaluation intervals.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pitwatch.report.chunks import Chunk, chunks_of
from pitwatch.report.period import Period
from pitwatch.report.prometheus import Prometheus, Series
from pitwatch.report.promql import PAGING, Queries

ALERT_CHUNK = 86400
GAP_EVALUATIONS = 2.5


@dataclass(frozen=True, slots=True)
class Episode:
    alertname: str
    severity: str
    labels: Mapping[str, str]
    """The alert's labels (without ``alertstate``)."""
    active_at: float
    """When it became active (pending); its firing start for alerts without ``for``."""
    firing_at: float | None
    """Its first firing evaluation; None if it never fired."""
    last_firing: float | None
    resolved_at: float | None
    """The first evaluation that no longer found it firing; None while it still fires."""
    states: tuple[tuple[float, str], ...]
    """(time, state) at each change: pending, firing, resolved."""

    @property
    def fired(self) -> bool:
        return self.firing_at is not None

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.labels.items()))

    @property
    def target(self) -> str | None:
        return self.labels.get("target")

    @property
    def component(self) -> str | None:
        return self.labels.get("component")


def _identity(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ("__name__", "alertstate")))


async def _raw(
    prom: Prometheus, expr_of: Callable[[int], str], chunks: list[Chunk]
) -> list[Series]:
    answers = await asyncio.gather(*(prom.matrix(expr_of(c.seconds), c.end) for c in chunks))
    return [series for answer in answers for series in answer]


async def fetch_episodes(
    prom: Prometheus,
    queries: Queries,
    period: Period,
    evaluation: float | None,
    severities: tuple[str, ...] = PAGING,
) -> tuple[list[Episode], float]:
    """Every episode of the given severities that was active in ``period``, and the
    evaluation interval used to read them."""
    chunks = chunks_of(period, ALERT_CHUNK)
    alerts, for_state = await asyncio.gather(
        _raw(prom, lambda w: queries.alerts(w, severities), chunks),
        _raw(prom, lambda w: queries.alerts_for_state(w, severities), chunks),
    )
    states: dict[tuple[tuple[str, str], ...], dict[float, str]] = defaultdict(dict)
    labels_of: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for series in alerts:
        key = _identity(series.labels)
        labels_of[key] = dict(key)
        state = series.labels.get("alertstate", "firing")
        for at, _ in series.points:
            # A pending and a firing sample at one evaluation cannot happen; firing wins.
            if states[key].get(at) != "firing":
                states[key][at] = state
    active: dict[tuple[tuple[str, str], ...], dict[float, float]] = defaultdict(dict)
    for series in for_state:
        key = _identity(series.labels)
        for at, value in series.points:
            active[key][at] = value
    interval = evaluation or _spacing(states) or 60.0
    episodes = []
    for key, timeline in states.items():
        episodes.extend(
            _episodes(
                labels_of[key], sorted(timeline.items()), active.get(key, {}), interval, period
            )
        )
    episodes.sort(key=lambda e: (e.active_at, e.alertname, e.key))
    return episodes, interval


def _spacing(states: Mapping[tuple[tuple[str, str], ...], Mapping[float, str]]) -> float | None:
    gaps: list[float] = []
    for timeline in states.values():
        times = sorted(timeline)
        gaps.extend(b - a for a, b in itertools.pairwise(times))
    return float(statistics.median(gaps)) if gaps else None


def _episodes(
    labels: Mapping[str, str],
    timeline: list[tuple[float, str]],
    active: Mapping[float, float],
    interval: float,
    period: Period,
) -> list[Episode]:
    runs: list[list[tuple[float, str]]] = []
    for at, state in timeline:
        if runs and at - runs[-1][-1][0] <= interval * GAP_EVALUATIONS:
            runs[-1].append((at, state))
        else:
            runs.append([(at, state)])
    found = []
    for run in runs:
        first, last = run[0][0], run[-1][0]
        firing = [at for at, state in run if state == "firing"]
        starts = [value for at, value in active.items() if first <= at <= last and value > 0]
        active_at = min([first, *starts])
        still = period.end - last <= interval * GAP_EVALUATIONS
        resolved = None if still else last + interval
        changes: list[tuple[float, str]] = (
            [(active_at, "pending")] if run[0][1] == "pending" or active_at < first else []
        )
        previous = ""
        for at, state in run:
            if state != previous and state == "firing":
                changes.append((at, "firing"))
            elif state != previous and state == "pending" and previous:
                changes.append((at, "pending"))
            previous = state
        if not changes:
            changes.append((first, run[0][1]))
        if resolved is not None:
            changes.append((resolved, "resolved"))
        found.append(
            Episode(
                alertname=labels.get("alertname", ""),
                severity=labels.get("severity", ""),
                labels=dict(labels),
                active_at=active_at,
                firing_at=firing[0] if firing else None,
                last_firing=firing[-1] if firing else None,
                resolved_at=resolved if firing else None,
                states=tuple(changes),
            )
        )
    return found


async def firing_summary(
    prom: Prometheus, queries: Queries, period: Period, interval: float
) -> list[dict[str, object]]:
    """Every pitwatch alert that fired in the period (any severity): how many alert series
    and for how long, summed."""
    window = period.seconds
    samples, series = await asyncio.gather(
        prom.vector(queries.firing_seconds(window), period.end),
        prom.vector(queries.firing_series(window), period.end),
    )
    counts = {
        (s.labels.get("alertname", ""), s.labels.get("severity", "")): s.value for s in series
    }
    rows = []
    for sample in samples:
        key = (sample.labels.get("alertname", ""), sample.labels.get("severity", ""))
        rows.append(
            {
                "alertname": key[0],
                "severity": key[1],
                "series": int(counts.get(key, 0)),
                "firing_seconds": round(sample.value * interval),
            }
        )
    return sorted(rows, key=lambda r: (str(r["severity"]), str(r["alertname"])))
