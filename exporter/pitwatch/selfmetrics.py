"""The exporter's own health, through prometheus-client (a handful of series, cheap to render)."""

from __future__ import annotations

import platform

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from pitwatch import __version__

LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RENDER_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class SelfMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        registry = self.registry
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        self.build_info = Gauge(
            "pitwatch_build_info",
            "pitwatch version and the Python it runs on; value 1.",
            ["version", "python_version"],
            registry=registry,
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.reload_successful = Gauge(
            "pitwatch_config_last_reload_successful",
            "1 if the last config load or reload succeeded, 0 if it was rejected.",
            registry=registry,
        )
        self.reload_timestamp = Gauge(
            "pitwatch_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful config load or reload.",
            registry=registry,
        )
        self.targets = Gauge(
            "pitwatch_targets", "Targets this exporter probes (its shard).", registry=registry
        )
        self.in_flight = Gauge(
            "pitwatch_probes_in_flight", "Probes running right now.", registry=registry
        )
        self.lag = Histogram(
            "pitwatch_scheduler_lag_seconds",
            "How late probes started against their schedule (includes waiting for a "
            "concurrency slot), in seconds.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.render_seconds = Histogram(
            "pitwatch_exposition_duration_seconds",
            "Time to build the /metrics body (join and compression), in seconds.",
            buckets=RENDER_BUCKETS,
            registry=registry,
        )
        self.host_success = Gauge(
            "pitwatch_host_collection_success",
            "0 if the last collection of host metrics failed or hung, else 1 (also 1 when host "
            "metrics are switched off).",
            registry=registry,
        )
        self.host_success.set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
