"""http (assertions, auth) and flow targets in a real ``pitwatch run``: a clean exposition
for promtool, the flow series, and no secret in /metrics, on the status page or in the log;
and the shipped examples pass ``pitwatch check-config``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devtools import REPO
from devtools.processes import environ_without, http_get, wait_until
from tests.support.gaming_apps import (
    CLIENT_ID,
    CLIENT_SECRET,
    PLAYER_PASSWORD,
    STATIC_TOKEN,
    GamingPlatform,
    write_secret,
)
from tests.support.services import Pitwatch, promtool_check_metrics

EXAMPLES = REPO / "deploy" / "examples"

CONFIG = """\
global:
  interval: 1s
  timeout: 800ms
host:
  enabled: false
targets:
  - name: core-api
    component: api
    tier: 1
    probe: http
    url: BASE/api/health
    auth:
      oauth2:
        token_url: BASE/oauth/token
        client_id: CLIENT_ID
        client_secret_file: client-secret
    assertions:
      json: [status == UP, len(providers) >= 5]
  - name: leaky-kyc
    component: kyc
    probe: http
    url: BASE/echo-auth
    auth:
      bearer: {token_file: kyc-token}
    assertions:
      json: [status == UP, token == nothing, auth == nothing]
  - name: evolution-launch
    component: game_provider
    tier: 1
    team: integrations
    probe: flow
    steps:
      - name: login
        method: POST
        url: BASE/login
        headers: {Content-Type: application/json}
        body: '{"user": "probe", "password": "${PLAYER_PASSWORD}"}'
        capture: {token: json access_token, session: header X-Session-Id}
      - name: launch
        method: POST
        url: BASE/games/blackjack/launch
        headers: {Authorization: "Bearer {{ token }}", X-Session-Id: "{{ session }}"}
        capture: {launch_url: json launch_url}
      - name: lobby
        url: "{{ launch_url }}"
  - name: broken-launch
    component: game_provider
    probe: flow
    steps:
      - name: login
        method: POST
        url: BASE/login
        headers: {Content-Type: application/json}
        body: '{"user": "probe", "password": "${PLAYER_PASSWORD}"}'
        capture: {token: json access_token}
      - name: echo
        url: BASE/echo-auth
        headers: {Authorization: "Bearer {{ token }}"}
        assertions:
          json: [token == nothing]
      - name: never
        url: BASE/health
"""


@pytest.fixture
async def gaming() -> AsyncIterator[GamingPlatform]:
    platform = await GamingPlatform().start()
    yield platform
    await platform.stop()


@pytest.mark.timeout(60)
async def test_pitwatch_run_with_http_and_flow_targets(
    tmp_path: Path, gaming: GamingPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYER_PASSWORD", PLAYER_PASSWORD)  # inherited by the process
    write_secret(tmp_path, "client-secret", CLIENT_SECRET)
    write_secret(tmp_path, "kyc-token", STATIC_TOKEN)
    config = tmp_path / "pitwatch.yml"
    config.write_text(CONFIG.replace("BASE", gaming.url("")).replace("CLIENT_ID", CLIENT_ID))
    pitwatch = Pitwatch(tmp_path / "run", config)
    # The platform answers on this event loop: every blocking wait runs in a thread.
    await asyncio.to_thread(pitwatch.start)
    try:

        def all_probed() -> bool:
            text = pitwatch.metrics()
            return all(
                f'pitwatch_probe_success{{target="{name}"' in text
                for name in ("core-api", "leaky-kyc", "evolution-launch", "broken-launch")
            )

        await asyncio.to_thread(wait_until, all_probed, 30, "a probe of every target")
        text = await asyncio.to_thread(pitwatch.metrics)
        assert await asyncio.to_thread(promtool_check_metrics, text) == ""
        assert _value(text, "pitwatch_probe_success", 'target="core-api"') == 1
        assert _value(text, "pitwatch_probe_success", 'target="evolution-launch"') == 1
        assert (
            _value(text, "pitwatch_probe_errors_total", 'target="leaky-kyc"', 'reason="assertion"')
            >= 1
        )
        for step in ("login", "launch", "lobby"):
            labels = ('target="evolution-launch"', f'step="{step}"')
            assert _value(text, "pitwatch_flow_step_success", *labels) == 1
            assert _value(text, "pitwatch_flow_step_duration_seconds", *labels) > 0
        broken = 'target="broken-launch"'
        assert _value(text, "pitwatch_flow_step_success", broken, 'step="login"') == 1
        assert _value(text, "pitwatch_flow_step_success", broken, 'step="echo"') == 0
        assert _value(text, "pitwatch_flow_step_success", broken, 'step="never"') == 0
        assert _value(text, "pitwatch_flow_step_duration_seconds", broken, 'step="never"') == 0
        assert gaming.token_calls == 1  # cached across the probes of the run

        status, page = await asyncio.to_thread(http_get, f"{pitwatch.url}/")
        assert status == 200
        status_page = page.decode()
        assert "step &quot;echo&quot; (2/3): assertion failed: json token == nothing" in status_page
        log = pitwatch.log()
        assert "target broken-launch is down" in log
        secrets = [CLIENT_SECRET, STATIC_TOKEN, PLAYER_PASSWORD, *gaming.issued, *gaming.sessions]
        secrets += list(gaming.sessions.values())
        for where, content in (("/metrics", text), ("/", status_page), ("log", log)):
            for secret in secrets:
                assert secret not in content, f"{secret} shows in {where}"
    finally:
        await asyncio.to_thread(pitwatch.stop)


def _value(exposition: str, family: str, *labels: str) -> float:
    for line in exposition.splitlines():
        name, _, rest = line.partition("{")
        if name == family and all(label in rest for label in labels):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {family} with {labels}")


@pytest.mark.parametrize("name", ["http.yml", "flows.yml"])
def test_examples_pass_check_config(name: str) -> None:
    # No secret in the environment: the examples only use files shipped next to them.
    result = subprocess.run(
        [sys.executable, "-m", "pitwatch", "check-config", str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        check=False,
        env=environ_without("TEST_PLAYER_PASSWORD"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{EXAMPLES / name}: OK, ")
