"""``pitwatch report incident ID`` against the planted platform: the fleet outage of day 3
(two game providers; gp-a's failures change from timeout to connect after 5 minutes)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.report_history import HistoryPrometheus, run_report

FLEET = "20261104-2000-game_provider"


@pytest.fixture(scope="module")
def incident(history: HistoryPrometheus) -> dict[str, Any]:
    done = run_report(
        "incident",
        FLEET,
        "--prometheus",
        history.url,
        "--format",
        "json",
        "--grafana-url",
        "https://grafana.example.com",
    )
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def test_impact_and_detection(incident: dict[str, Any]) -> None:
    assert incident["incident"]["id"] == FLEET
    assert incident["incident"]["severity"] == "critical"
    assert incident["title"].startswith(f"Critical incident {FLEET}")
    rows = {r["target"]: r for r in incident["impact"]["targets"]}
    assert sorted(rows) == ["gp-a", "gp-b"]
    assert (rows["gp-a"]["down_seconds"], rows["gp-a"]["failed_probes"]) == (900, 30)
    # 30 failed of a 30-day budget of 0.1% of 86,400 probes.
    assert rows["gp-b"]["error_budget_consumed_30d"] == pytest.approx(30 / 86.4, abs=2e-3)
    assert rows["gp-b"]["http_statuses"] == {"0": 30, "200": 2}
    assert incident["detection"] == {
        "impact_started_at": "2026-11-04T20:00:00Z",
        "impact_source": "probes",
        "pending_at": "2026-11-04T20:00:30Z",
        "firing_at": "2026-11-04T20:01:00Z",
        "paged_at": "2026-11-04T20:01:00Z",
        "paged_note": incident["detection"]["paged_note"],
        "resolved_at": "2026-11-04T20:15:30Z",
        "time_to_detect_seconds": 30,
        "time_to_page_seconds": 60,
        "time_to_resolve_seconds": 930,
    }
    assert incident["runbooks"] == {
        "PitwatchGameProvidersDown": "https://github.com/pitwatch/pitwatch/blob/main/docs/runbooks/PitwatchGameProvidersDown.md",
        "PitwatchTargetDown": "https://github.com/pitwatch/pitwatch/blob/main/docs/runbooks/PitwatchTargetDown.md",
    }


def test_timeline_starts_before_the_impact_and_has_a_row_per_change(
    incident: dict[str, Any],
) -> None:
    rows = [(r["at"][11:19], r["kind"], r["target"], r["text"]) for r in incident["timeline"]]
    assert rows[0][:2] == ("19:50:00", "context")
    assert "gp-a, gp-b answering" in rows[0][3]
    events = [(at, kind, target) for at, kind, target, _ in rows[1:]]
    assert events == [
        ("20:00:00", "impact", "gp-a"),
        ("20:00:00", "impact", "gp-b"),
        ("20:00:30", "pending", None),
        ("20:00:30", "pending", "gp-a"),
        ("20:00:30", "pending", "gp-b"),
        ("20:01:00", "firing", None),
        ("20:01:30", "firing", "gp-a"),
        ("20:01:30", "firing", "gp-b"),
        ("20:05:00", "reason", "gp-a"),
        ("20:15:00", "recovery", "gp-a"),
        ("20:15:00", "recovery", "gp-b"),
        ("20:15:30", "resolved", None),
        ("20:15:30", "resolved", "gp-a"),
        ("20:15:30", "resolved", "gp-b"),
    ]
    texts = {(at, target): text for at, _, target, text in rows}
    assert texts[("20:00:00", "gp-a")] == "gp-a: probes fail (timeout)"
    assert texts[("20:05:00", "gp-a")] == "gp-a: failures now connect"


def test_every_row_links_to_its_moment(incident: dict[str, Any]) -> None:
    for row in incident["timeline"]:
        graph = urlsplit(row["prometheus_url"])
        params = parse_qs(graph.query)
        assert graph.path == "/graph"
        assert params["g0.moment_input"] == [row["at"].replace("T", " ").rstrip("Z")]
        assert params["g0.expr"][0]
        grafana = urlsplit(row["grafana_url"])
        assert grafana.netloc == "grafana.example.com"
        panel = parse_qs(grafana.query)
        assert panel["viewPanel"][0].isdigit()
        middle = (int(panel["from"][0]) + int(panel["to"][0])) // 2
        assert row["at"] == __import__("pitwatch.report.period", fromlist=["iso"]).iso(
            middle / 1000
        )
    firing = next(
        r for r in incident["timeline"] if r["kind"] == "firing" and r["target"] == "gp-a"
    )
    assert (
        'alertname="PitwatchTargetDown"'
        in parse_qs(urlsplit(firing["prometheus_url"]).query)["g0.expr"][0]
    )


def test_the_same_history_gives_the_same_ids(history: HistoryPrometheus) -> None:
    ids = []
    for start in ("2026-11-01T00:00:00Z", "2026-11-04T19:00:00Z"):
        done = run_report(
            "--prometheus",
            history.url,
            "--from",
            start,
            "--to",
            "2026-11-05T00:00:00Z",
            "--format",
            "json",
        )
        assert done.returncode == 0, done.stderr
        ids.append(
            [
                i["id"]
                for i in json.loads(done.stdout)["incidents"]
                if i["id"].startswith("20261104-20")
            ]
        )
    assert ids == [[FLEET], [FLEET]]
