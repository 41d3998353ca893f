"""Links from a report into the tools people already use: the Prometheus graph of a moment,
and, with ``--grafana-url``, the pitwatch dashboard panel of that moment.

The panel IDs are those of the shipped dashboards (``dashboards/*.json``, generated); a test
checks them against the files, so a regenerated dashboard cannot silently break the links.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

TARGET_DASHBOARD = "pitwatch-target/pitwatch-target"
OVERVIEW_DASHBOARD = "pitwatch-overview/pitwatch-overview"
PANELS = {
    "probe_results": 9,
    "success_ratio": 10,
    "latency": 11,
    "reasons": 13,
    "status_code": 15,
    "firing_alerts": 14,
}
"""Panel IDs in pitwatch-target (all but firing_alerts, which is in pitwatch-overview)."""
RUNBOOK_BASE = "https://github.com/pitwatch/pitwatch/blob/main/docs/runbooks/"
GRAPH_RANGE = 3600


def _moment(at: float) -> str:
    return datetime.fromtimestamp(int(at), UTC).strftime("%Y-%m-%d %H:%M:%S")


class Links:
    def __init__(
        self, prometheus_url: str, grafana_url: str | None, runbook_base: str = RUNBOOK_BASE
    ) -> None:
        self.prometheus_url = prometheus_url.rstrip("/")
        self.grafana_url = grafana_url.rstrip("/") if grafana_url else None
        self.runbook_base = runbook_base

    def graph(self, expr: str, at: float, seconds: int = GRAPH_RANGE) -> str:
        """The Prometheus graph of ``expr`` over ``seconds`` centred on ``at``."""
        params = {
            "g0.expr": expr,
            "g0.tab": "0",
            "g0.range_input": f"{max(60, seconds) // 60}m",
            "g0.end_input": _moment(at + seconds / 2),
            "g0.moment_input": _moment(at),
        }
        return f"{self.prometheus_url}/graph?{urlencode(params, quote_via=quote)}"

    def panel(
        self,
        panel: str,
        at: float,
        target: str | None = None,
        component: str | None = None,
        seconds: int = GRAPH_RANGE,
    ) -> str | None:
        if self.grafana_url is None:
            return None
        dashboard = OVERVIEW_DASHBOARD if panel == "firing_alerts" else TARGET_DASHBOARD
        params: list[tuple[str, str]] = []
        if component:
            params.append(("var-component", component))
        if target:
            params.append(("var-target", target))
        params += [
            ("from", str(int((at - seconds / 2) * 1000))),
            ("to", str(int((at + seconds / 2) * 1000))),
            ("viewPanel", str(PANELS[panel])),
        ]
        return f"{self.grafana_url}/d/{dashboard}?{urlencode(params, quote_via=quote)}"

    def runbook(self, alertname: str) -> str:
        return f"{self.runbook_base}{alertname}.md"

    def describe(self) -> dict[str, Any]:
        return {"prometheus": self.prometheus_url, "grafana": self.grafana_url}
