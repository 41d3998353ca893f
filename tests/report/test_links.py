"""The Grafana links of the reports point at panels the shipped dashboards have."""

from __future__ import annotations

import json

from devtools import REPO
from pitwatch.report.links import OVERVIEW_DASHBOARD, PANELS, TARGET_DASHBOARD

TITLES = {
    "probe_results": "Probe results and maintenance windows",
    "success_ratio": "Probe success ratio",
    "latency": "Latency percentiles",
    "reasons": "Failures by reason",
    "status_code": "HTTP status code",
    "firing_alerts": "Firing alerts",
}


def test_every_linked_panel_exists_with_its_title() -> None:
    for key, panel_id in PANELS.items():
        uid = (OVERVIEW_DASHBOARD if key == "firing_alerts" else TARGET_DASHBOARD).split("/")[0]
        dashboard = json.loads((REPO / "dashboards" / f"{uid}.json").read_text())
        assert dashboard["uid"] == uid
        titles = {p["id"]: p["title"] for p in dashboard["panels"]}
        assert titles.get(panel_id) == TITLES[key], (key, panel_id)
