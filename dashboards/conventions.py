"""What every pitwatch dashboard shares: uids, links, variables, version and the envelope.

The uids are a public interface: the rule pack's ``dashboard_url`` annotations point at
them (``/d/<uid>/<slug>?var-...``), so never change one without a migration note.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dashboards.grafana import Json, datasource_variable, layout, link, query_variable

GRAFANA_MIN_VERSION = "10.0.0"
"""Oldest Grafana these dashboards are built for: table ``cellOptions`` and schema 38."""
SCHEMA_VERSION = 38
"""The classic dashboard schema Grafana 10.0 writes; newer Grafanas migrate it up on load."""

OVERVIEW = "pitwatch-overview"
TARGET = "pitwatch-target"
HOSTS = "pitwatch-hosts"
DATABASES = "pitwatch-databases"
SELF = "pitwatch-self"

RUNBOOK_BASE = "https://github.com/pitwatch/pitwatch/blob/main/docs/runbooks/"
"""Same base as the rules' ``runbook_url`` annotations (a test keeps them equal)."""
DOCS_BASE = "https://github.com/pitwatch/pitwatch/blob/main/docs/"

COMPONENTS: tuple[tuple[str, str], ...] = (
    ("game_provider", "Game providers"),
    ("payment_gateway", "Payments"),
    ("api", "API"),
    ("kyc", "KYC"),
    ("database", "Databases"),
    ("network", "Network"),
    ("host", "Hosts"),
)
"""The component kinds the overview shows a tile for, in the order players feel them."""

TIME_RANGE = "${__url_time_range}"


def runbook(alert: str) -> Json:
    return link(f"Runbook: {alert}", f"{RUNBOOK_BASE}{alert}.md", new_tab=True)


def dashboard_url(uid: str, **variables: str) -> str:
    """A link to another pitwatch dashboard that keeps the time range; values may be
    Grafana templates such as ``${__field.labels.target}``."""
    params = [*(f"var-{name}={value}" for name, value in variables.items()), TIME_RANGE]
    return f"/d/{uid}/{uid}?{'&'.join(params)}"


def to_target(component: str = "${__field.labels.component}") -> Json:
    """Data link from a series that carries ``target`` and ``component`` to its detail."""
    return link(
        "Target detail: ${__field.labels.target}",
        dashboard_url(TARGET, component=component, target="${__field.labels.target}"),
    )


def job_variable() -> Json:
    return query_variable(
        "job", "Job", "label_values(pitwatch_build_info, job)", all_value=".+", multi=True
    )


def platform_variable(selector: str = '{job=~"$job"}') -> Json:
    # `.*`, not `.+`: the platform label only exists where the config sets it in
    # global.labels, and "All" must then still match every series.
    return query_variable(
        "platform",
        "Platform",
        f"label_values(pitwatch_target_info{selector}, platform)",
        all_value=".*",
        multi=True,
    )


def instance_variable(source: str) -> Json:
    return query_variable(
        "instance",
        "Instance",
        f'label_values({source}{{job=~"$job"}}, instance)',
        all_value=".+",
        multi=True,
    )


def dashboard(
    uid: str,
    title: str,
    description: str,
    *,
    variables: Sequence[Json],
    panels: Sequence[Json],
    annotations: Iterable[Json] = (),
) -> Json:
    placed = layout(panels)
    kinds = sorted({panel["type"] for panel in _every_panel(placed) if panel["type"] != "row"})
    return {
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA_MIN_VERSION},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            *({"type": "panel", "id": kind, "name": kind, "version": ""} for kind in kinds),
        ],
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["pitwatch"],
        "editable": False,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "links": [
            {
                "type": "dashboards",
                "title": "pitwatch",
                "tags": ["pitwatch"],
                "asDropdown": True,
                "includeVars": False,
                "keepTime": True,
                "targetBlank": False,
                "icon": "external link",
                "tooltip": "",
                "url": "",
            },
            {
                "type": "link",
                "title": "Runbooks",
                "url": f"{DOCS_BASE}alerting.md",
                "tags": [],
                "asDropdown": False,
                "includeVars": False,
                "keepTime": False,
                "targetBlank": True,
                "icon": "doc",
                "tooltip": "Every pitwatch alert, its thresholds and its runbook",
            },
        ],
        "templating": {"list": [datasource_variable(), *variables]},
        "annotations": {"list": list(annotations)},
        "panels": placed,
    }


def _every_panel(panels: Iterable[Json]) -> Iterable[Json]:
    for panel in panels:
        yield panel
        yield from panel.get("panels", [])
