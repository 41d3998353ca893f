"""deploy/examples/platform.yml, the whole-platform example, run for real against local
stand-ins: every URL, address, server and path rewritten to something on 127.0.0.1 that
answers the way the real component would."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from devtools import REPO
from devtools.processes import wait_until
from tests.support.dns_server import DnsServer
from tests.support.fake_platform import FakePlatform, ServerThread
from tests.support.pg_cluster import DATABASE, PROBE_USER, PgCluster
from tests.support.services import Pitwatch, promtool_check_metrics, run_tool

EXAMPLE = REPO / "deploy" / "examples" / "platform.yml"
ACCESS_LOG = (
    '10.1.2.3 - - [21/Nov/2026:10:00:00 +0000] "GET /v2/bets/42 HTTP/1.1" 200 512 "-" "app/1.0" 0.031\n'
    '10.1.2.4 - - [21/Nov/2026:10:00:01 +0000] "POST /v2/wallet/withdraw HTTP/1.1" 503 64 "-" "app/1.0" 1.200\n'
)

# What each real host answers on its health path, as far as the example's assertions look.
ANSWERS: dict[str, tuple[int, Any]] = {
    "api.royalspin.example/v2/health": (
        200,
        {"status": "ok", "maintenance": False, "dependencies": {"redis": "up"}},
    ),
    "wallet.royalspin.example/health": (200, {"status": "UP", "ledger": {"lag_ms": 12}}),
    "api.evolution.example/health": (200, {"status": "UP", "tables": {"open": list(range(40))}}),
    "games.netent.example/api/health": (200, {"status": "UP"}),
    "status.playngo.example/health": (200, {"healthy": True}),
    "rgs.relax.example/health": (200, {"status": "UP"}),
    "api.hub88.example/operator/providers/pragmatic/status": (200, {"status": "active"}),
    "api.hub88.example/operator/providers/hacksaw/status": (200, {"status": "active"}),
    "api.royalspin.example/v2/players/session": (200, {"access_token": "stand-in-token"}),
    "checkout-test.adyen.example/v71/payments": (
        402,
        {"result": "declined", "refusalReason": "Refused"},
    ),
    "api.skrill.example/v1/health": (200, {"ok": True}),
    "api.onfido.example/v3.6/ping": (200, {"status": "ok"}),
    "www.cloudflare.example/cdn-cgi/trace": (200, "fl=1 h=www.cloudflare.example"),
}


def _stand_in_app(base: list[str]) -> web.Application:
    """Answers ``/<real host>/<path>`` as that host would."""

    async def answer(request: web.Request) -> web.Response:
        key = request.match_info["rest"]
        if key.endswith("/launch"):
            return web.json_response({"launch_url": f"{base[0]}/lobby.evolution.example/lobby"})
        if key == "lobby.evolution.example/lobby":
            return web.Response(
                text='<html><div id="lobby">tables</div></html>', content_type="text/html"
            )
        if key not in ANSWERS:
            return web.Response(status=404, text=f"no stand-in for {key}")
        status, body = ANSWERS[key]
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_route("*", "/{rest:.*}", answer)
    return app


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, DnsServer]]:
    base: list[str] = []
    with ServerThread(_stand_in_app(base)) as http, DnsServer() as dns_server:
        base.append(f"http://127.0.0.1:{http.port}")
        yield http, dns_server


def local_config(
    example: dict[str, Any],
    directory: Path,
    *,
    http: ServerThread,
    dns_server: DnsServer,
    platform: FakePlatform,
    pg: PgCluster,
) -> dict[str, Any]:
    """The example with every outside address replaced by a stand-in on 127.0.0.1."""
    config: dict[str, Any] = json.loads(json.dumps(example))  # a deep copy, anchors resolved
    config["global"]["interval"] = "2s"
    config["global"]["timeout"] = "1500ms"
    config["maintenance"] = []

    def local_url(url: str) -> str:
        parts = urlsplit(url)
        if "{{" in url:
            return url
        return f"http://127.0.0.1:{http.port}/{parts.hostname}{parts.path}"

    backups = directory / "backups"
    backups.mkdir()
    dump = backups / "wallet-2026-11-21.dump"
    with dump.open("wb") as handle:  # sparse: the size the check wants, no disk used
        handle.truncate(2**30 + 1)
    log = directory / "api.access.log"
    log.write_text("")
    password_file = pg.password_file(directory / "secrets")
    for target in config["targets"]:
        target.pop("interval", None)
        target.pop("timeout", None)
        probe = target["probe"]
        if probe == "http":
            target["url"] = local_url(target["url"])
        elif probe == "flow":
            for step in target["steps"]:
                step["url"] = local_url(step["url"])
                step.pop("timeout_share", None)
        elif probe == "tcp":
            target["address"] = platform.address("banner_tls")
            target["tls_config"] = {
                "ca_file": str(platform.ca_file),
                "server_name": "lobby.example.com",
            }
        elif probe == "postgres":
            server = pg.replica if "replica" in target["name"] else pg.primary
            target.update(host="127.0.0.1", port=server.port, user=PROBE_USER, database=DATABASE)
            target["password_file"] = str(password_file)
            target.pop("sslmode", None)
            target.pop("connect_timeout", None)
        elif probe == "dns":
            target["server"] = dns_server.address
            target["query_name"] = "lobby.pitwatch.test"
        elif probe == "icmp":
            target["host"] = "127.0.0.1"
        elif probe == "file":
            target["path"] = str(backups / "wallet-*.dump")
        elif probe == "logs":
            target["path"] = str(log)
            target["start_at"] = "beginning"
        elif probe == "process":
            # the test runner itself: pitwatch leaves its own process out of its matches
            target.pop("process_name")
            target["cmdline"] = "pytest"
            target["min_count"] = 1
    return config


def test_example_passes_check_config() -> None:
    result = run_tool(".venv/bin/pitwatch", "check-config", str(EXAMPLE))
    assert result.stdout == f"{EXAMPLE}: OK, 21 targets\n"


def test_example_covers_a_whole_platform() -> None:
    targets = yaml.safe_load(EXAMPLE.read_text())["targets"]
    by_component: dict[str, int] = {}
    for target in targets:
        by_component[target["component"]] = by_component.get(target["component"], 0) + 1
    kinds = {target["probe"] for target in targets}
    assert by_component["game_provider"] >= 6 and by_component["payment_gateway"] >= 3
    assert {"api", "database", "kyc", "network", "backup", "host"} <= set(by_component)
    assert kinds == {"http", "flow", "tcp", "postgres", "dns", "icmp", "file", "logs", "process"}
    assert any(target.get("canary") for target in targets)


def test_example_runs_against_stand_ins(
    stand_ins: tuple[ServerThread, DnsServer],
    platform: FakePlatform,
    pg: PgCluster,
    tmp_path: Path,
) -> None:
    http, dns_server = stand_ins
    shutil.copytree(EXAMPLE.parent / "secrets", tmp_path / "secrets")
    config = local_config(
        yaml.safe_load(EXAMPLE.read_text()),
        tmp_path,
        http=http,
        dns_server=dns_server,
        platform=platform,
        pg=pg,
    )
    path = tmp_path / "platform.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    names = [target["name"] for target in config["targets"]]
    with Pitwatch(tmp_path / "run", path) as pitwatch:
        wait_until(
            lambda: all(f'target="{name}"' in _successes(pitwatch) for name in names),
            40,
            "every target probed",
        )
        (tmp_path / "api.access.log").write_text(ACCESS_LOG)
        time.sleep(4.5)  # two more rounds: counters, histograms and the log's lines move
        text = pitwatch.metrics()
        page = pitwatch.log()
    assert promtool_check_metrics(text) == ""
    success = {
        sample.labels["target"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "pitwatch_probe_success"
    }
    failing = sorted(name for name, value in success.items() if value != 1)
    assert failing == [], f"failing against stand-ins: {failing}\n{page[-3000:]}"
    assert sorted(success) == sorted(names)
    assert re.search(
        r'pitwatch_logs_requests_total\{target="core-api-access",[^}]*route="payments"[^}]*status_class="5xx"[^}]*\} 1',
        text,
    ) or re.search(
        r'pitwatch_logs_requests_total\{target="core-api-access",[^}]*status_class="5xx"[^}]*route="payments"[^}]*\} 1',
        text,
    )
    assert 'pitwatch_postgres_check_success{target="wallet-db"' in text
    assert 'pitwatch_flow_step_success{target="evolution-launch"' in text
    assert os.path.getsize(tmp_path / "backups" / "wallet-2026-11-21.dump") > 2**30


def _successes(pitwatch: Pitwatch) -> str:
    return "\n".join(
        line
        for line in pitwatch.metrics().splitlines()
        if line.startswith("pitwatch_probe_success{")
    )
