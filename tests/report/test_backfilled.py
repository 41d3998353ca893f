"""``pitwatch report --format json`` against a real Prometheus holding the planted platform
(tests/support/report_history.py). Every expected figure is worked out here from the plant:
probes every 30s (api-lobby every 15s) at multiples of the interval, a scrape at t sees the
probes at or before t, the period (2026-11-02 00:00, 2026-11-06 00:00] counts probes after its
start and up to its end.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import pytest

from tests.support.report_history import REPORT_FROM, REPORT_TO, HistoryPrometheus, run_report

PERIOD = 4 * 86400
GAP_30S = 10
"""Probes that never ran while the exporter was down (10:00:00 to 10:04:30 on day 3)."""
MAINTENANCE_PROBES = 240
"""Two hours of 30s probes, 02:00:00 to 03:59:30 on day 2."""


def per_30s() -> int:
    return PERIOD // 30 - GAP_30S


@pytest.fixture(scope="module")
def report(history: HistoryPrometheus) -> dict[str, Any]:
    done = run_report(
        "--prometheus", history.url, "--from", REPORT_FROM, "--to", REPORT_TO, "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def _target(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in report["targets"] if t["target"] == name)


def _ratio(success: int, probes: int) -> float:
    return round(float(Fraction(success, probes)), 4)


def test_probe_counts_leave_out_maintenance_and_survive_the_counter_reset(
    report: dict[str, Any],
) -> None:
    northpay = _target(report, "psp-northpay")
    # Old-style exporter: the 240 probes of the window are subtracted, and so are the 60
    # failures inside it (02:30 to 03:00).
    assert northpay["probes"] == per_30s() - MAINTENANCE_PROBES
    assert northpay["failed_probes"] == 40
    assert northpay["maintenance_probes"] == MAINTENANCE_PROBES
    assert northpay["maintenance_seconds"] == 7200
    assert round(northpay["availability"], 4) == _ratio(
        per_30s() - MAINTENANCE_PROBES - 40, per_30s() - MAINTENANCE_PROBES
    )
    budget = 1 - (Fraction(40, per_30s() - MAINTENANCE_PROBES) / Fraction(1, 1000))
    assert northpay["error_budget_remaining"] == pytest.approx(float(budget), abs=1e-4)
    assert northpay["reasons"] == {"connect": 40}

    # An exporter counting result="maintenance" itself: nothing to subtract, same figures.
    cardway = _target(report, "psp-cardway")
    assert (cardway["probes"], cardway["failed_probes"], cardway["availability"]) == (
        per_30s() - MAINTENANCE_PROBES,
        0,
        1.0,
    )
    assert (cardway["maintenance_probes"], cardway["maintenance_seconds"]) == (
        MAINTENANCE_PROBES,
        7200,
    )

    lobby = _target(report, "api-lobby")
    # Every 15s: the 20 probes of the gap, and the one at 09:59:45 that no scrape saw before
    # the exporter went.
    assert lobby["probes"] == PERIOD // 15 - 2 * GAP_30S - 1
    assert lobby["failed_probes"] == 12
    assert round(lobby["availability"], 4) == _ratio(lobby["probes"] - 12, lobby["probes"])
    assert lobby["reasons"] == {"http_status": 12}

    gp_a = _target(report, "gp-a")
    assert (gp_a["probes"], gp_a["failed_probes"]) == (per_30s(), 30)
    assert gp_a["reasons"] == {"connect": 20, "timeout": 10}
    # The incident before the period: only its failures after the start count (00:00:30 to
    # 00:09:30).
    assert _target(report, "kyc-veriff")["failed_probes"] == 19


def test_components_pool_their_targets_and_leave_out_canaries_and_logs(
    report: dict[str, Any],
) -> None:
    components = {c["component"]: c for c in report["components"]}
    assert "network" not in components  # only a canary there
    payments = components["payment_gateway"]
    assert (payments["targets"], payments["probes"], payments["failed_probes"]) == (
        2,
        2 * (per_30s() - MAINTENANCE_PROBES),
        40,
    )
    assert round(payments["availability"], 4) == _ratio(payments["probes"] - 40, payments["probes"])
    assert payments["objective"] == 0.999
    games = components["game_provider"]
    assert (games["probes"], games["failed_probes"]) == (3 * per_30s(), 60)
    assert components["api"]["targets"] == 1
    assert games["latency"]["targets_meeting_objective"] == 2
    assert games["latency"]["worst_target"] == "gp-c"
    assert games["latency"]["worst_seconds"] == 0.8
    assert _target(report, "gp-c")["latency"] == {
        "percentile": "95",
        "seconds": 0.8,
        "objective_seconds": 0.5,
        "met": False,
    }


def test_incidents_are_merged_identified_and_timed_from_the_probes(report: dict[str, Any]) -> None:
    incidents = {i["id"]: i for i in report["incidents"]}
    assert list(incidents) == [
        "20261101-2350-kyc",
        "20261102-1410-payment_gateway",
        "20261104-1000-monitor",
        "20261104-2000-game_provider",
        "20261105-0801-api",
    ]
    northpay = incidents["20261102-1410-payment_gateway"]
    assert northpay == {
        "id": "20261102-1410-payment_gateway",
        "severity": "high",
        "status": "resolved",
        "alerts": ["PitwatchTargetDown"],
        "targets": ["psp-northpay"],
        "components": ["payment_gateway"],
        "teams": ["payments"],
        "tiers": ["2"],
        "impact_started_at": "2026-11-02T14:10:00Z",
        "impact_source": "probes",
        "detected_at": "2026-11-02T14:10:30Z",
        "firing_at": "2026-11-02T14:11:30Z",
        "resolved_at": "2026-11-02T14:30:30Z",
        "time_to_detect_seconds": 30,
        "time_to_page_seconds": 90,
        "time_to_resolve_seconds": 1230,
        "failed_probes": 40,
        "reasons": {"connect": 40},
    }
    fleet = incidents["20261104-2000-game_provider"]
    assert fleet["severity"] == "critical"
    assert fleet["alerts"] == ["PitwatchGameProvidersDown", "PitwatchTargetDown"]
    assert fleet["targets"] == ["gp-a", "gp-b"]  # gp-c kept answering
    assert (
        fleet["impact_started_at"],
        fleet["detected_at"],
        fleet["firing_at"],
        fleet["resolved_at"],
    ) == (
        "2026-11-04T20:00:00Z",
        "2026-11-04T20:00:30Z",
        "2026-11-04T20:01:00Z",
        "2026-11-04T20:15:30Z",
    )
    assert fleet["reasons"] == {"timeout": 40, "connect": 20}
    # Its burn-rate alert paged after TargetDown had resolved: one incident, ended by it.
    api = incidents["20261105-0801-api"]
    assert api["alerts"] == ["PitwatchErrorBudgetBurn", "PitwatchTargetDown"]
    assert (
        api["time_to_detect_seconds"],
        api["time_to_page_seconds"],
        api["time_to_resolve_seconds"],
        api["resolved_at"],
    ) == (60, 120, 480, "2026-11-05T08:08:00Z")
    monitor = incidents["20261104-1000-monitor"]
    assert (monitor["impact_source"], monitor["targets"], monitor["time_to_resolve_seconds"]) == (
        "alert",
        [],
        330,
    )
    # Begun before the period: listed with its own start, counted in its own period.
    assert incidents["20261101-2350-kyc"]["detected_at"] == "2026-11-01T23:50:30Z"


def test_summary_counts_the_incidents_begun_in_the_period(report: dict[str, Any]) -> None:
    summary = report["summary"]
    assert summary["incidents"] == 4
    assert summary["incidents_by_severity"] == {"critical": 2, "high": 2, "medium": 0, "low": 0}
    assert summary["mttd_seconds"] == (30 + 0 + 30 + 60) // 4
    assert summary["mttr_seconds"] == (1230 + 330 + 930 + 480) // 4
    assert summary["mean_time_to_page_seconds"] == (90 + 150 + 60 + 120) // 4


def test_maintenance_traffic_host_certificates_backups_and_the_monitor(
    report: dict[str, Any],
) -> None:
    assert report["maintenance"] == [
        {
            "targets": ["psp-cardway", "psp-northpay"],
            "components": ["payment_gateway"],
            "start": "2026-11-03T02:00:00Z",
            "end": "2026-11-03T04:00:00Z",
            "seconds": 7200,
        }
    ]
    (logs,) = report["traffic"]
    assert (logs["target"], logs["requests"], logs["errors_5xx"]) == (
        "lobby-logs",
        per_30s() * 10 + 12,
        12,
    )
    host = report["host"]
    assert host["hosts"] == [
        {
            "instance": "127.0.0.1:9469",
            "cpu_peak_ratio": 0.7,
            "memory_peak_ratio": 0.625,
            "load15_per_cpu_peak": 0.5,
        }
    ]
    fullest = host["fullest_filesystem"]
    assert (fullest["mountpoint"], fullest["used_ratio"], fullest["days_until_full"]) == (
        "/var",
        0.66,
        34.0,
    )
    assert report["certificates"] == [
        {
            "target": "api-lobby",
            "component": "api",
            "expires_at": "2026-11-16T00:00:00Z",
            "days_left": 10.0,
        }
    ]
    (backup,) = report["backups"]
    assert (
        backup["age_seconds"],
        backup["max_age_seconds"],
        backup["oldest_age_seconds"],
        backup["fresh"],
    ) == (0, 93600, 86370, True)
    (instance,) = report["monitor"]["instances"]
    assert instance["restarts"] == 1
    assert instance["scrape_success_ratio"] == round(1 - 10 / (PERIOD // 30 + 1), 6)
    alerts = {(a["alertname"], a["severity"]): a for a in report["alerts"]}
    assert alerts[("PitwatchTargetSlow", "medium")]["firing_seconds"] == 2700


def test_previous_period_and_what_changed(report: dict[str, Any]) -> None:
    previous = report["previous"]
    assert (previous["from"], previous["to"]) == ("2026-10-29T00:00:00Z", "2026-11-02T00:00:00Z")
    assert previous["summary"]["incidents"] == 1  # kyc-veriff's, begun 2026-11-01 23:50
    assert report["changes"][0].startswith(
        f"Availability {report['summary']['availability'] * 100:.3f}%"
    )
    assert "4 incident(s), 1 the period before." in report["changes"]
