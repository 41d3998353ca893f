from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pitwatch.config import load_config
from pitwatch.runtime import Exporter
from pitwatch.server import make_app
from tests.support.fake_platform import FakePlatform, counting_listener
from tests.support.targets import write_config


def platform_config(platform: FakePlatform) -> str:
    return f"""\
        global: {{interval: 200ms, timeout: 150ms, labels: {{platform: test}}}}
        host: {{enabled: true}}
        targets:
          - {{name: lobby, component: game_provider, tier: 2, team: integrations, probe: http, url: "{platform.http_url()}", description: "<b>Evolution</b> lobby"}}
          - {{name: psp, component: payment_gateway, tier: 1, team: payments, probe: http, url: "{platform.http_url("/status/503")}"}}
        """


Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def served(platform: FakePlatform, tmp_path: Path) -> AsyncIterator[tuple[Client, Exporter]]:
    path = write_config(tmp_path, platform_config(platform))
    exporter = Exporter(load_config(path), path)
    async with TestClient(TestServer(make_app(exporter, lifecycle=True))) as test_client:
        yield test_client, exporter


@pytest.fixture
def client(served: tuple[Client, Exporter]) -> Client:
    return served[0]


async def wait_for_text(client: Client, needle: str, seconds: float = 5) -> str:
    text = ""
    for _ in range(int(seconds / 0.05)):
        response = await client.get("/metrics")
        text = await response.text()
        if needle in text:
            return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"{needle!r} never appeared in /metrics:\n{text[:2000]}")


async def test_metrics_plain_and_gzip(client: Client) -> None:
    text = await wait_for_text(client, 'pitwatch_probe_success{target="psp"')
    assert (
        'pitwatch_probe_success{target="lobby",component="game_provider",tier="2",team="integrations",platform="test"} 1'
        in text
    )
    assert (
        'pitwatch_probe_errors_total{target="psp",component="payment_gateway",tier="1",team="payments",platform="test",reason="http_status"}'
        in text
    )
    assert 'pitwatch_host_memory_total_bytes{platform="test"}' in text
    assert "pitwatch_build_info{" in text
    assert "pitwatch_config_last_reload_successful 1.0" in text
    response = await client.get(
        "/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    body = gzip.decompress(await response.read()).decode()
    assert "# TYPE pitwatch_probe_success gauge" in body


async def test_health_and_readiness(client: Client) -> None:
    assert (await client.get("/-/healthy")).status == 200
    assert (await client.get("/-/ready")).status == 200
    assert (await client.post("/-/healthy")).status == 405
    assert (await client.get("/-/reload")).status == 405


async def test_probe_endpoint_returns_only_that_target(client: Client) -> None:
    response = await client.get("/probe", params={"target": "lobby"})
    assert response.status == 200
    text = await response.text()
    assert (
        'pitwatch_probe_success{target="lobby",component="game_provider",tier="2",team="integrations",platform="test"} 1'
        in text
    )
    assert 'pitwatch_http_status_code{target="lobby"' in text
    assert [line for line in text.splitlines() if "psp" in line] == []
    assert "pitwatch_host_" not in text and "pitwatch_build_info" not in text
    # a target of this replica counts the probe and answers with all its series
    assert 'pitwatch_probes_total{target="lobby"' in text
    assert 'pitwatch_target_objective_ratio{target="lobby"' in text


async def test_probe_endpoint_never_probes_an_address(client: Client) -> None:
    listener, port = counting_listener()
    try:
        for value in (f"http://127.0.0.1:{port}/", f"127.0.0.1:{port}", "", "LOBBY"):
            response = await client.get("/probe", params={"target": value})
            assert response.status == 404
            assert "unknown target" in await response.text()
        assert (await client.get("/probe")).status == 404
        await asyncio.sleep(0.1)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody ever connected
    finally:
        listener.close()


async def test_reload_rejects_a_broken_config_and_keeps_probing(
    served: tuple[Client, Exporter], platform: FakePlatform
) -> None:
    client, exporter = served
    assert exporter.config_path is not None
    exporter.config_path.write_text(
        "targets:\n  - name: broken\n    component: api\n    probe: htp\n"
    )
    response = await client.post("/-/reload")
    assert response.status == 400
    body = await response.text()
    assert 'unknown probe kind "htp"' in body and "previous one keeps running" in body
    text = await wait_for_text(client, "pitwatch_config_last_reload_successful 0.0")
    before = exporter.store.records["lobby"].stats.successes
    await asyncio.sleep(0.5)
    assert exporter.store.records["lobby"].stats.successes > before
    assert 'target="lobby"' in text

    exporter.config_path.write_text(
        platform_config(platform).replace("name: psp,", "name: psp2,").replace("        ", "")
    )
    response = await client.post("/-/reload")
    assert response.status == 200, await response.text()
    text = await wait_for_text(client, 'pitwatch_probe_success{target="psp2"')
    assert "pitwatch_config_last_reload_successful 1.0" in text
    assert 'target="psp"' not in text


async def test_status_page_lists_targets_and_escapes(
    client: Client, platform: FakePlatform
) -> None:
    await wait_for_text(client, 'pitwatch_probe_success{target="psp"')
    response = await client.get("/")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = await response.text()
    for expected in (
        "lobby",
        "psp",
        "game provider",
        "payment gateway",
        "integrations",
        "payments",
        "http_status",
        "HTTP 503 (expected 2xx)",
        "DOWN",
        "UP",
    ):
        assert expected in page, expected
    assert "<script" not in page
    assert platform.http_url() not in page  # URLs can carry tokens: the page names targets
    assert "&lt;b&gt;Evolution&lt;/b&gt; lobby" in page and "<b>Evolution</b>" not in page


async def test_without_a_schedule_probes_run_only_on_request(
    platform: FakePlatform, tmp_path: Path
) -> None:
    text = platform_config(platform).replace(
        "timeout: 150ms,", "timeout: 150ms, probe_min_interval: 10ms,"
    )
    path = write_config(tmp_path, text)
    exporter = Exporter(load_config(path), path, schedule=False)
    async with TestClient(TestServer(make_app(exporter))) as client:
        await asyncio.sleep(0.6)  # three intervals: a scheduled exporter would have probed
        text = await (await client.get("/metrics")).text()
        assert (
            'pitwatch_probes_total{target="lobby",component="game_provider",tier="2",team="integrations",platform="test",result="success"} 0'
            in text
        )
        for expected in (1, 2):
            await asyncio.sleep(0.02)  # past probe_min_interval: each request probes
            body = await (await client.get("/probe", params={"target": "lobby"})).text()
            assert f'result="success"}} {expected}' in body
            assert 'pitwatch_probe_latency_seconds_count{target="lobby"' in body
        text = await (await client.get("/metrics")).text()
        assert 'team="integrations",platform="test",result="success"} 2' in text
        assert 'pitwatch_probe_success{target="psp"' not in text  # never asked for
