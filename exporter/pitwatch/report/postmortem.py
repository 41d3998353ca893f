"""The post-incident report of one incident: the structure the SRE postmortem template and
PagerDuty's guidance share (title, severity, status, summary; impact; detection; what failed;
a timeline that starts before the impact, every row linked to the graph of its moment; the
runbooks) and the sections people fill in afterwards.

Everything measured comes from raw samples of the incident's own targets around it (a bounded
read), the alert episodes from :mod:`.alerts`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pitwatch import __version__
from pitwatch.report.alerts import Episode
from pitwatch.report.errors import ReportError
from pitwatch.report.history import incident_row, incidents_between
from pitwatch.report.incidents import Incident
from pitwatch.report.inventory import Target, objectives_of, targets_of
from pitwatch.report.links import Links
from pitwatch.report.period import Period, describe, iso
from pitwatch.report.prometheus import Prometheus, Series
from pitwatch.report.promql import Queries, quote, regex_of
from pitwatch.report.sampling import evaluation_interval, scrape_interval
from pitwatch.report.service import SCHEMA_VERSION, require_rule_pack, traffic_row

ID_PATTERN = re.compile(r"(\d{8})-(\d{4})-([A-Za-z0-9_]+(?:\+[A-Za-z0-9_]+)*)(?:-(\d+))?")
SEARCH_BEFORE = 86400
SEARCH_AFTER = 86400
SEARCH_MAX = 30 * 86400
CONTEXT = 600
"""The timeline starts this long before the impact and ends this long after the end."""
LATENCY_WINDOW_MAX = 3600
BUDGET_WINDOW = 30 * 86400
FILL_IN = (
    ("root_cause", "Root cause"),
    ("trigger", "Trigger"),
    ("resolution", "Resolution"),
    ("contributing_factors", "Contributing factors"),
    ("went_well", "What went well"),
    ("went_wrong", "What went wrong"),
    ("got_lucky", "Where we got lucky"),
)


def parse_id(text: str) -> float:
    """The minute an incident ID names (when its first alert became active)."""
    match = ID_PATTERN.fullmatch(text.strip())
    if not match:
        raise ReportError(
            f"{text!r} is not an incident ID: expected YYYYMMDD-HHMM-component, as "
            "`pitwatch report` lists them (e.g. 20261203-1412-payment_gateway)"
        )
    try:
        moment = datetime.strptime(match.group(1) + match.group(2), "%Y%m%d%H%M")
    except ValueError:
        raise ReportError(
            f"{text!r}: {match.group(1)}-{match.group(2)} is no date and time"
        ) from None
    return moment.replace(tzinfo=UTC).timestamp()


async def find_incident(
    prom: Prometheus,
    queries: Queries,
    incident_id: str,
    now: float,
) -> tuple[Incident, dict[str, Target], float, float]:
    named = parse_id(incident_id)
    if named > now:
        raise ReportError(f"incident {incident_id} would begin in the future")
    after = SEARCH_AFTER
    while True:
        period = Period(int(named - SEARCH_BEFORE), int(min(now, named + after)))
        targets = await targets_of(prom, queries, period)
        await require_rule_pack(prom, period)
        scrape, evaluation = await asyncio.gather(
            scrape_interval(prom, queries, period.end), evaluation_interval(prom, period.end)
        )
        history = await incidents_between(
            prom,
            queries,
            period,
            targets=targets,
            scrape=scrape,
            evaluation=evaluation,
            resolve=False,
        )
        match = next((i for i in history.incidents if i.id == incident_id.strip()), None)
        if match is None:
            same_day = sorted(
                i.id for i in history.incidents if i.id[:8] == incident_id.strip()[:8]
            )
            known = f"; that day: {', '.join(same_day)}" if same_day else "; no incident that day"
            raise ReportError(
                f"no incident {incident_id.strip()} in {prom.connection.display_url}{known}"
            )
        if match.resolved_at is not None or period.end >= now or after >= SEARCH_MAX:
            break
        after = min(SEARCH_MAX, after * 4)
    from pitwatch.report.history import resolve_all

    await resolve_all(prom, queries, match, targets=targets, end=period.end, scrape=scrape)
    return match, targets, scrape, history.evaluation_interval


@dataclass(slots=True)
class TargetSamples:
    """Raw samples of one target around the incident, per series name."""

    failures: list[tuple[float, float]] = field(default_factory=list)
    successes: list[tuple[float, float]] = field(default_factory=list)
    success: list[tuple[float, float]] = field(default_factory=list)
    duration: list[tuple[float, float]] = field(default_factory=list)
    status: list[tuple[float, float]] = field(default_factory=list)
    reasons: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


def _deltas(points: list[tuple[float, float]]) -> dict[float, float]:
    found = {}
    for (_, before), (at, value) in itertools.pairwise(points):
        found[at] = value - before if value >= before else value
    return found


async def _samples(
    prom: Prometheus, queries: Queries, names: list[str], start: float, end: float
) -> dict[str, TargetSamples]:
    if not names:
        return {}
    window = max(1, round(end - start))
    target = f"~{regex_of(names)}"
    answers = await asyncio.gather(
        *(
            prom.matrix(f"{queries.sel(metric, target=target)}[{window}s]", end)
            for metric in (
                "pitwatch_probes_total",
                "pitwatch_probe_success",
                "pitwatch_probe_duration_seconds",
                "pitwatch_http_status_code",
                "pitwatch_probe_errors_total",
            )
        )
    )
    found: dict[str, TargetSamples] = defaultdict(TargetSamples)

    def first_instance(series: list[Series]) -> list[Series]:
        # One location is enough for the story; the one with the most samples.
        best: dict[tuple[str, str, str], Series] = {}
        for one in series:
            key = (
                one.labels.get("target", ""),
                one.labels.get("result", ""),
                one.labels.get("reason", ""),
            )
            if key not in best or len(one.points) > len(best[key].points):
                best[key] = one
        return list(best.values())

    counters, success, duration, status, errors = (first_instance(a) for a in answers)
    for one in counters:
        samples = found[one.labels.get("target", "")]
        if one.labels.get("result") == "failure":
            samples.failures = list(one.points)
        elif one.labels.get("result") == "success":
            samples.successes = list(one.points)
    for one in success:
        found[one.labels.get("target", "")].success = list(one.points)
    for one in duration:
        found[one.labels.get("target", "")].duration = list(one.points)
    for one in status:
        found[one.labels.get("target", "")].status = list(one.points)
    for one in errors:
        found[one.labels.get("target", "")].reasons[one.labels.get("reason", "other")] = list(
            one.points
        )
    return found


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"samples": 0, "p50_seconds": None, "p95_seconds": None, "max_seconds": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "samples": len(values),
        "p50_seconds": round(statistics.median(ordered), 4),
        "p95_seconds": round(p95, 4),
        "max_seconds": round(ordered[-1], 4),
    }


@dataclass(slots=True)
class Row:
    at: float
    kind: str
    text: str
    target: str | None = None
    expr: str = ""
    panel: str = "probe_results"
    component: str | None = None

    def sort_key(self) -> tuple[float, int, str]:
        order = {"context": 0, "impact": 1, "reason": 2, "pending": 3, "firing": 4}
        return (self.at, order.get(self.kind, 5), self.text)


def _alert_labels(episode: Episode) -> str:
    """Every label that tells this alert from another of its name (a burn-rate alert's
    ``long``/``short`` windows, say); name and severity are in the row already."""
    shown = [
        f"{k}={v}"
        for k, v in sorted(episode.labels.items())
        if k not in ("alertname", "severity", "job") and v
    ]
    return ", ".join(shown)


def _reason_rows(
    name: str, component: str, samples: TargetSamples, *, start: float, end: float, q: Queries
) -> list[Row]:
    """A row at the first failure of the incident, at each change of failure reason (or HTTP
    status) while failing, and at the recovery."""
    failures, successes = _deltas(samples.failures), _deltas(samples.successes)
    reason_deltas = {r: _deltas(points) for r, points in samples.reasons.items()}
    status_at = dict(samples.status)
    rows: list[Row] = []
    failing = False
    last_cause: tuple[str, int] | None = None
    selector = q.sel("pitwatch_probe_success", target=name)
    for at in sorted(failures):
        if at < start or at > end:
            continue
        failed, succeeded = failures.get(at, 0.0), successes.get(at, 0.0)
        if failed > 0:
            present = {r: d.get(at, 0.0) for r, d in reason_deltas.items() if d.get(at, 0.0) > 0}
            if not present:
                # A reason's series appears at its first failure: that sample has no delta.
                present = {r: 1.0 for r, pts in samples.reasons.items() if pts and pts[0][0] == at}
            reason = max(present, key=lambda r: present[r]) if present else "unknown"
            status = int(status_at.get(at, 0))
            cause = (reason, status)
            detail = f"{reason}" + (f", HTTP {status}" if status else "")
            if not failing:
                rows.append(
                    Row(
                        at,
                        "impact",
                        f"{name}: probes fail ({detail})",
                        name,
                        selector,
                        "probe_results",
                        component,
                    )
                )
            elif cause != last_cause:
                rows.append(
                    Row(
                        at,
                        "reason",
                        f"{name}: failures now {detail}",
                        name,
                        f"increase({q.sel('pitwatch_probe_errors_total', target=name)}[1m])",
                        "reasons",
                        component,
                    )
                )
            failing, last_cause = True, cause
        elif failing and succeeded > 0:
            rows.append(
                Row(
                    at,
                    "recovery",
                    f"{name}: probes succeed again",
                    name,
                    selector,
                    "probe_results",
                    component,
                )
            )
            failing, last_cause = False, None
    return rows


def _alert_rows(incident: Incident, q: Queries) -> list[Row]:
    rows = []
    del q
    for episode in incident.episodes:
        labels = _alert_labels(episode)
        matchers = ", ".join(
            f"{k}={quote(v)}" for k, v in sorted(episode.labels.items()) if k != "severity"
        )
        for at, state in episode.states:
            verb = {
                "pending": "became active (pending)",
                "firing": "fired: sent to Alertmanager",
                "resolved": "resolved",
            }[state]
            rows.append(
                Row(
                    at,
                    state,
                    f"{episode.alertname} ({episode.severity}) {verb}"
                    + (f": {labels}" if labels else ""),
                    episode.target,
                    f"ALERTS{{{matchers}}}",
                    "firing_alerts" if episode.target is None else "probe_results",
                    episode.component,
                )
            )
    return rows


def _timeline(
    incident: Incident,
    targets: dict[str, Target],
    samples: dict[str, TargetSamples],
    *,
    start: float,
    end: float,
    links: Links,
    q: Queries,
) -> list[dict[str, Any]]:
    names = incident.targets
    healthy = [
        n
        for n in names
        # Answering in the context window (a young Prometheus may not reach back all of it).
        if samples.get(n)
        and any(v == 1 for t, v in samples[n].success if t < incident.impact_started_at)
    ]
    # A Prometheus younger than the context window: begin with its first sample instead.
    first_seen = [samples[n].success[0][0] for n in names if samples.get(n) and samples[n].success]
    if first_seen and start < min(first_seen) < incident.impact_started_at:
        start = min(first_seen)
    rows = [
        Row(
            start,
            "context",
            (
                f"Before the impact: {', '.join(healthy)} answering"
                if healthy
                else "Before the impact"
            ),
            None,
            q.sel("pitwatch_probe_success", target=f"~{regex_of(names)}") if names else "ALERTS",
            "success_ratio",
        )
    ]
    for name in names:
        if name in samples:
            target = targets.get(name)
            rows.extend(
                _reason_rows(
                    name,
                    target.component if target else "",
                    samples[name],
                    start=incident.impact_started_at,
                    end=end,
                    q=q,
                )
            )
    rows.extend(_alert_rows(incident, q))
    rows.sort(key=Row.sort_key)
    result = []
    for row in rows:
        result.append(
            {
                "at": iso(row.at),
                "kind": row.kind,
                "target": row.target,
                "text": row.text,
                "since_impact_seconds": round(row.at - incident.impact_started_at),
                "prometheus_url": links.graph(row.expr, row.at),
                "grafana_url": links.panel(row.panel, row.at, row.target, row.component),
            }
        )
    return result


async def incident_report(
    prom: Prometheus, queries: Queries, incident_id: str, now: float, links: Links
) -> dict[str, Any]:
    prom.progress.set_phase("finding the incident")
    await prom.check()
    incident, targets, scrape, evaluation = await find_incident(prom, queries, incident_id, now)
    end = incident.end(now)
    duration = max(scrape, end - incident.impact_started_at)
    around = min(LATENCY_WINDOW_MAX, max(CONTEXT, duration))
    read_from = incident.impact_started_at - max(CONTEXT, around) - scrape
    read_to = min(now, end + max(CONTEXT, around))
    prom.progress.set_phase("reading the incident's samples")
    samples, objectives, traffic = await asyncio.gather(
        _samples(prom, queries, incident.targets, read_from, read_to),
        objectives_of(
            prom, queries, Period(int(read_from), int(read_to)), int(read_to - read_from)
        ),
        _traffic(prom, queries, incident, targets=targets, end=end, scrape=scrape),
    )
    impact_rows = []
    for name in incident.targets:
        target = targets.get(name)
        got = samples.get(name, TargetSamples())
        inside = [(t, v) for t, v in got.success if incident.impact_started_at <= t <= end]
        failures = _deltas(got.failures)
        successes = _deltas(got.successes)
        failed = sum(v for t, v in failures.items() if incident.impact_started_at <= t <= end)
        probes = failed + sum(
            v for t, v in successes.items() if incident.impact_started_at <= t <= end
        )
        objective = objectives.get(name)
        ratio = objective.availability if objective else None
        consumed = None
        if ratio is not None and ratio < 1 and probes > 0:
            per_second = probes / max(scrape, end - incident.impact_started_at + scrape)
            consumed = round(failed / ((1 - ratio) * per_second * BUDGET_WINDOW), 4)
        impact_rows.append(
            {
                "target": name,
                "component": target.component if target else "",
                "tier": target.tier if target else "",
                "team": target.team if target else "",
                "down_seconds": round(sum(1 for _, v in inside if v == 0) * scrape),
                "probes": round(probes),
                "failed_probes": round(failed),
                "objective": ratio,
                "error_budget_consumed_30d": consumed,
                "latency": {
                    "before": _stats(
                        [
                            v
                            for t, v in got.duration
                            if t < incident.impact_started_at
                            and t >= incident.impact_started_at - around
                        ]
                    ),
                    "during": _stats(
                        [v for t, v in got.duration if incident.impact_started_at <= t <= end]
                    ),
                    "after": _stats([v for t, v in got.duration if end < t <= end + around]),
                },
                "http_statuses": _statuses(got, incident.impact_started_at, end),
            }
        )
    row = incident_row(incident, targets)
    row["duration_seconds"] = round(end - incident.impact_started_at)
    timeline = _timeline(
        incident,
        targets,
        samples,
        start=incident.impact_started_at - CONTEXT,
        end=end,
        links=links,
        q=queries,
    )
    document: dict[str, Any] = {
        "kind": "incident",
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(now),
        "generator": f"pitwatch {__version__}",
        "prometheus": prom.connection.display_url,
        "job": queries.job,
        "scrape_interval_seconds": scrape,
        "evaluation_interval_seconds": evaluation,
        "title": _title(incident, targets),
        "document_status": "draft",
        "summary": _summary(incident, targets, impact_rows, end),
        "incident": row,
        "impact": {"targets": impact_rows, "traffic": traffic},
        "detection": _detection(incident),
        "alerts": [
            {
                "alertname": e.alertname,
                "severity": e.severity,
                "labels": dict(sorted(e.labels.items())),
                "active_at": iso(e.active_at),
                "firing_at": None if e.firing_at is None else iso(e.firing_at),
                "resolved_at": None if e.resolved_at is None else iso(e.resolved_at),
                "runbook_url": links.runbook(e.alertname),
            }
            for e in incident.episodes
        ],
        "runbooks": {name: links.runbook(name) for name in incident.alerts},
        "timeline": timeline,
        "series": _series(samples, read_from, read_to, scrape),
        "links": links.describe(),
        "to_fill_in": {key: None for key, _ in FILL_IN} | {"action_items": []},
    }
    prom.progress.done()
    return document


CHART_POINTS = 400


def _series(
    samples: dict[str, TargetSamples], start: float, end: float, scrape: float
) -> dict[str, Any]:
    """What the charts draw: each target's failing spans and (thinned) latency."""
    down: dict[str, list[list[float]]] = {}
    latency: dict[str, list[list[float]]] = {}
    for name, got in sorted(samples.items()):
        spans: list[list[float]] = []
        for at, value in got.success:
            if value == 0:
                if spans and at - spans[-1][1] <= scrape * 1.5:
                    spans[-1][1] = at
                else:
                    spans.append([at, at])
        down[name] = [[a, b + scrape] for a, b in spans]
        every = max(1, len(got.duration) // CHART_POINTS)
        latency[name] = [[t, round(v, 4)] for t, v in got.duration[::every]]
    return {"start": start, "end": end, "down": down, "latency": latency}


def _statuses(samples: TargetSamples, start: float, end: float) -> dict[str, int]:
    """Scrapes that saw each HTTP status of the last probe while the incident lasted."""
    counts: dict[str, int] = defaultdict(int)
    for at, value in samples.status:
        if start <= at <= end:
            counts[str(int(value))] += 1
    return dict(sorted(counts.items()))


async def _traffic(
    prom: Prometheus,
    queries: Queries,
    incident: Incident,
    *,
    targets: dict[str, Target],
    end: float,
    scrape: float,
) -> list[dict[str, Any]]:
    """Real requests of the access-log targets of the incident's components over it."""
    logs = [
        t.name for t in targets.values() if t.probe == "logs" and t.component in incident.components
    ]
    if not logs:
        return []
    window = max(1, round(end - incident.impact_started_at + scrape))
    answer = await prom.vector(
        "sum by (target, status_class) (increase("
        f"{queries.sel('pitwatch_logs_requests_total', target=f'~{regex_of(logs)}')}[{window}s]))",
        end,
    )
    by_target: dict[str, dict[str, float]] = defaultdict(dict)
    for sample in answer:
        by_target[sample.labels.get("target", "")][sample.labels.get("status_class", "")] = (
            sample.value
        )
    rows = []
    for name in sorted(by_target):
        row = traffic_row(name, by_target[name])
        rows.append(
            {
                "target": name,
                "requests": row["requests"],
                "failed_requests": row["errors_5xx"],
                "error_ratio": row["error_ratio"],
            }
        )
    return rows


def _detection(incident: Incident) -> dict[str, Any]:
    impact = incident.impact_started_at
    return {
        "impact_started_at": iso(impact),
        "impact_source": incident.impact_source,
        "pending_at": iso(incident.detected_at),
        "firing_at": iso(incident.firing_at),
        "paged_at": iso(incident.firing_at),
        "paged_note": "Prometheus sends a firing alert to Alertmanager at once; the page "
        "leaves after the route's group_wait (Alertmanager keeps no history to read).",
        "resolved_at": None if incident.resolved_at is None else iso(incident.resolved_at),
        "time_to_detect_seconds": round(incident.detected_at - impact),
        "time_to_page_seconds": round(incident.firing_at - impact),
        "time_to_resolve_seconds": None
        if incident.resolved_at is None
        else round(incident.resolved_at - impact),
    }


def _title(incident: Incident, targets: dict[str, Target]) -> str:
    what = ", ".join(incident.targets[:3]) + (" ..." if len(incident.targets) > 3 else "")
    where = what or ", ".join(incident.components)
    alerts = ", ".join(incident.alerts)
    return f"{incident.severity.capitalize()} incident {incident.id}: {alerts} ({where})"


def _summary(
    incident: Incident, targets: dict[str, Target], impact: list[dict[str, Any]], end: float
) -> str:
    del targets
    lasted = describe(end - incident.impact_started_at)
    reasons = ", ".join(f"{r} ({n})" for r, n in list(incident.reasons.items())[:3])
    who = ", ".join(
        f"{r['target']} ({r['component']}, tier {r['tier']}, team {r['team']})" for r in impact[:4]
    )
    if len(impact) > 4:
        who += f" and {len(impact) - 4} more"
    # How long the probes failed, which a late alert (a burn rate's long for:) can outlast.
    down = max((int(r["down_seconds"]) for r in impact), default=0)
    failing = describe(down) if down and incident.impact_source == "probes" else lasted
    first = min(incident.episodes, key=lambda e: (e.active_at, e.alertname))
    paged = min(
        (e for e in incident.episodes if e.firing_at is not None),
        key=lambda e: (e.firing_at or 0.0, e.alertname),
    )
    parts = [
        f"{who or ', '.join(incident.components)} failed "
        + (
            f"from {iso(incident.impact_started_at)} for {failing}"
            if incident.resolved_at is not None
            else f"since {iso(incident.impact_started_at)} (still ongoing, {lasted} so far)"
        )
        + (f", failed probes by reason: {reasons}" if reasons else "")
        + ".",
        f"The first alert, {first.alertname} ({first.severity}), became active "
        f"{describe(incident.detected_at - incident.impact_started_at)} after the first failed "
        f"probe; the first page, {paged.alertname} ({paged.severity}), fired "
        f"{describe(incident.firing_at - incident.impact_started_at)} after it.",
    ]
    if incident.resolved_at is not None:
        parts.append(
            f"The last alert resolved at {iso(incident.resolved_at)}, "
            f"{lasted} after the impact began."
        )
    return " ".join(parts)
