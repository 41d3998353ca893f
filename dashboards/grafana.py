"""Builders for the parts of a Grafana dashboard (classic JSON model) that pitwatch uses.

Plain dicts, so the output is exactly what a reviewer reads in the committed JSON. Only what
the dashboards need is here: stat, time series, state timeline, table and bar gauge panels,
rows, query and datasource variables, links. Every panel and query points at the
``${datasource}`` variable; callers give every panel a unit and a description.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Json = dict[str, Any]

DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24


@dataclass(frozen=True, slots=True)
class Query:
    """One PromQL query of a panel; ``legend`` is Grafana's legend format (``{{label}}``)."""

    expr: str
    legend: str = ""


Step = tuple[str, float | None]
"""A threshold step: colour, and the value from which it applies (None = base)."""


def thresholds(*steps: Step) -> Json:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def good_from_one() -> Json:
    """Red below 1, green from 1: a 0/1 health flag or a count of what works."""
    return thresholds(("red", None), ("green", 1))


def bad_from_one() -> Json:
    """Green at 0, red from 1: a count of what fails."""
    return thresholds(("green", None), ("red", 1))


def value_map(values: Mapping[int, tuple[str, str]]) -> Json:
    """Map exact values to a text and a colour (0 -> DOWN in red)."""
    options = {
        str(value): {"text": text, "color": color, "index": index}
        for index, (value, (text, color)) in enumerate(values.items())
    }
    return {"type": "value", "options": options}


def link(title: str, url: str, new_tab: bool = False) -> Json:
    return {"title": title, "url": url, "targetBlank": new_tab}


def override(matcher: str, name: str, **properties: Any) -> Json:
    """Field override: ``matcher`` is ``byName``, ``byRegexp`` or ``byFrameRefID``; property
    ids with dots (``custom.transform``) are written with ``__`` (``custom__transform``)."""
    return {
        "matcher": {"id": matcher, "options": name},
        "properties": [
            {"id": key.replace("__", "."), "value": value} for key, value in properties.items()
        ],
    }


def _targets(queries: Sequence[Query], instant: bool, table: bool) -> list[Json]:
    if not queries:
        raise ValueError("a panel needs at least one query")
    return [
        {
            "datasource": DATASOURCE,
            "refId": chr(ord("A") + index),
            "expr": query.expr,
            "legendFormat": query.legend or "__auto",
            "range": not instant,
            "instant": instant,
            "format": "table" if table else "time_series",
            "editorMode": "code",
        }
        for index, query in enumerate(queries)
    ]


def _panel(
    kind: str,
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    defaults: Json,
    options: Json,
    size: tuple[int, int],
    links: Iterable[Json],
    overrides: Iterable[Json],
    instant: bool = False,
    table: bool = False,
) -> Json:
    if not description.strip():
        raise ValueError(f"panel {title!r} needs a description")
    if "unit" not in defaults:
        raise ValueError(f"panel {title!r} needs a unit")
    width, height = size
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"h": height, "w": width, "x": 0, "y": 0},
        "targets": _targets(queries, instant, table),
        "fieldConfig": {"defaults": defaults, "overrides": list(overrides)},
        "options": options,
        "links": list(links),
    }


def _defaults(
    unit: str,
    steps: Json | None,
    mappings: Sequence[Json],
    data_links: Sequence[Json],
    extra: Mapping[str, Any],
) -> Json:
    defaults: Json = {"unit": unit}
    if steps is not None:
        defaults["thresholds"] = steps
    if mappings:
        defaults["mappings"] = list(mappings)
    if data_links:
        defaults["links"] = list(data_links)
    defaults.update(extra)
    return defaults


def _reduce() -> Json:
    return {"calcs": ["lastNotNull"], "fields": "", "values": False}


def stat(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str,
    steps: Json,
    mappings: Sequence[Json] = (),
    links: Iterable[Json] = (),
    data_links: Sequence[Json] = (),
    size: tuple[int, int] = (4, 4),
    no_value: str | None = None,
    decimals: int | None = None,
    color_mode: Literal["background", "value", "none"] = "background",
    text_mode: Literal["auto", "value", "value_and_name", "name"] = "auto",
    overrides: Iterable[Json] = (),
) -> Json:
    """The latest value of each series as a coloured tile (instant queries: cheap, and a
    tile shows "now")."""
    extra: Json = {"color": {"mode": "thresholds"}}
    if no_value is not None:
        extra["noValue"] = no_value
    if decimals is not None:
        extra["decimals"] = decimals
    options = {
        "reduceOptions": _reduce(),
        "colorMode": color_mode,
        "graphMode": "none",
        "textMode": text_mode,
        "justifyMode": "auto",
        "orientation": "auto",
    }
    return _panel(
        "stat",
        title,
        description,
        queries,
        defaults=_defaults(unit, steps, mappings, data_links, extra),
        options=options,
        size=size,
        links=links,
        overrides=overrides,
        instant=True,
    )


def timeseries(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str,
    links: Iterable[Json] = (),
    data_links: Sequence[Json] = (),
    size: tuple[int, int] = (12, 8),
    min_value: float | None = None,
    max_value: float | None = None,
    steps: Json | None = None,
    stack: bool = False,
    bars: bool = False,
    overrides: Iterable[Json] = (),
    legend_table: bool = False,
) -> Json:
    """Lines (or bars) over time. With ``steps``, the thresholds are drawn as dashed lines:
    the alert's threshold next to the data."""
    custom: Json = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 60 if bars else (30 if stack else 10),
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "dashed" if steps is not None else "off"},
    }
    extra: Json = {"custom": custom, "color": {"mode": "palette-classic"}}
    if min_value is not None:
        extra["min"] = min_value
    if max_value is not None:
        extra["max"] = max_value
    options = {
        "legend": {
            "displayMode": "table" if legend_table else "list",
            "placement": "right" if legend_table else "bottom",
            "showLegend": True,
            "calcs": ["lastNotNull", "max"] if legend_table else [],
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return _panel(
        "timeseries",
        title,
        description,
        queries,
        defaults=_defaults(unit, steps, (), data_links, extra),
        options=options,
        size=size,
        links=links,
        overrides=overrides,
    )


def state_timeline(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str,
    steps: Json,
    mappings: Sequence[Json] = (),
    links: Iterable[Json] = (),
    data_links: Sequence[Json] = (),
    size: tuple[int, int] = (24, 6),
    overrides: Iterable[Json] = (),
    show_values: bool = False,
) -> Json:
    """One band per series, coloured by state: up/down history that keeps short failures
    visible."""
    extra: Json = {"color": {"mode": "thresholds"}, "custom": {"fillOpacity": 80, "lineWidth": 0}}
    options = {
        "mergeValues": True,
        "showValue": "auto" if show_values else "never",
        "alignValue": "left",
        "rowHeight": 0.9,
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return _panel(
        "state-timeline",
        title,
        description,
        queries,
        defaults=_defaults(unit, steps, mappings, data_links, extra),
        options=options,
        size=size,
        links=links,
        overrides=overrides,
    )


def table(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str,
    columns: Mapping[str, str],
    links: Iterable[Json] = (),
    data_links: Sequence[Json] = (),
    size: tuple[int, int] = (24, 8),
    overrides: Iterable[Json] = (),
    hide: Iterable[str] = (),
) -> Json:
    """Instant queries joined on their labels into one row per series (Grafana's ``merge``).

    ``columns`` renames fields and puts them first, in its order: labels by name, query
    values as ``Value #<refId>``. Fields named in ``hide`` (and the time) are left out;
    overrides match the new names.
    """
    hidden = {"Time": True, "__name__": True}
    hidden.update(dict.fromkeys(hide, True))
    extra: Json = {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}}
    transformations = [
        {"id": "merge", "options": {}},
        {
            "id": "organize",
            "options": {
                "excludeByName": hidden,
                "indexByName": {name: index for index, name in enumerate(columns)},
                "renameByName": dict(columns),
            },
        },
    ]
    panel = _panel(
        "table",
        title,
        description,
        queries,
        defaults=_defaults(unit, None, (), data_links, extra),
        options={
            "showHeader": True,
            "cellHeight": "sm",
            "footer": {"show": False, "reducer": ["sum"]},
        },
        size=size,
        links=links,
        overrides=overrides,
        instant=True,
        table=True,
    )
    panel["transformations"] = transformations
    return panel


def bargauge(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str,
    steps: Json,
    min_value: float,
    max_value: float,
    links: Iterable[Json] = (),
    data_links: Sequence[Json] = (),
    size: tuple[int, int] = (12, 8),
) -> Json:
    """Horizontal bars, one per series, for ranking (lowest error budget first)."""
    extra: Json = {"color": {"mode": "thresholds"}, "min": min_value, "max": max_value}
    options = {
        "reduceOptions": _reduce(),
        "orientation": "horizontal",
        "displayMode": "basic",
        "valueMode": "color",
        "showUnfilled": True,
        "minVizHeight": 10,
        "minVizWidth": 0,
        "namePlacement": "auto",
        "sizing": "auto",
    }
    return _panel(
        "bargauge",
        title,
        description,
        queries,
        defaults=_defaults(unit, steps, (), data_links, extra),
        options=options,
        size=size,
        links=links,
        overrides=(),
        instant=True,
    )


def row(title: str, *panels: Json, collapsed: bool = False) -> Json:
    """A row; a collapsed one carries its panels and draws them only when opened."""
    return {
        "type": "row",
        "title": title,
        "collapsed": collapsed,
        "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": 0},
        "panels": list(panels) if collapsed else [],
        "_children": [] if collapsed else list(panels),
    }


def layout(items: Sequence[Json]) -> list[Json]:
    """Place panels left to right, wrapping at 24 columns, and number them in order.

    A row starts a new line; the panels of an open row follow it at the top level, those of
    a collapsed row stay inside it (placed as if opened, as Grafana stores them).
    """
    placed: list[Json] = []
    next_id = 1
    cursor = _Cursor()
    for item in items:
        if item["type"] != "row":
            next_id = cursor.place(item, next_id)
            placed.append(item)
            continue
        children = item.pop("_children")
        next_id = cursor.place(item, next_id)
        placed.append(item)
        if item["collapsed"]:
            inner = _Cursor(y=cursor.y)
            for panel in item["panels"]:
                next_id = inner.place(panel, next_id)
            continue
        for panel in children:
            next_id = cursor.place(panel, next_id)
            placed.append(panel)
    return placed


class _Cursor:
    def __init__(self, y: int = 0) -> None:
        self.x = 0
        self.y = y
        self.line_height = 0

    def place(self, panel: Json, panel_id: int) -> int:
        grid = panel["gridPos"]
        if panel["type"] == "row" or self.x + grid["w"] > GRID_WIDTH:
            self.y += self.line_height
            self.x = 0
            self.line_height = 0
        grid["x"], grid["y"] = self.x, self.y
        panel["id"] = panel_id
        self.x += grid["w"]
        self.line_height = max(self.line_height, grid["h"])
        if panel["type"] == "row":
            self.y += 1
            self.x = 0
            self.line_height = 0
        return panel_id + 1


# -- variables ---------------------------------------------------------------------------


def datasource_variable() -> Json:
    return {
        "type": "datasource",
        "name": "datasource",
        "label": "Data source",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
    }


def query_variable(
    name: str,
    label: str,
    query: str,
    *,
    all_value: str | None = None,
    multi: bool = False,
) -> Json:
    """A variable filled from ``label_values(...)``, refreshed when the time range changes.

    With ``all_value`` it offers "All" (and starts on it), standing for that regular
    expression: ``.*`` also matches series without the label, ``.+`` only those with it.
    """
    include_all = all_value is not None
    current: Json = (
        {"selected": True, "text": ["All"], "value": ["$__all"]}
        if include_all and multi
        else {"selected": True, "text": "All", "value": "$__all"}
        if include_all
        else {}
    )
    variable: Json = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DATASOURCE,
        "query": query,
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "regex": "",
        "hide": 0,
        "multi": multi,
        "includeAll": include_all,
        "current": current,
        "options": [],
    }
    if all_value is not None:
        variable["allValue"] = all_value
    return variable


def annotation(name: str, expr: str, title: str, text: str, *, color: str, tags: str = "") -> Json:
    """Marks on every time panel where ``expr`` has a value (maintenance, firing alerts)."""
    return {
        "name": name,
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": color,
        "expr": expr,
        "step": "60s",
        "titleFormat": title,
        "textFormat": text,
        "tagKeys": tags,
        "useValueForTime": False,
    }
