"""Markdown and HTML from the report document, through the Jinja2 templates of
``templates/`` (Markdown unescaped, HTML autoescaped), with the charts drawn for HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jinja2

from pitwatch.report.links import Links
from pitwatch.report.period import describe
from pitwatch.report.postmortem import FILL_IN


def _environment(html: bool) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("pitwatch.report", "templates"),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        pct=percent,
        dur=duration,
        when=when,
        budget=budget,
        cell=cell,
        num=number,
    )
    return environment


def percent(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def budget(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def duration(seconds: float | None) -> str:
    return "n/a" if seconds is None else describe(seconds)


def when(text: str | None) -> str:
    """``2026-11-02T14:10:00Z`` as ``2026-11-02 14:10:00``."""
    if not text:
        return "n/a"
    return text.replace("T", " ").removesuffix("Z")


def cell(value: Any) -> str:
    """Text safe in a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def number(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def _stamp(iso_text: str) -> float:
    return datetime.strptime(iso_text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _service_charts(document: dict[str, Any]) -> dict[str, str | None]:
    from pitwatch.report import charts

    points = document["over_time"]["points"]
    availability: dict[str, list[tuple[float, float]]] = {}
    latency: dict[str, list[tuple[float, float]]] = {}
    for point in points:
        middle = (point["from"] + point["to"]) / 2
        for component, value in point["availability"].items():
            if value is not None:
                availability.setdefault(component, []).append((middle, value))
        for component, value in point["latency_mean_seconds"].items():
            latency.setdefault(component, []).append((middle, value))
    lanes: dict[str, list[tuple[float, float, str]]] = {}
    end = _stamp(document["to"])
    for incident in document["incidents"]:
        begin = _stamp(incident["impact_started_at"])
        finish = _stamp(incident["resolved_at"]) if incident["resolved_at"] else end
        for target in incident["targets"] or incident["components"]:
            lanes.setdefault(target, []).append((begin, finish, incident["severity"]))
    for window in document["maintenance"]:
        for target in window["targets"]:
            lanes.setdefault(target, []).append(
                (_stamp(window["start"]), _stamp(window["end"]), "maintenance")
            )
    lowest = min((v for series in availability.values() for _, v in series), default=1.0)
    return {
        "availability": charts.lines(
            "Availability per component", availability, "%", floor=min(lowest, 0.99)
        ),
        "latency": charts.lines("Mean probe latency per component", latency, "seconds"),
        "reasons": charts.stacked_bars(
            "Failed probes by reason",
            [(p["from"], p["to"], p["failures_by_reason"]) for p in points],
        ),
        "incidents": charts.swimlanes(
            "Incidents (by severity) and maintenance, per target",
            lanes,
            _stamp(document["from"]),
            end,
        ),
    }


def _incident_charts(document: dict[str, Any]) -> dict[str, str | None]:
    from pitwatch.report import charts

    series = document.get("series", {})
    lanes = {
        name: [(a, b, "down") for a, b in spans] for name, spans in series.get("down", {}).items()
    }
    for alert in document["alerts"]:
        name = alert["labels"].get("target") or alert["alertname"]
        active = _stamp(alert["active_at"])
        firing = _stamp(alert["firing_at"]) if alert["firing_at"] else None
        resolved = (
            _stamp(alert["resolved_at"]) if alert["resolved_at"] else series.get("end", active)
        )
        lane = f"{alert['alertname']} {name}" if name != alert["alertname"] else name
        lanes.setdefault(lane, []).append((active, firing or resolved, "pending"))
        if firing is not None:
            lanes[lane].append((firing, resolved, "firing"))
    start, end = series.get("start", 0.0), series.get("end", 0.0)
    return {
        "swimlanes": charts.swimlanes("Failing probes and alert states", lanes, start, end)
        if lanes
        else None,
        "latency": charts.lines(
            "Probe latency",
            {k: [tuple(p) for p in v] for k, v in series.get("latency", {}).items()},
            "seconds",
        ),
    }


def render_markdown(document: dict[str, Any], links: Links) -> str:
    template = _environment(html=False).get_template(f"{document['kind']}.md.j2")
    return template.render(r=document, links=links, fill_in=FILL_IN)


def render_html(document: dict[str, Any], links: Links) -> str:
    charts = (
        _service_charts(document) if document["kind"] == "service" else _incident_charts(document)
    )
    template = _environment(html=True).get_template(f"{document['kind']}.html.j2")
    return template.render(r=document, links=links, charts=charts, fill_in=FILL_IN)
