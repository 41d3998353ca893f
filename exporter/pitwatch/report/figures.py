"""Availability, error budget, maintenance, failure reasons and latency of every target and
component over a period: the chunked counts with maintenance taken out, summed."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pitwatch.report.chunks import chunks_of
from pitwatch.report.counting import ChunkFigures, Counts, count_chunks
from pitwatch.report.incidents import scale_reasons
from pitwatch.report.inventory import Objectives, Target
from pitwatch.report.maintenance import MaintenanceFigures, apply_maintenance
from pitwatch.report.period import Period
from pitwatch.report.prometheus import Prometheus
from pitwatch.report.promql import Queries, regex_of

QUANTILE_BATCH = 200


@dataclass(slots=True)
class PeriodFigures:
    period: Period
    chunks: list[ChunkFigures]
    totals: dict[str, Counts]
    maintenance: MaintenanceFigures
    traffic: dict[str, dict[str, float]] = field(default_factory=dict)


def availability(success: int, failure: int) -> float | None:
    probes = success + failure
    return None if probes == 0 else round(success / probes, 6)


def budget_remaining(success: int, failure: int, objective: float | None) -> float | None:
    probes = success + failure
    if probes == 0 or objective is None or objective >= 1:
        return None
    return round(1 - (failure / probes) / (1 - objective), 4)


async def period_figures(
    prom: Prometheus, queries: Queries, period: Period, step: float
) -> PeriodFigures:
    chunks = await count_chunks(prom, queries, chunks_of(period))
    counts_maintenance = {
        name for chunk in chunks for name, c in chunk.targets.items() if c.counts_maintenance
    }
    maintenance = await apply_maintenance(prom, queries, chunks, step, counts_maintenance)
    totals: dict[str, Counts] = defaultdict(Counts)
    traffic: dict[str, dict[str, float]] = defaultdict(dict)
    for chunk in chunks:
        for name, counts in chunk.targets.items():
            totals[name].add(counts)
        for name, classes in chunk.traffic.items():
            for status, value in classes.items():
                traffic[name][status] = traffic[name].get(status, 0.0) + value
    return PeriodFigures(period, chunks, dict(totals), maintenance, dict(traffic))


async def latency_percentiles(
    prom: Prometheus,
    queries: Queries,
    period: Period,
    names: list[str],
    objectives: dict[str, Objectives],
) -> dict[str, float]:
    """Each target's probe latency at its objective's percentile over the whole period
    (quantiles do not add up across chunks, so targets are split into batches instead)."""
    by_percentile: dict[str, list[str]] = defaultdict(list)
    for name in names:
        objective = objectives.get(name)
        by_percentile[objective.latency_percentile if objective else "95"].append(name)
    jobs = []
    for percentile, members in by_percentile.items():
        for index in range(0, len(members), QUANTILE_BATCH):
            batch = members[index : index + QUANTILE_BATCH]
            jobs.append(
                prom.vector(
                    queries.latency_quantile(
                        float(percentile) / 100, period.seconds, regex_of(batch)
                    ),
                    period.end,
                )
            )
    found: dict[str, float] = {}
    for answer in await asyncio.gather(*jobs):
        for sample in answer:
            found[sample.labels.get("target", "")] = sample.value
    return found


def target_rows(
    figures: PeriodFigures,
    targets: dict[str, Target],
    objectives: dict[str, Objectives],
    latency: dict[str, float],
) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(targets):
        target = targets[name]
        counts = figures.totals.get(name, Counts())
        success, failure = round(counts.success), round(counts.failure)
        objective = objectives.get(name)
        ratio = objective.availability if objective else None
        latency_objective = objective.latency_seconds if objective else None
        percentile = objective.latency_percentile if objective else "95"
        value = latency.get(name)
        rows.append(
            {
                "target": name,
                "component": target.component,
                "tier": target.tier,
                "team": target.team,
                "probe": target.probe,
                "canary": target.canary,
                "probes": success + failure,
                "failed_probes": failure,
                "availability": availability(success, failure),
                "objective": ratio,
                "error_budget_remaining": budget_remaining(success, failure, ratio),
                "maintenance_seconds": round(figures.maintenance.seconds.get(name, 0.0)),
                "maintenance_probes": round(figures.maintenance.probes.get(name, 0.0)),
                "reasons": scale_reasons(counts.reasons, failure),
                "latency": {
                    "percentile": percentile,
                    "seconds": None if value is None else round(value, 4),
                    "objective_seconds": latency_objective,
                    "met": None
                    if value is None or latency_objective is None
                    else value <= latency_objective,
                },
            }
        )
    return rows


def component_rows(rows: list[dict[str, Any]], targets: dict[str, Target]) -> list[dict[str, Any]]:
    """Pooled over the component's targets (canaries and logs targets left out): probes
    added up, the objective weighted by each target's probes."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if targets[row["target"]].in_component_figures:
            grouped[row["component"]].append(row)
    result = []
    for component in sorted(grouped):
        members = grouped[component]
        probes = sum(r["probes"] for r in members)
        failed = sum(r["failed_probes"] for r in members)
        weighted = [(r["objective"], r["probes"]) for r in members if r["objective"] is not None]
        weight = sum(p for _, p in weighted)
        objective = round(sum(o * p for o, p in weighted) / weight, 6) if weight else None
        latency = [r for r in members if r["latency"]["met"] is not None]
        worst = max(
            (r for r in members if r["latency"]["seconds"] is not None),
            key=lambda r: r["latency"]["seconds"],
            default=None,
        )
        result.append(
            {
                "component": component,
                "targets": len(members),
                "probes": probes,
                "failed_probes": failed,
                "availability": availability(probes - failed, failed),
                "objective": objective,
                "error_budget_remaining": budget_remaining(probes - failed, failed, objective),
                "maintenance_seconds": max((r["maintenance_seconds"] for r in members), default=0),
                "latency": {
                    "targets_with_objective": len(latency),
                    "targets_meeting_objective": sum(1 for r in latency if r["latency"]["met"]),
                    "worst_target": None if worst is None else worst["target"],
                    "worst_percentile": None if worst is None else worst["latency"]["percentile"],
                    "worst_seconds": None if worst is None else worst["latency"]["seconds"],
                    "worst_objective_seconds": None
                    if worst is None
                    else worst["latency"]["objective_seconds"],
                },
            }
        )
    return result


def over_time(figures: PeriodFigures, targets: dict[str, Target]) -> dict[str, Any]:
    """Per chunk: availability and mean latency per component, failures by reason (charts)."""
    points = []
    for chunk in figures.chunks:
        components: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
        reasons: dict[str, float] = defaultdict(float)
        for name, counts in chunk.targets.items():
            target = targets.get(name)
            if target is None or not target.in_component_figures:
                continue
            acc = components[target.component]
            acc[0] += counts.success
            acc[1] += counts.failure
            acc[2] += counts.latency_sum
            acc[3] += counts.latency_count
            for reason, value in scale_reasons(counts.reasons, round(counts.failure)).items():
                reasons[reason] += value
        points.append(
            {
                "from": chunk.chunk.start,
                "to": chunk.chunk.end,
                "availability": {
                    c: availability(round(a[0]), round(a[1])) for c, a in sorted(components.items())
                },
                "latency_mean_seconds": {
                    c: round(a[2] / a[3], 4) for c, a in sorted(components.items()) if a[3]
                },
                "failures_by_reason": dict(sorted((r, round(v)) for r, v in reasons.items() if v)),
            }
        )
    return {
        "chunk_seconds": figures.chunks[0].chunk.seconds if figures.chunks else 0,
        "points": points,
    }
