"""A live stack for the dashboard queries: a real ``pitwatch run`` probing real servers on
127.0.0.1, and a real Prometheus scraping it every second with the whole rule pack loaded.

The config gives every panel something to show: every component kind the overview has a
tile for, http (plain, TLS, failing), tcp, flow, dns, icmp, postgres (a primary and a
streaming replica), process, a backup file, an access log that keeps growing, a target in
a maintenance window, and two failing game providers out of three, so that a fleet alert
fires and the alert panels have rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.dashboard_support import RULES
from tests.dns_server import DnsServer
from tests.fake_platform import FakePlatform
from tests.pg_cluster import DATABASE, PROBE_USER, PgCluster, running_cluster
from tests.services import Pitwatch, Prometheus, free_port, wait_until

SCRAPE_INTERVAL = "1s"
PLATFORM = "test-eu"
ACCESS_LINES = (
    ("GET /api/bets/7 HTTP/1.1", 200, "0.041"),
    ("POST /api/wallet/deposit HTTP/1.1", 200, "0.180"),
    ("GET /lobby HTTP/1.1", 200, "0.012"),
    ("GET /api/bets/8 HTTP/1.1", 503, "1.200"),
    ("GET /missing HTTP/1.1", 404, "0.003"),
)


class AccessLog:
    """A combined-format access log (with ``$request_time`` appended) that a thread keeps
    writing to, with some 5xx among the 2xx."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.touch()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write, daemon=True)

    def _write(self) -> None:
        index = 0
        while not self._stop.wait(0.05):
            request, status, seconds = ACCESS_LINES[index % len(ACCESS_LINES)]
            stamp = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
            line = (
                f'192.0.2.7 - - [{stamp}] "{request}" {status} 512 "-" "pitwatch-test" {seconds}\n'
            )
            with self.path.open("a") as log:
                log.write(line)
            index += 1

    def __enter__(self) -> AccessLog:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _target(
    name: str, component: str, tier: int, probe: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {"name": name, "component": component, "tier": tier, "team": "team-a", **probe, **extra}


def pitwatch_config(
    workdir: Path, platform: FakePlatform, dns: DnsServer, pg: PgCluster, log: Path
) -> dict[str, Any]:
    password = pg.password_file(workdir)
    backups = workdir / "backups"
    backups.mkdir()
    (backups / "wallet-2026-11-21.sql.gz").write_bytes(b"x" * 4096)
    now = datetime.now(UTC)
    window = {
        "start": (now - timedelta(hours=1)).isoformat(timespec="seconds"),
        "end": (now + timedelta(hours=2)).isoformat(timespec="seconds"),
        "reason": "provider upgrade",
    }

    def postgres(port: int) -> dict[str, Any]:
        return {
            "probe": "postgres",
            "host": "127.0.0.1",
            "port": port,
            "user": PROBE_USER,
            "database": DATABASE,
            "password_file": str(password),
            "sslmode": "disable",
            "checks": [
                {
                    "name": "stuck_withdrawals",
                    "query": "SELECT count(*) FROM withdrawals WHERE status = 'pending'",
                    "expect": "== 0",
                }
            ],
        }

    http = {"probe": "http", "url": platform.http_url("/ok")}
    targets = [
        _target("core-api", "api", 1, http),
        _target(
            "wallet-api",
            "api",
            1,
            {
                "probe": "http",
                "url": platform.https_url(),
                "tls": {"ca_file": str(platform.ca_file)},
            },
        ),
        _target(
            "core-api-access",
            "api",
            1,
            {
                "probe": "logs",
                "path": str(log),
                "duration_field": 1,
                "routes": [
                    {"pattern": "^/api/bets", "route": "bets"},
                    {"pattern": "^/api/wallet", "route": "wallet"},
                ],
                "duration_buckets": [0.01, 0.05, 0.1, 0.5, 1, 2.5],
            },
        ),
        _target(
            "evolution",
            "game_provider",
            2,
            {"probe": "http", "url": platform.http_url("/slow?ms=30")},
        ),
        _target(
            "pragmatic",
            "game_provider",
            2,
            {"probe": "http", "url": platform.http_url("/status/500")},
        ),
        # Nothing listens there: refused at every probe.
        _target(
            "netent", "game_provider", 2, {"probe": "tcp", "address": f"127.0.0.1:{free_port()}"}
        ),
        _target(
            "psp-checkout",
            "payment_gateway",
            1,
            {
                "probe": "flow",
                "steps": [
                    {"name": "token", "url": platform.http_url("/ok")},
                    {"name": "authorise", "url": platform.http_url("/headers")},
                ],
            },
        ),
        _target(
            "kyc-banner",
            "kyc",
            2,
            {"probe": "tcp", "address": platform.address("banner"), "expect": "^220"},
        ),
        _target("kyc-docs", "kyc", 3, http),
        _target(
            "lobby-dns",
            "network",
            1,
            {
                "probe": "dns",
                "server": dns.address,
                "query_name": "lobby.pitwatch.test",
                "transport": "tcp",
            },
        ),
        _target(
            "loopback-ping", "network", 3, {"probe": "icmp", "host": "127.0.0.1", "packets": 2}
        ),
        _target("wallet-db", "database", 1, postgres(pg.primary.port)),
        _target("wallet-db-replica", "database", 2, postgres(pg.replica.port)),
        _target("postgres-processes", "host", 3, {"probe": "process", "process_name": "postgres"}),
        _target(
            "wallet-backup",
            "backup",
            2,
            {
                "probe": "file",
                "path": str(backups / "*.sql.gz"),
                "max_age": "1d",
                "min_size": "1KiB",
            },
        ),
    ]
    return {
        "global": {"interval": "2s", "timeout": "1500ms", "labels": {"platform": PLATFORM}},
        "host": {"enabled": True, "include_fstypes": ["overlay"]},
        "maintenance": [{"targets": ["kyc-docs"], "windows": [window]}],
        "targets": targets,
    }


def rule_files(directory: Path) -> list[Path]:
    """The rule pack as shipped, except that every group is evaluated at Prometheus' own
    interval: the 30-day groups run every 3m in production, and their first evaluation may
    come up to 3m after start, longer than a test should wait. The expressions are as shipped."""
    directory.mkdir()
    copies = []
    for path in sorted(RULES.glob("*.yml")):
        rules = yaml.safe_load(path.read_text())
        for group in rules["groups"]:
            group.pop("interval", None)
        copy = directory / path.name
        copy.write_text(yaml.safe_dump(rules, sort_keys=False))
        copies.append(copy)
    return copies


@dataclass
class Stack:
    prometheus: Prometheus
    pitwatch: Pitwatch


@contextmanager
def running_stack(workdir: Path, platform: FakePlatform) -> Iterator[Stack]:
    with ExitStack() as stack:
        dns = stack.enter_context(DnsServer())
        pg = stack.enter_context(running_cluster())
        # The replica reports lag only once it replayed a transaction of the primary's.
        pg.psql("INSERT INTO withdrawals (status) VALUES ('paid')")
        log = stack.enter_context(AccessLog(workdir / "access.log")).path
        config = workdir / "pitwatch.yml"
        config.write_text(yaml.safe_dump(pitwatch_config(workdir, platform, dns, pg, log)))
        pitwatch = stack.enter_context(Pitwatch(workdir / "pitwatch", config))
        scrape = [
            {
                "job_name": "pitwatch",
                "scrape_interval": SCRAPE_INTERVAL,
                "static_configs": [{"targets": [f"127.0.0.1:{pitwatch.port}"]}],
            }
        ]
        prometheus = stack.enter_context(
            Prometheus(
                workdir / "prometheus",
                scrape,
                rule_files(workdir / "rules"),
                interval=SCRAPE_INTERVAL,
            )
        )
        yield Stack(prometheus, pitwatch)


def _exists(prometheus: Prometheus, expr: str) -> Callable[[], bool]:
    return lambda: bool(prometheus.query(expr))


def warm(prometheus: Prometheus) -> None:
    """Wait (bounded) until the slowest things the dashboards show exist: the 30-day
    recordings, log-latency percentiles, and a fleet alert past its 30s `for:`."""
    for what in (
        "target:pitwatch_probe_error_budget_remaining:ratio30d",
        "component:pitwatch_probe_successes_per_probes:ratio_rate30d",
        "target_percentile:pitwatch_logs_request_duration_seconds:histogram_quantile5m",
        "pitwatch_postgres_replication_lag_seconds",
        'ALERTS{alertname="PitwatchGameProvidersDown", alertstate="firing"}',
    ):
        wait_until(_exists(prometheus, what), 120, what, interval=1)
    time.sleep(2)
