"""Incidents of a period, complete: episodes read with enough history before the period that
an incident begun earlier keeps its start (and so its ID), merged, then each one's targets,
impact start and failure reasons resolved from the probes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from pitwatch.report.alerts import Episode, fetch_episodes
from pitwatch.report.incidents import (
    Incident,
    build_incidents,
    group_episodes,
    resolve_impact,
    resolve_reasons,
    resolve_targets,
)
from pitwatch.report.inventory import Target
from pitwatch.report.period import Period, iso
from pitwatch.report.prometheus import Prometheus
from pitwatch.report.promql import Queries

LOOKBACK_STEP = 86400
LOOKBACK_MAX = 30 * 86400


@dataclass(slots=True)
class IncidentHistory:
    incidents: list[Incident]
    evaluation_interval: float


async def incidents_between(
    prom: Prometheus,
    queries: Queries,
    period: Period,
    *,
    targets: dict[str, Target],
    scrape: float,
    evaluation: float | None,
    resolve: bool = True,
) -> IncidentHistory:
    """Incidents active at some moment of ``period``."""
    lookback = LOOKBACK_STEP
    episodes: list[Episode] = []
    interval = evaluation or 60.0
    while True:
        read = Period(period.start - lookback, period.end)
        episodes, interval = await fetch_episodes(prom, queries, read, evaluation)
        earliest = min((e.active_at for e in episodes), default=period.start)
        if earliest - read.start > interval * 3 or lookback >= LOOKBACK_MAX:
            break
        lookback = min(LOOKBACK_MAX, lookback * 4)
    groups = group_episodes(episodes, period.end, tolerance=interval * 1.5)
    incidents = [
        i
        for i in build_incidents(groups, period.end, targets)
        if i.firing_at <= period.end and i.end(period.end) >= period.start
    ]
    if resolve:
        await asyncio.gather(
            *(
                resolve_all(prom, queries, i, targets=targets, end=period.end, scrape=scrape)
                for i in incidents
            )
        )
    return IncidentHistory(incidents, interval)


async def resolve_all(
    prom: Prometheus,
    queries: Queries,
    incident: Incident,
    *,
    targets: dict[str, Target],
    end: float,
    scrape: float,
) -> None:
    await resolve_targets(prom, queries, incident, targets=targets, end=end, step=scrape)
    await resolve_impact(prom, queries, incident)
    await resolve_reasons(prom, queries, incident, end, scrape)


def _seconds(later: float | None, earlier: float) -> int | None:
    return None if later is None else round(later - earlier)


def incident_row(incident: Incident, targets: dict[str, Target]) -> dict[str, Any]:
    """The SPEC's incident object (plus a few fields; none renamed)."""
    known = [targets[n] for n in incident.targets if n in targets]
    teams = {t.team for t in known} | {
        e.labels["team"] for e in incident.episodes if e.labels.get("team")
    }
    return {
        "id": incident.id,
        "severity": incident.severity,
        "status": incident.status,
        "alerts": incident.alerts,
        "targets": incident.targets,
        "components": incident.components,
        "teams": sorted(teams),
        "tiers": sorted({t.tier for t in known}),
        "impact_started_at": iso(incident.impact_started_at),
        "impact_source": incident.impact_source,
        "detected_at": iso(incident.detected_at),
        "firing_at": iso(incident.firing_at),
        "resolved_at": None if incident.resolved_at is None else iso(incident.resolved_at),
        "time_to_detect_seconds": round(incident.detected_at - incident.impact_started_at),
        "time_to_page_seconds": round(incident.firing_at - incident.impact_started_at),
        "time_to_resolve_seconds": _seconds(incident.resolved_at, incident.impact_started_at),
        "failed_probes": incident.failed_probes,
        "reasons": incident.reasons,
    }


def summary_of(rows: list[dict[str, Any]], period: Period) -> dict[str, Any]:
    """Counts by severity and MTTD / MTTR over the incidents detected inside the period (one
    that began earlier is listed, but counted in the period it began in)."""
    counted = [r for r in rows if iso(period.start) <= r["detected_at"] <= iso(period.end)]
    resolved = [r for r in counted if r["status"] == "resolved"]
    by_severity = {s: 0 for s in ("critical", "high", "medium", "low")}
    for row in counted:
        by_severity[row["severity"]] = by_severity.get(row["severity"], 0) + 1

    def mean(field: str) -> int | None:
        values = [r[field] for r in resolved if r[field] is not None]
        return round(sum(values) / len(values)) if values else None

    return {
        "incidents": len(counted),
        "incidents_by_severity": by_severity,
        "mttd_seconds": mean("time_to_detect_seconds"),
        "mttr_seconds": mean("time_to_resolve_seconds"),
        "mean_time_to_page_seconds": mean("time_to_page_seconds"),
    }
