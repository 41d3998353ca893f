"""The planted platform the report tests read: six days of history (2026-10-31 to
2026-11-06, scraped and evaluated every 30s) with incidents, maintenance, an exporter restart
(a counter reset and a scrape gap) and the alerts the rule pack would have recorded. The report
tests state the figures this implies by hand (see tests/report/test_backfilled.py).

:func:`history_prometheus` turns it into TSDB blocks once per test session (shared between
xdist workers through a lock), and starts a Prometheus on a private copy of them.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Self

from devtools.processes import binary
from devtools.prometheus import Prometheus, prometheus_config
from tests.support.history import (
    INSTANCE,
    JOB,
    Alert,
    ExporterDown,
    History,
    LogTraffic,
    Maintenance,
    Outage,
    Target,
    write_tsdb,
)

DAY = 86400
HOUR = 3600
T = 1793577600
"""2026-11-02T00:00:00Z: the start of the reported period."""
REPORT_FROM, REPORT_TO = "2026-11-02T00:00:00Z", "2026-11-06T00:00:00Z"


def _target_labels(name: str, component: str, tier: int, team: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            {
                "component": component,
                "instance": INSTANCE,
                "job": JOB,
                "platform": "hist",
                "target": name,
                "team": team,
                "tier": str(tier),
            }.items()
        )
    )


def _down(  # noqa: PLR0917 - a table of alerts reads best positionally
    name: str,
    component: str,
    tier: int,
    team: str,
    severity: str,
    pending: int,
    firing: int,
    resolved: int | None,
) -> Alert:
    return Alert(
        "PitwatchTargetDown",
        severity,
        _target_labels(name, component, tier, team),
        pending,
        firing,
        resolved,
    )


TARGETS = (
    Target("psp-northpay", "payment_gateway", tier=2, team="payments"),
    Target("psp-cardway", "payment_gateway", tier=2, team="payments", counts_maintenance=True),
    Target("gp-a", "game_provider", team="integrations"),
    Target("gp-b", "game_provider", team="integrations"),
    Target("gp-c", "game_provider", team="integrations", latency=0.8),
    Target("api-lobby", "api", tier=1, team="backend", interval=15, cert_expiry=T + 14 * DAY),
    Target("kyc-veriff", "kyc", tier=2, team="compliance"),
    Target("canary-edge", "network", tier=3, team="platform", canary=True),
    Target("lobby-logs", "api", tier=2, team="backend", probe="logs"),
    Target("backup-db", "backup", tier=1, team="dba", probe="file"),
)

HISTORY = History(
    start=T - 2 * DAY,
    end=T + 4 * DAY,
    targets=TARGETS,
    outages=(
        # Before the period: an incident that runs into it.
        Outage(("kyc-veriff",), T - 600, T + 600, "connect"),
        # Day 1: a payment gateway refuses connections for 20 minutes.
        Outage(("psp-northpay",), T + 14 * HOUR + 600, T + 14 * HOUR + 1800, "connect"),
        # Day 2: both gateways fail inside their maintenance window (left out).
        Outage(
            ("psp-northpay", "psp-cardway"),
            T + DAY + 2 * HOUR + 1800,
            T + DAY + 3 * HOUR,
            "http_status",
            503,
        ),
        # Day 3: two of three game providers drop; gp-a's reason changes after 5 minutes.
        Outage(("gp-a",), T + 2 * DAY + 20 * HOUR, T + 2 * DAY + 20 * HOUR + 300, "timeout"),
        Outage(("gp-a",), T + 2 * DAY + 20 * HOUR + 300, T + 2 * DAY + 20 * HOUR + 900, "connect"),
        Outage(("gp-b",), T + 2 * DAY + 20 * HOUR, T + 2 * DAY + 20 * HOUR + 900, "timeout"),
        # Day 4: the tier-1 API answers 500 for 3 minutes.
        Outage(
            ("api-lobby",), T + 3 * DAY + 8 * HOUR, T + 3 * DAY + 8 * HOUR + 180, "http_status", 500
        ),
    ),
    maintenance=(
        Maintenance(("psp-northpay", "psp-cardway"), T + DAY + 2 * HOUR, T + DAY + 4 * HOUR),
    ),
    # Day 3, 10:00: the exporter is gone for 5 minutes and comes back with fresh counters.
    exporter_down=(ExporterDown(T + 2 * DAY + 10 * HOUR, T + 2 * DAY + 10 * HOUR + 300),),
    traffic=(
        LogTraffic(
            "lobby-logs", 10, 0, ((T + 3 * DAY + 8 * HOUR, T + 3 * DAY + 8 * HOUR + 180, 2),)
        ),
    ),
    backups={"backup-db": (DAY, 26 * HOUR)},
    alerts=(
        _down("kyc-veriff", "kyc", 2, "compliance", "high", T - 570, T - 510, T + 630),
        _down(
            "psp-northpay",
            "payment_gateway",
            2,
            "payments",
            "high",
            T + 14 * HOUR + 630,
            T + 14 * HOUR + 690,
            T + 14 * HOUR + 1830,
        ),
        Alert(
            "PitwatchGameProvidersDown",
            "critical",
            (("component", "game_provider"), ("platform", "hist"), ("team", "integrations")),
            T + 2 * DAY + 20 * HOUR + 30,
            T + 2 * DAY + 20 * HOUR + 60,
            T + 2 * DAY + 20 * HOUR + 930,
        ),
        _down(
            "gp-a",
            "game_provider",
            2,
            "integrations",
            "high",
            T + 2 * DAY + 20 * HOUR + 30,
            T + 2 * DAY + 20 * HOUR + 90,
            T + 2 * DAY + 20 * HOUR + 930,
        ),
        _down(
            "gp-b",
            "game_provider",
            2,
            "integrations",
            "high",
            T + 2 * DAY + 20 * HOUR + 30,
            T + 2 * DAY + 20 * HOUR + 90,
            T + 2 * DAY + 20 * HOUR + 930,
        ),
        Alert(
            "PitwatchExporterDown",
            "high",
            (("instance", INSTANCE), ("job", JOB), ("team", "platform")),
            T + 2 * DAY + 10 * HOUR + 30,
            T + 2 * DAY + 10 * HOUR + 180,
            T + 2 * DAY + 10 * HOUR + 360,
        ),
        _down(
            "api-lobby",
            "api",
            1,
            "backend",
            "critical",
            T + 3 * DAY + 8 * HOUR + 60,
            T + 3 * DAY + 8 * HOUR + 120,
            T + 3 * DAY + 8 * HOUR + 210,
        ),
        # ... and its 1h/5m burn-rate alert, pending during those 3 minutes, pages 2 minutes
        # after TargetDown resolved (its 5m window still holds the failures): the same incident.
        Alert(
            "PitwatchErrorBudgetBurn",
            "high",
            (*_target_labels("api-lobby", "api", 1, "backend"), ("long", "1h"), ("short", "5m")),
            T + 3 * DAY + 8 * HOUR + 90,
            T + 3 * DAY + 8 * HOUR + 330,
            T + 3 * DAY + 8 * HOUR + 480,
        ),
        # Not incidents: a medium alert, and a high one that never left pending.
        Alert(
            "PitwatchTargetSlow",
            "medium",
            (*_target_labels("gp-c", "game_provider", 2, "integrations"), ("percentile", "95")),
            T + DAY + 12 * HOUR,
            T + DAY + 12 * HOUR + 900,
            T + DAY + 13 * HOUR,
        ),
        Alert(
            "PitwatchErrorBudgetBurn",
            "high",
            _target_labels("psp-northpay", "payment_gateway", 2, "payments"),
            T + DAY + 10 * HOUR,
            None,
            T + DAY + 10 * HOUR + 60,
        ),
    ),
)

WITHOUT_RULES = History(
    start=T - DAY,
    end=T + DAY,
    targets=(Target("psp-northpay", "payment_gateway"),),
    watchdog=False,
    host=False,
)


class HistoryPrometheus(Prometheus):
    """A Prometheus serving backfilled blocks (no scraping, long retention)."""

    def __init__(self, workdir: Path, blocks: Path, *flags: str) -> None:
        super().__init__(workdir, prometheus_config(scrape_configs=[]))
        shutil.copytree(blocks, workdir / "data")
        self.flags = flags

    def command(self) -> list[str]:
        return [*super().command(), "--storage.tsdb.retention.time=3650d", *self.flags]

    def ready_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/-/ready"

    scheme = "http"

    def __enter__(self) -> Self:
        return self.start(timeout=60)

    def start_secured(self, ca_file: Path, user: str, password: str) -> Self:
        """Start behind TLS and basic auth: ready once it answers those credentials."""
        import base64
        import ssl
        import subprocess
        import urllib.request

        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        log.close()
        context = ssl.create_default_context(cafile=str(ca_file))
        login = base64.b64encode(f"{user}:{password}".encode()).decode()

        def up() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited early:\n{self.log()}")
            request = urllib.request.Request(
                self.ready_url(), headers={"Authorization": f"Basic {login}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=1, context=context) as answer:
                    return bool(answer.status == 200)
            except OSError:
                return False

        from devtools.processes import wait_until

        wait_until(up, 60, "the secured Prometheus")
        return self


def built_blocks(shared: Path, name: str, history: History) -> Path:
    """The TSDB blocks of ``history``, built once under ``shared`` whatever the number of
    xdist workers asking at once."""
    binary("promtool", "prometheus")
    shared.mkdir(parents=True, exist_ok=True)
    # Named after what they hold: a run without xdist shares pytest's temp root with earlier
    # runs, whose blocks may come from an older plan.
    name = f"{name}-{hashlib.sha256(repr(history).encode()).hexdigest()[:12]}"
    done = shared / f"{name}.done"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            target = shared / name
            shutil.rmtree(target, ignore_errors=True)
            write_tsdb(history, target)
            done.write_text("ok")
    return shared / name


def run_report(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``pitwatch report`` as a user runs it: a process, its exit code, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "pitwatch", "report", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
