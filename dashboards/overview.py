"""Platform overview: is the platform up for players, and where is it not?

Top to bottom: one tile per component kind, tier-1 targets and firing alerts, availability
against objectives, latency and failures per component, then real traffic from the access
logs next to what the probes saw. Everything reads the rule pack's recordings, so it stays
cheap at 10,000 targets.
"""

from __future__ import annotations

from dashboards.conventions import (
    COMPONENTS,
    DOCS_BASE,
    HOSTS,
    OVERVIEW,
    RUNBOOK_BASE,
    TARGET,
    dashboard,
    dashboard_url,
    platform_variable,
    runbook,
    to_target,
)
from dashboards.grafana import (
    Json,
    Query,
    bad_from_one,
    bargauge,
    good_from_one,
    link,
    override,
    row,
    stat,
    state_timeline,
    table,
    thresholds,
    timeseries,
    value_map,
)

P = 'platform=~"$platform"'
UP_DOWN = value_map({0: ("DOWN", "red"), 1: ("UP", "green")})
BUDGET_STEPS = thresholds(("red", None), ("orange", 0), ("yellow", 0.25), ("green", 0.5))
SEVERITIES = (("critical", "red"), ("high", "orange"), ("medium", "yellow"), ("low", "blue"))

_TILE_RUNBOOKS = {
    "game_provider": ("PitwatchGameProvidersDown", "PitwatchComponentDegraded"),
    "payment_gateway": ("PitwatchPaymentGatewaysDown", "PitwatchComponentDegraded"),
    "network": ("PitwatchEgressDown", "PitwatchComponentDegraded"),
}


def _component_tile(component: str, label: str) -> Json:
    links = [
        link(f"{label}: every target", dashboard_url(TARGET, component=component)),
        *(
            runbook(alert)
            for alert in _TILE_RUNBOOKS.get(component, ("PitwatchComponentDegraded",))
        ),
    ]
    if component == "host":
        links.append(link("Hosts of the monitoring itself", dashboard_url(HOSTS)))
    return stat(
        label,
        f"Share of the `{component}` targets whose last probe succeeded, on the worst "
        "platform shown. Targets in a maintenance window and canaries are left out. Green: "
        "all up; orange: some down; red: half or more down (the rule pack's "
        "PitwatchComponentDegraded). Empty when no such target is configured.",
        [Query(f'min(component:pitwatch_probe_success:avg{{component="{component}", {P}}})')],
        unit="percentunit",
        steps=thresholds(("red", None), ("orange", 0.5), ("green", 1)),
        links=links,
        size=(3, 4),
        no_value="no targets",
        decimals=0,
    )


def _status() -> list[Json]:
    tiles = [_component_tile(component, label) for component, label in COMPONENTS]
    targets_down = stat(
        "Targets down",
        "Targets whose last probe failed, maintenance windows left out. One failed probe "
        "counts here; PitwatchTargetDown waits for a second failure.",
        [
            Query(
                f"count(max without (instance, pod) (pitwatch_probe_success{{{P}}}) == 0"
                " unless on (job, target) (pitwatch_target_maintenance == 1)) or vector(0)"
            )
        ],
        unit="short",
        steps=bad_from_one(),
        links=[runbook("PitwatchTargetDown")],
        size=(3, 4),
    )
    return [*tiles, targets_down]


def _tier1_and_alerts() -> list[Json]:
    tier1 = state_timeline(
        "Tier-1 targets",
        "Last probe result of every tier-1 target over time: the platform-critical ones, "
        "down means players cannot play or pay. Click a band for the target's detail.",
        [
            Query(
                f'max by (target, component) (pitwatch_probe_success{{tier="1", {P}}})',
                "{{target}}",
            )
        ],
        unit="none",
        steps=good_from_one(),
        mappings=[UP_DOWN],
        links=[runbook("PitwatchTargetDown"), runbook("PitwatchTargetFlapping")],
        data_links=[to_target()],
        size=(12, 8),
    )
    severity_queries = [
        Query(
            f'count(ALERTS{{alertstate="firing", alertname=~"Pitwatch.+", severity="{severity}",'
            f" {P}}}) or vector(0)",
            severity,
        )
        for severity, _ in SEVERITIES
    ]
    alerts = stat(
        "Firing alerts by severity",
        "pitwatch alerts firing now, by severity: critical pages on-call (the platform is "
        "down for players), high pages the owning team, medium goes to its chat, low to its "
        "ticket queue. The heartbeat PitwatchWatchdog is not counted.",
        severity_queries,
        unit="short",
        steps=thresholds(("green", None)),
        links=[link("Alerts, severities and routing", f"{DOCS_BASE}alerting.md", new_tab=True)],
        size=(8, 8),
        text_mode="value_and_name",
        overrides=[
            override(
                "byName",
                severity,
                thresholds=thresholds(("green", None), (color, 1)),
            )
            for severity, color in SEVERITIES
        ],
    )
    maintenance = stat(
        "In maintenance",
        "Targets inside a maintenance window now: probed as usual, paging nobody, left out of "
        "the tiles above.",
        [Query(f"sum(component:pitwatch_target_maintenance:sum{{{P}}}) or vector(0)")],
        unit="short",
        steps=thresholds(("green", None), ("blue", 1)),
        size=(4, 8),
    )
    return [tier1, alerts, maintenance]


def _firing_table() -> Json:
    return table(
        "Firing alerts",
        "Every pitwatch alert firing now with its labels. The alert name links to its runbook.",
        [Query(f'ALERTS{{alertstate="firing", alertname=~"Pitwatch.+", severity!="none", {P}}}')],
        unit="none",
        columns={
            "alertname": "Alert",
            "severity": "Severity",
            "component": "Component",
            "target": "Target",
            "tier": "Tier",
            "team": "Team",
            "platform": "Platform",
        },
        hide=["Value", "alertstate", "job", "instance"],
        overrides=[
            override(
                "byName",
                "Alert",
                links=[
                    link(
                        "Runbook: ${__value.raw}",
                        f"{RUNBOOK_BASE}${{__value.raw}}.md",
                        new_tab=True,
                    )
                ],
            )
        ],
        size=(24, 7),
    )


def _availability() -> list[Json]:
    by_component = "by (platform, component)"
    availability = table(
        "Availability against objective, per component",
        "Share of successful probes per component over 30 days and over the last day, the "
        "strictest availability objective among its targets, and the error budget left of "
        "its worst target (1 = untouched, 0 = spent, negative = overspent). Alerts burn "
        "per target: a component's figure can look fine while one target is out of budget.",
        [
            Query(f"component:pitwatch_probe_successes_per_probes:ratio_rate30d{{{P}}}"),
            Query(f"component:pitwatch_probe_successes_per_probes:ratio_rate1d{{{P}}}"),
            Query(f"max {by_component} (target:pitwatch_target_objective_ratio:max{{{P}}})"),
            Query(
                f"min {by_component} (target:pitwatch_probe_error_budget_remaining:ratio30d{{{P}}})"
            ),
            Query(
                f"sum {by_component} "
                f"(target:pitwatch_probe_error_budget_remaining:ratio30d{{{P}}} <= bool 0)"
            ),
        ],
        unit="percentunit",
        columns={
            "platform": "Platform",
            "component": "Component",
            "Value #A": "Availability 30d",
            "Value #B": "Availability 1d",
            "Value #C": "Objective",
            "Value #D": "Budget left (worst target)",
            "Value #E": "Targets out of budget",
        },
        overrides=[
            override("byName", "Availability 30d", decimals=3),
            override("byName", "Availability 1d", decimals=3),
            override("byName", "Objective", decimals=2),
            override(
                "byName",
                "Budget left (worst target)",
                decimals=0,
                thresholds=BUDGET_STEPS,
                custom__cellOptions={"type": "color-background"},
            ),
            override("byName", "Targets out of budget", unit="short", decimals=0),
        ],
        links=[runbook("PitwatchErrorBudgetBurn")],
        size=(14, 9),
    )
    worst = bargauge(
        "Error budget left, lowest ten targets",
        "The ten targets with the least 30-day error budget left: 1 = untouched, 0 = spent. "
        "A target below 0 has failed more than its availability objective allows. Click a "
        "bar for the target's detail.",
        [
            Query(
                f"bottomk(10, target:pitwatch_probe_error_budget_remaining:ratio30d{{{P}}})",
                "{{target}}",
            )
        ],
        unit="percentunit",
        steps=BUDGET_STEPS,
        min_value=-1,
        max_value=1,
        links=[runbook("PitwatchErrorBudgetBurn")],
        data_links=[to_target()],
        size=(10, 9),
    )
    return [availability, worst]


def _latency_and_failures() -> list[Json]:
    latency = timeseries(
        "p95 probe latency per component",
        "95th percentile of probe durations per component over 5m windows (from the "
        "histogram; targets with the histogram switched off are not in it).",
        [
            Query(
                "component_percentile:pitwatch_probe_latency_seconds:histogram_quantile5m"
                f'{{percentile="95", {P}}}',
                "{{component}}",
            )
        ],
        unit="s",
        min_value=0,
        links=[runbook("PitwatchTargetSlow")],
    )
    failures = timeseries(
        "Probe failures per component",
        "Share of failed probes per component over 5m windows, all targets of the component "
        "together.",
        [
            Query(
                f"component:pitwatch_probe_failures_per_probes:ratio_rate5m{{{P}}}",
                "{{component}}",
            )
        ],
        unit="percentunit",
        min_value=0,
        links=[runbook("PitwatchTargetErrorRatioHigh"), runbook("PitwatchErrorBudgetBurn")],
    )
    return [latency, failures]


def _traffic() -> list[Json]:
    # Components that have an access-log target: the probe figures next to them are
    # narrowed to those, so the two lines of a component sit side by side.
    logged = f"group by (platform, component) (target:pitwatch_logs_requests:rate5m{{{P}}})"
    requests = timeseries(
        "Real requests per second (access logs)",
        "Requests per second the access logs of each component recorded over 5m windows: "
        "what players actually sent. A sudden fall with healthy probes means players "
        "cannot reach us (DNS, CDN, load balancer, an app release).",
        [
            Query(
                f"sum by (platform, component) (target:pitwatch_logs_requests:rate5m{{{P}}})",
                "{{component}}",
            )
        ],
        unit="reqps",
        min_value=0,
        links=[runbook("PitwatchAccessLogTrafficDrop")],
        size=(8, 8),
    )
    errors = timeseries(
        "Failing share: real requests and probes",
        "Share of logged requests answered 5xx, next to the share of failed probes of the "
        "same component (5m windows). Probes failing while players succeed points at the "
        "probe or its path; the reverse at what the probes do not cover.",
        [
            Query(
                "sum by (platform, component) (target:pitwatch_logs_requests:rate5m"
                f"{{{P}}} * target:pitwatch_logs_request_errors_per_requests:ratio_rate5m)"
                f" / sum by (platform, component) (target:pitwatch_logs_requests:rate5m{{{P}}})",
                "{{component}} real 5xx",
            ),
            Query(
                f"component:pitwatch_probe_failures_per_probes:ratio_rate5m{{{P}}}"
                f" and on (platform, component) {logged}",
                "{{component}} probes",
            ),
        ],
        unit="percentunit",
        min_value=0,
        links=[runbook("PitwatchAccessLogErrorRatioHigh")],
        size=(8, 8),
    )
    latency = timeseries(
        "p95 latency: real requests and probes",
        "95th percentile of logged request durations (the slowest access-log target of the "
        "component) next to the probes' p95 for the same component, 5m windows.",
        [
            Query(
                "max by (platform, component) (target_percentile:pitwatch_logs_request_"
                f'duration_seconds:histogram_quantile5m{{percentile="95", {P}}})',
                "{{component}} real",
            ),
            Query(
                "component_percentile:pitwatch_probe_latency_seconds:histogram_quantile5m"
                f'{{percentile="95", {P}}} and on (platform, component) {logged}',
                "{{component}} probes",
            ),
        ],
        unit="s",
        min_value=0,
        links=[runbook("PitwatchTargetSlow")],
        size=(8, 8),
    )
    return [requests, errors, latency]


def build() -> Json:
    return dashboard(
        OVERVIEW,
        "pitwatch / Platform overview",
        "Is the platform up for players: component health, tier-1 targets, firing alerts, "
        "availability against objectives, latency, and real traffic next to the probes.",
        variables=[platform_variable(selector="")],
        panels=[
            row("Status now", *_status()),
            row("Tier 1 and alerts", *_tier1_and_alerts(), _firing_table()),
            row("Availability and error budget (30 days)", *_availability()),
            row("Latency and failures", *_latency_and_failures()),
            row("Real traffic (access logs) next to the probes", *_traffic()),
        ],
    )
