"""Selectors and expressions of the report, in one place: what the figures read is visible
without hunting through the code. Everything reads the raw series the exporter exposes
(counters with ``increase``, gauges with ``*_over_time``) and Prometheus's ``ALERTS`` /
``ALERTS_FOR_STATE``; no recording rule of the pack is required (CONTRACT.md lists the
ones read when present)."""

from __future__ import annotations

import re
from collections.abc import Iterable

DEFAULT_JOB = "pitwatch.*"
PAGING = ("critical", "high")
SEVERITIES = ("critical", "high", "medium", "low")
ALERT_PREFIX = "Pitwatch"
FLEET_ALERTS_WITHOUT_COMPONENT = frozenset({"PitwatchEgressDown"})
"""Fleet alerts that name no component: they cover every component of their platform."""
MONITOR = "monitor"
"""The pseudo-component of alerts about pitwatch itself (ExporterDown, ...)."""


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def regex_of(values: Iterable[str]) -> str:
    """A regex matching exactly these label values."""
    return "|".join(re.escape(v) for v in sorted(set(values)))


class Queries:
    """The expressions for one pitwatch job selector."""

    def __init__(self, job: str = DEFAULT_JOB) -> None:
        self.job = job

    def sel(self, metric: str, **matchers: str) -> str:
        """``metric{job=~"JOB", k="v", k2=~"re"}``: a value starting ``~`` is a regex, one
        starting ``!~`` a regex that must not match."""
        parts = [f"job=~{quote(self.job)}"]
        for key, value in matchers.items():
            if value.startswith("!~"):
                parts.append(f"{key}!~{quote(value[2:])}")
            elif value.startswith("~"):
                parts.append(f"{key}=~{quote(value[1:])}")
            else:
                parts.append(f"{key}={quote(value)}")
        return f"{metric}{{{', '.join(parts)}}}"

    # -- probes ---------------------------------------------------------------------------

    def probes(self, window: int, **matchers: str) -> str:
        """Probes by target and result over ``window`` seconds ending at the query time."""
        return (
            "sum by (target, result) "
            f"(increase({self.sel('pitwatch_probes_total', **matchers)}[{window}s]))"
        )

    def errors(self, window: int, **matchers: str) -> str:
        return (
            "sum by (target, reason) "
            f"(increase({self.sel('pitwatch_probe_errors_total', **matchers)}[{window}s]))"
        )

    def latency_sum_count(self, window: int) -> str:
        gauge = self.sel("pitwatch_probe_duration_seconds")
        total = f"sum by (target) (sum_over_time({gauge}[{window}s]))"
        count = f"sum by (target) (count_over_time({gauge}[{window}s]))"
        return (
            f'label_replace({total}, "stat", "sum", "", "") '
            f'or label_replace({count}, "stat", "count", "", "")'
        )

    def latency_quantile(self, quantile: float, window: int, targets: str) -> str:
        gauge = self.sel("pitwatch_probe_duration_seconds", target=f"~{targets}")
        return f"max by (target) (quantile_over_time({quantile:g}, {gauge}[{window}s]))"

    def maintenance_seen(self, window: int) -> str:
        gauge = self.sel("pitwatch_target_maintenance")
        return f"max by (target) (max_over_time({gauge}[{window}s])) > 0"

    def maintenance_state(self, targets: str) -> str:
        return f"max by (target) ({self.sel('pitwatch_target_maintenance', target=f'~{targets}')})"

    def traffic(self, window: int) -> str:
        counter = self.sel("pitwatch_logs_requests_total")
        return f"sum by (target, status_class) (increase({counter}[{window}s]))"

    def last_value(self, metric: str, by: str = "target", window: int = 3600) -> str:
        return f"max by ({by}) (last_over_time({self.sel(metric)}[{window}s]))"

    def samples_per_hour(self) -> str:
        return f"quantile(0.5, count_over_time({self.sel('pitwatch_probe_success')}[1h]))"

    # -- alerts ---------------------------------------------------------------------------

    @staticmethod
    def alerts(window: int, severities: Iterable[str] = PAGING) -> str:
        return (
            f'ALERTS{{alertname=~"{ALERT_PREFIX}.+", severity=~"{"|".join(severities)}"}}'
            f"[{window}s]"
        )

    @staticmethod
    def alerts_for_state(window: int, severities: Iterable[str] = PAGING) -> str:
        return (
            f'ALERTS_FOR_STATE{{alertname=~"{ALERT_PREFIX}.+", '
            f'severity=~"{"|".join(severities)}"}}[{window}s]'
        )

    @staticmethod
    def firing_seconds(window: int) -> str:
        """Samples of every firing pitwatch alert by name and severity (x eval interval)."""
        return (
            "sum by (alertname, severity) (count_over_time("
            f'ALERTS{{alertname=~"{ALERT_PREFIX}.+", alertstate="firing"}}[{window}s]))'
        )

    @staticmethod
    def firing_series(window: int) -> str:
        return (
            "count by (alertname, severity) (count_over_time("
            f'ALERTS{{alertname=~"{ALERT_PREFIX}.+", alertstate="firing"}}[{window}s]))'
        )
