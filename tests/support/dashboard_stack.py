"""A live stack for the dashboard queries: ``pitwatch demo`` (the simulated platform and its
exporter) plus a companion ``pitwatch run`` for what a simulation cannot offer, both scraped
every second by a real Prometheus with the whole rule pack loaded.

The demo brings the API, wallet, eight game providers behind and beside an aggregator, three
payment gateways, KYC, a cache, a canary and the API's real access log; its aggregator is
switched off, so most providers are down and the fleet alert fires. The companion adds a TLS
endpoint (certificate expiry), DNS, ICMP, a real PostgreSQL primary and streaming replica,
processes, a backup file and a target in a maintenance window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from devtools.processes import wait_until
from devtools.prometheus import Prometheus, prometheus_config
from pitwatch.demo.config import PLATFORM_LABEL
from tests.support.dashboards import RULES
from tests.support.demo import DemoProcess
from tests.support.dns_server import DnsServer
from tests.support.fake_platform import FakePlatform
from tests.support.pg_cluster import DATABASE, PROBE_USER, PgCluster, running_cluster
from tests.support.services import Pitwatch

SCRAPE_INTERVAL = "1s"
PLATFORM = PLATFORM_LABEL  # the companion's series sit next to the demo's


def _target(
    name: str, component: str, tier: int, probe: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {"name": name, "component": component, "tier": tier, "team": "team-a", **probe, **extra}


def companion_config(
    workdir: Path, platform: FakePlatform, dns: DnsServer, pg: PgCluster
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

    targets = [
        _target(
            "edge-tls",
            "api",
            2,
            {
                "probe": "http",
                "url": platform.https_url(),
                "tls": {"ca_file": str(platform.ca_file)},
            },
        ),
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
        _target("kyc-docs", "kyc", 3, {"probe": "http", "url": platform.http_url("/ok")}),
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
    demo: DemoProcess
    companion: Pitwatch


@contextmanager
def running_stack(workdir: Path, platform: FakePlatform) -> Iterator[Stack]:
    with ExitStack() as stack:
        dns = stack.enter_context(DnsServer())
        pg = stack.enter_context(running_cluster())
        # The replica reports lag only once it replayed a transaction of the primary's.
        pg.psql("INSERT INTO withdrawals (status) VALUES ('paid')")
        config = workdir / "pitwatch.yml"
        config.write_text(yaml.safe_dump(companion_config(workdir, platform, dns, pg)))
        companion = stack.enter_context(Pitwatch(workdir / "pitwatch", config))
        demo = stack.enter_context(DemoProcess(workdir / "demo", interval="1s"))
        demo.set_fault("aggregator", "down")  # five of eight providers: the fleet alert fires
        scrape = [
            {
                "job_name": "pitwatch",
                "scrape_interval": SCRAPE_INTERVAL,
                "static_configs": [
                    {"targets": [f"127.0.0.1:{demo.port}", f"127.0.0.1:{companion.port}"]}
                ],
            }
        ]
        prometheus = stack.enter_context(
            Prometheus(
                workdir / "prometheus",
                prometheus_config(scrape, rule_files(workdir / "rules"), interval=SCRAPE_INTERVAL),
            )
        )
        yield Stack(prometheus, demo, companion)


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
