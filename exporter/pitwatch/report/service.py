"""The service report of a period: every figure SPEC's "Reports" section defines, plus the
maintenance, latency, traffic, host, certificate, backup and monitor sections, and what
changed since the previous period of the same length. The result is the JSON document
(``schema/service-report.schema.json``); every other format renders it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pitwatch import __version__
from pitwatch.report.alerts import firing_summary
from pitwatch.report.errors import ReportError
from pitwatch.report.figures import (
    component_rows,
    latency_percentiles,
    over_time,
    period_figures,
    target_rows,
)
from pitwatch.report.history import incident_row, incidents_between, summary_of
from pitwatch.report.inventory import Target, objectives_of, targets_of
from pitwatch.report.links import Links
from pitwatch.report.period import Period, iso
from pitwatch.report.platform import backups, certificates, host_figures, monitor_health
from pitwatch.report.prometheus import Prometheus
from pitwatch.report.promql import ALERT_PREFIX, Queries
from pitwatch.report.sampling import evaluation_interval, scrape_interval

WORST_TARGETS = 5
SCHEMA_VERSION = 1


async def require_rule_pack(prom: Prometheus, period: Period) -> None:
    """Incidents come from the pack's alerts: without them a report would claim a quiet
    period it cannot know about."""
    found = await prom.series(f'ALERTS{{alertname=~"{ALERT_PREFIX}.+"}}', period.start, period.end)
    if not found:
        raise ReportError(
            f"{prom.connection.display_url} has no alert of the pitwatch rule pack between "
            f"{iso(period.start)} and {iso(period.end)} (not even the always-firing "
            "PitwatchWatchdog): load rules/*.yml into it (docs/deployment.md); incidents come "
            "from those alerts"
        )


async def service_report(
    prom: Prometheus, queries: Queries, period: Period, links: Links, now: float | None = None
) -> dict[str, Any]:
    progress = prom.progress
    progress.set_phase("checking Prometheus")
    await prom.check()
    targets = await targets_of(prom, queries, period)
    await require_rule_pack(prom, period)
    scrape, evaluation = await asyncio.gather(
        scrape_interval(prom, queries, period.end), evaluation_interval(prom, period.end)
    )
    progress.set_phase("counting probes")
    previous_period = period.previous()
    current, previous, objectives, history, previous_history = await asyncio.gather(
        period_figures(prom, queries, period, scrape),
        period_figures(prom, queries, previous_period, scrape),
        objectives_of(prom, queries, period, period.seconds),
        incidents_between(
            prom, queries, period, targets=targets, scrape=scrape, evaluation=evaluation
        ),
        incidents_between(
            prom,
            queries,
            previous_period,
            targets=targets,
            scrape=scrape,
            evaluation=evaluation,
        ),
    )
    progress.set_phase("latency, host, certificates, backups")
    latency, host, certs, backup_rows, alert_rows = await asyncio.gather(
        latency_percentiles(prom, queries, period, sorted(targets), objectives),
        host_figures(prom, queries, period, scrape),
        certificates(prom, queries, period),
        backups(prom, queries, period, targets, scrape),
        firing_summary(prom, queries, period, history.evaluation_interval),
    )
    rows = target_rows(current, targets, objectives, latency)
    probes_run = sum(r["probes"] + r["maintenance_probes"] for r in rows)
    monitor = await monitor_health(prom, queries, period, probes_run)
    components = component_rows(rows, targets)
    previous_targets = {
        n: t
        for n, t in targets.items()
        if previous.totals.get(n) and previous.totals[n].success + previous.totals[n].failure > 0
    }
    previous_rows = target_rows(previous, previous_targets, objectives, {})
    previous_components = component_rows(previous_rows, previous_targets)
    incidents = [incident_row(i, targets) for i in history.incidents]
    previous_incidents = [incident_row(i, targets) for i in previous_history.incidents]
    summary = summary_of(incidents, period)
    previous_summary = summary_of(previous_incidents, previous_period)
    summary["availability"] = _overall(components)
    previous_summary["availability"] = _overall(previous_components)
    document: dict[str, Any] = {
        "kind": "service",
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(now if now is not None else time.time()),
        "generator": f"pitwatch {__version__}",
        "prometheus": prom.connection.display_url,
        "job": queries.job,
        "from": iso(period.start),
        "to": iso(period.end),
        "period_seconds": period.seconds,
        "scrape_interval_seconds": scrape,
        "evaluation_interval_seconds": history.evaluation_interval,
        "targets": rows,
        "components": components,
        "incidents": incidents,
        "summary": summary,
        "previous": {
            "from": iso(previous_period.start),
            "to": iso(previous_period.end),
            "components": previous_components,
            "summary": previous_summary,
        },
        "changes": changes(
            components,
            previous_components=previous_components,
            summary=summary,
            previous_summary=previous_summary,
            targets=targets,
            previous_totals=previous.totals,
        ),
        "worst_targets": worst_targets(rows, targets),
        "maintenance": [
            {
                "targets": list(w.targets),
                "components": sorted({targets[n].component for n in w.targets if n in targets}),
                "start": iso(w.begins),
                "end": iso(w.ends),
                "seconds": round(w.seconds),
            }
            for w in current.maintenance.windows
        ],
        "traffic": traffic_rows(current.traffic, targets),
        "host": host,
        "certificates": certs,
        "backups": backup_rows,
        "monitor": monitor,
        "alerts": alert_rows,
        "over_time": over_time(current, targets),
        "links": links.describe(),
    }
    progress.done()
    return document


def _overall(components: list[dict[str, Any]]) -> float | None:
    probes = sum(c["probes"] for c in components)
    failed = sum(c["failed_probes"] for c in components)
    return round((probes - failed) / probes, 6) if probes else None


def worst_targets(rows: list[dict[str, Any]], targets: dict[str, Target]) -> list[dict[str, Any]]:
    failing = [r for r in rows if r["failed_probes"] > 0 and not targets[r["target"]].canary]

    def badness(row: dict[str, Any]) -> tuple[float, float]:
        budget = row["error_budget_remaining"]
        return (budget if budget is not None else 1.0, row["availability"] or 0.0)

    return [
        {
            "target": r["target"],
            "component": r["component"],
            "availability": r["availability"],
            "objective": r["objective"],
            "error_budget_remaining": r["error_budget_remaining"],
            "failed_probes": r["failed_probes"],
            "top_reason": next(iter(r["reasons"]), None),
        }
        for r in sorted(failing, key=badness)[:WORST_TARGETS]
    ]


def traffic_row(name: str, classes: dict[str, float]) -> dict[str, Any]:
    """Requests of one access-log target by status class: total, 5xx and their ratio."""
    total = round(sum(classes.values()))
    errors = round(classes.get("5xx", 0.0))
    return {
        "target": name,
        "requests": total,
        "errors_5xx": errors,
        "error_ratio": round(errors / total, 6) if total else None,
        "by_status_class": {k: round(v) for k, v in sorted(classes.items())},
    }


def traffic_rows(
    traffic: dict[str, dict[str, float]], targets: dict[str, Target]
) -> list[dict[str, Any]]:
    return [
        {
            **traffic_row(name, traffic[name]),
            "component": targets[name].component if name in targets else "",
        }
        for name in sorted(traffic)
    ]


def _percent(value: float) -> str:
    return f"{value * 100:.3f}%"


def changes(
    components: list[dict[str, Any]],
    *,
    previous_components: list[dict[str, Any]],
    summary: dict[str, Any],
    previous_summary: dict[str, Any],
    targets: dict[str, Target],
    previous_totals: dict[str, Any],
) -> list[str]:
    """A few sentences on what moved since the previous period of the same length."""
    lines = []
    now, before = summary["availability"], previous_summary["availability"]
    if now is not None and before is not None:
        lines.append(
            f"Availability {_percent(now)}, {'up' if now >= before else 'down'} from "
            f"{_percent(before)}."
        )
    elif now is not None:
        lines.append(f"Availability {_percent(now)}; no data for the previous period.")
    lines.append(
        f"{summary['incidents']} incident(s), {previous_summary['incidents']} the period before."
    )
    for field, label in (("mttr_seconds", "MTTR"), ("mttd_seconds", "MTTD")):
        if summary[field] is not None and previous_summary[field] is not None:
            lines.append(f"{label} {summary[field]}s, was {previous_summary[field]}s.")
    earlier = {c["component"]: c for c in previous_components}
    for component in components:
        old = earlier.get(component["component"])
        if old is None or component["availability"] is None or old["availability"] is None:
            continue
        delta = component["availability"] - old["availability"]
        if abs(delta) >= 0.0005:
            lines.append(
                f"{component['component']}: {_percent(component['availability'])} "
                f"({'+' if delta > 0 else ''}{delta * 100:.3f} points)."
            )
        spent_now = (component["error_budget_remaining"] or 0) < 0
        spent_before = (old["error_budget_remaining"] or 0) < 0
        if spent_now and not spent_before:
            lines.append(f"{component['component']} overspent its error budget.")
    added = sorted(n for n in targets if n not in previous_totals)
    if previous_totals and added:
        lines.append(f"New targets: {', '.join(added[:10])}{' ...' if len(added) > 10 else ''}.")
    return lines
