"""pitwatch itself: is the monitor healthy enough to trust what it says?

When pitwatch is blind, every other alert is silent. Scrape and exposition time, scheduler
lag, skipped probes, config reloads, probes in flight, targets per exporter, and the
process's CPU and memory. Series carry only ``job`` and ``instance``.
"""

from __future__ import annotations

from dashboards.conventions import (
    HOSTS,
    SELF,
    dashboard,
    dashboard_url,
    instance_variable,
    job_variable,
    runbook,
)
from dashboards.grafana import (
    Json,
    Query,
    bad_from_one,
    good_from_one,
    link,
    row,
    stat,
    state_timeline,
    thresholds,
    timeseries,
    value_map,
)

X = 'job=~"$job", instance=~"$instance"'
RATE = "[$__rate_interval]"


def _quantiles(metric: str, *quantiles: float) -> list[Query]:
    return [
        Query(
            f"histogram_quantile({q}, sum by (instance, le) (rate({metric}_bucket{{{X}}}{RATE})))",
            f"{{{{instance}}}} p{round(q * 100)}",
        )
        for q in quantiles
    ]


def _now() -> list[Json]:
    return [
        stat(
            "Exporters up",
            "Share of pitwatch scrape targets Prometheus reached at its last scrape. Nothing "
            "at all: no scrape target of the job exists (PitwatchExporterAbsent).",
            [Query(f"sum(up{{{X}}}) / count(up{{{X}}})")],
            unit="percentunit",
            steps=thresholds(("red", None), ("orange", 0.01), ("green", 1)),
            no_value="no pitwatch scraped",
            links=[runbook("PitwatchExporterDown"), runbook("PitwatchExporterAbsent")],
        ),
        stat(
            "Alerting pipeline",
            "Whether this Prometheus evaluates the pitwatch rules: PitwatchWatchdog always "
            "fires when they are loaded, and an external dead man's switch should hear it.",
            [
                Query(
                    'count(ALERTS{alertname="PitwatchWatchdog", alertstate="firing"}) or vector(0)'
                )
            ],
            unit="none",
            steps=good_from_one(),
            mappings=[value_map({0: ("NO RULES", "red"), 1: ("ALIVE", "green")})],
            links=[runbook("PitwatchWatchdog")],
        ),
        stat(
            "Config",
            "Whether the last config load or reload of every exporter was accepted; a rejected "
            "one keeps the previous config running.",
            [Query(f"min(pitwatch_config_last_reload_successful{{{X}}})")],
            unit="none",
            steps=good_from_one(),
            mappings=[value_map({0: ("REJECTED", "red"), 1: ("OK", "green")})],
            links=[runbook("PitwatchConfigReloadFailed")],
        ),
        stat(
            "Last successful reload",
            "Time since the most recent successful config load or reload of any exporter shown.",
            [Query(f"time() - max(pitwatch_config_last_reload_success_timestamp_seconds{{{X}}})")],
            unit="dtdurations",
            steps=thresholds(("text", None)),
            color_mode="value",
        ),
        stat(
            "Targets",
            "Targets probed, summed over the exporters shown (each shard counts its own).",
            [Query(f"sum(pitwatch_targets{{{X}}})")],
            unit="short",
            steps=thresholds(("text", None)),
            color_mode="value",
        ),
        stat(
            "Version",
            "pitwatch versions running, and how many exporters run each.",
            [Query(f"count by (version) (pitwatch_build_info{{{X}}})", "{{version}}")],
            unit="short",
            steps=thresholds(("text", None)),
            color_mode="value",
            text_mode="value_and_name",
        ),
    ]


def _work() -> list[Json]:
    scrape = timeseries(
        "Scrape and exposition time",
        "How long Prometheus took to scrape each exporter, and percentiles of the time "
        "pitwatch took to build the /metrics body. A scrape near the scrape timeout loses "
        "every series at once.",
        [
            Query(f"scrape_duration_seconds{{{X}}}", "{{instance}} scrape"),
            *_quantiles("pitwatch_exposition_duration_seconds", 0.5, 0.99),
        ],
        unit="s",
        min_value=0,
        links=[runbook("PitwatchExporterDown")],
    )
    lag = timeseries(
        "Scheduler lag",
        "How late probes started against their schedule (waiting for a concurrency slot "
        "included); the dashed line is PitwatchSchedulerLagging's 1s at the 90th percentile.",
        _quantiles("pitwatch_scheduler_lag_seconds", 0.5, 0.9, 0.99),
        unit="s",
        min_value=0,
        steps=bad_from_one(),
        links=[runbook("PitwatchSchedulerLagging")],
    )
    probes = timeseries(
        "Probes per second",
        "Probes run per second by result, per exporter.",
        [
            Query(
                f"sum by (instance, result) (rate(pitwatch_probes_total{{{X}}}{RATE}))",
                "{{instance}} {{result}}",
            )
        ],
        unit="ops",
        min_value=0,
        stack=True,
    )
    skipped = f"sum by (instance) (rate(pitwatch_probes_skipped_total{{{X}}}{RATE}))"
    run = f"sum by (instance) (rate(pitwatch_probes_total{{{X}}}{RATE}))"
    skips = timeseries(
        "Skipped probes",
        "Share of due probes not started because the previous probe of the same target was "
        "still running; the dashed line is PitwatchProbesSkipped's 1%.",
        [Query(f"{skipped} / ({run} + {skipped})", "{{instance}}")],
        unit="percentunit",
        min_value=0,
        steps=thresholds(("green", None), ("red", 0.01)),
        links=[runbook("PitwatchProbesSkipped")],
    )
    in_flight = timeseries(
        "Probes in flight",
        "Probes running at this moment, per exporter: close to `max_concurrency` means "
        "probes queue for a slot.",
        [Query(f"pitwatch_probes_in_flight{{{X}}}", "{{instance}}")],
        unit="short",
        min_value=0,
    )
    targets = timeseries(
        "Targets and series",
        "Targets each exporter probes (it changes at config reloads and with sharding), and "
        "the samples Prometheus took from it per scrape: the cost of pitwatch in your "
        "Prometheus.",
        [
            Query(f"pitwatch_targets{{{X}}}", "{{instance}} targets"),
            Query(f"scrape_samples_scraped{{{X}}}", "{{instance}} samples"),
        ],
        unit="short",
        min_value=0,
    )
    return [scrape, lag, probes, skips, in_flight, targets]


def _process() -> list[Json]:
    reloads = state_timeline(
        "Config reloads",
        "Result of each exporter's last config load or reload over time (SIGHUP or POST "
        "/-/reload); a rejected reload keeps the old config running.",
        [Query(f"pitwatch_config_last_reload_successful{{{X}}}", "{{instance}}")],
        unit="none",
        steps=good_from_one(),
        mappings=[value_map({0: ("REJECTED", "red"), 1: ("OK", "green")})],
        links=[runbook("PitwatchConfigReloadFailed")],
        size=(8, 8),
    )
    cpu = timeseries(
        "Process CPU",
        "CPU the exporter process uses (1 = one core busy). pitwatch runs probes on one "
        "event loop: near 1, probes start late.",
        [Query(f"rate(process_cpu_seconds_total{{{X}}}{RATE})", "{{instance}}")],
        unit="percentunit",
        min_value=0,
        links=[runbook("PitwatchSchedulerLagging"), link("Hosts", dashboard_url(HOSTS))],
        size=(8, 8),
    )
    memory = timeseries(
        "Process memory",
        "Resident memory of the exporter process.",
        [Query(f"process_resident_memory_bytes{{{X}}}", "{{instance}}")],
        unit="bytes",
        min_value=0,
        size=(8, 8),
    )
    return [reloads, cpu, memory]


def build() -> Json:
    return dashboard(
        SELF,
        "pitwatch / Exporter",
        "pitwatch itself: scrapes, scheduler lag, skipped probes, reloads, probes in flight, "
        "targets, and the process's CPU and memory.",
        variables=[job_variable(), instance_variable("pitwatch_build_info")],
        panels=[
            row("Now", *_now()),
            row("Work", *_work()),
            row("Process and config", *_process()),
        ],
    )
