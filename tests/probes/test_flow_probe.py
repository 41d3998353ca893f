"""The flow probe against a real game-launch chain and payment sandbox: captures from JSON,
headers and cookies, per-step series, the failing step and its details, timeout shares,
captured values kept secret, and config errors at their lines."""

from __future__ import annotations

import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pitwatch.config import Config, ConfigError, load_config
from pitwatch.probes._auth import basic_credentials
from pitwatch.reasons import Reason
from pitwatch.result import Observation
from tests.support.gaming_apps import (
    CLIENT_SECRET,
    PLAYER_PASSWORD,
    GamingPlatform,
    shown,
    write_secret,
)
from tests.support.targets import config_from, probe_target, samples_of

TESTDATA = Path(__file__).parent.parent / "testdata" / "httpflow"

LAUNCH = """\
  - name: launch
    method: POST
    url: BASE/games/lightning-roulette/launch?player={{ player }}
    headers:
      Authorization: Bearer {{ token }}
      X-Session-Id: "{{ session }}"
    assertions:
      json: [game == lightning-roulette]
    capture:
      launch_url: json launch_url
"""
LOBBY = """\
  - name: lobby
    url: "{{ launch_url }}"
    assertions:
      body_matches: ['<title>Lobby</title>']
"""


@pytest.fixture
async def gaming() -> AsyncIterator[GamingPlatform]:
    platform = await GamingPlatform().start()
    yield platform
    await platform.stop()


@pytest.fixture(autouse=True)
def player_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYER_PASSWORD", PLAYER_PASSWORD)


def flow_config(
    tmp_path: Path, gaming: GamingPlatform, steps: str, timeout: str = "3s", extra: str = ""
) -> Config:
    """A flow target: login (captures token, session, player, sid) followed by ``steps``."""
    login = textwrap.dedent(
        """\
        - name: login
          method: POST
          url: BASE/login
          headers: {Content-Type: application/json}
          body: '{"user": "probe", "password": "${PLAYER_PASSWORD}"}'
          capture:
            token: json access_token
            session: header X-Session-Id
            player: json player.id
            sid: cookie sid
        """
    )
    all_steps = textwrap.indent(login + textwrap.dedent(steps), "      ")
    text = (
        f"global:\n  interval: 10s\n  timeout: {timeout}\nhost:\n  enabled: false\n"
        "targets:\n  - name: evolution-launch\n    component: game_provider\n    probe: flow\n"
        f"{textwrap.indent(textwrap.dedent(extra), '    ')}"
        f"    steps:\n{all_steps}"
    )
    return config_from(tmp_path, text.replace("BASE", gaming.url("")))


def step_series(observation: Observation) -> dict[str, tuple[float, float]]:
    """step -> (success, duration)."""
    samples = samples_of(observation)
    found: dict[str, tuple[float, float]] = {}
    for (family, labels), value in samples.items():
        if family == "pitwatch_flow_step_success":
            step = dict(labels)["step"]
            duration = samples[("pitwatch_flow_step_duration_seconds", labels)]
            found[step] = (value, duration)
    return found


async def test_game_launch_flow_passes_with_every_capture(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    config = flow_config(tmp_path, gaming, LAUNCH + LOBBY)
    observation = await probe_target(config)
    assert observation.result.success, observation.result.message
    assert observation.result.message == "3/3 steps passed"
    series = step_series(observation)
    assert list(series) == ["login", "launch", "lobby"]
    assert all(success == 1 and duration > 0 for success, duration in series.values())
    # the launch saw the captured bearer token, session header and cookie (else it 401s/400s)
    assert [kind for kind, _ in gaming.seen] == ["login", "launch"]
    assert len(gaming.launches) == 1


async def test_failure_at_step_two_reports_the_step(tmp_path: Path, gaming: GamingPlatform) -> None:
    gaming.launch_status = 503
    observation = await probe_target(flow_config(tmp_path, gaming, LAUNCH + LOBBY))
    result = observation.result
    assert result.reason is Reason.HTTP_STATUS
    assert result.message == 'step "launch" (2/3): HTTP 503 (expected 2xx)'
    assert result.details == (("step", "launch (2 of 3)"), ("status", "HTTP 503"))
    series = step_series(observation)
    assert series["login"][0] == 1 and series["login"][1] > 0
    assert series["launch"][0] == 0 and series["launch"][1] > 0
    assert series["lobby"] == (0, 0)  # never ran, still exported


async def test_a_missing_capture_fails_its_step(tmp_path: Path, gaming: GamingPlatform) -> None:
    steps = LAUNCH.replace("json launch_url", "json data.url") + LOBBY
    observation = await probe_target(flow_config(tmp_path, gaming, steps))
    result = observation.result
    assert result.reason is Reason.ASSERTION
    assert result.message == 'step "launch" (2/3): capture launch_url: json data.url not found'
    assert result.details == (
        ("step", "launch (2 of 3)"),
        ("status", "HTTP 200"),
        ("capture", "launch_url = json data.url (not found)"),
    )
    assert step_series(observation)["launch"][0] == 0


async def test_a_failed_assertion_in_a_step(tmp_path: Path, gaming: GamingPlatform) -> None:
    steps = LAUNCH + LOBBY.replace("<title>Lobby</title>", "<title>Casino</title>")
    observation = await probe_target(flow_config(tmp_path, gaming, steps))
    assert observation.result.reason is Reason.ASSERTION
    assert observation.result.message == (
        'step "lobby" (3/3): assertion failed: body_matches /<title>Casino</title>/ (no match)'
    )
    assert observation.result.details[-1] == (
        "assertion",
        "body_matches /<title>Casino</title>/ (no match)",
    )


@pytest.mark.parametrize(
    ("pattern", "passes"), [(r"src=(\w+)\.js", True), (r"src=(\w+)\.css", False)]
)
async def test_regex_capture_from_an_html_body(
    tmp_path: Path, gaming: GamingPlatform, pattern: str, passes: bool
) -> None:
    steps = (
        LAUNCH
        + LOBBY
        + f"""\
    capture:
      script: regex {pattern}
  - name: asset
    url: BASE/health?asset={{{{ script }}}}&at={{{{ unix_time }}}}
"""
    )
    observation = await probe_target(flow_config(tmp_path, gaming, steps))
    if passes:
        assert observation.result.success, observation.result.message
    else:
        assert observation.result.message == (
            f'step "lobby" (3/4): capture script: regex {pattern} not found'
        )


async def test_a_captured_url_that_is_not_one(tmp_path: Path, gaming: GamingPlatform) -> None:
    gaming.launch_url_override = "game unavailable"
    observation = await probe_target(flow_config(tmp_path, gaming, LAUNCH + LOBBY))
    assert observation.result.reason is Reason.ASSERTION
    assert observation.result.message == (
        'step "lobby" (3/3): the url is not an http(s) URL after filling in values'
    )


async def test_a_step_stops_at_the_end_of_its_timeout_share(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    steps = """\
        - name: wallet
          url: BASE/slow?ms=5000
          timeout_share: 40%
        - name: balance
          url: BASE/health
    """
    observation = await probe_target(flow_config(tmp_path, gaming, steps, timeout="1s"))
    result = observation.result
    assert result.reason is Reason.TIMEOUT
    # login and wallet share 1 - 40% = 60% between the two steps without a share: 30% each,
    # so wallet must be done 30% + 40% = 700ms into the flow
    assert result.message == (
        'step "wallet" (2/3): no answer by 700ms into the flow, the end of its share of the '
        f"1s timeout (requesting http://127.0.0.1:{gaming.port}/slow)"
    )
    assert 0.65 < observation.duration < 1.2
    assert step_series(observation)["balance"] == (0, 0)
    assert step_series(observation)["wallet"][1] > 0.3


async def test_payment_sandbox_declined_authorisation_is_healthy(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    write_secret(tmp_path, "psp-client-secret", CLIENT_SECRET)
    text = textwrap.dedent(
        """\
        targets:
          - name: psp-sandbox
            component: payment_gateway
            probe: flow
            timeout: 3s
            steps:
              - name: token
                method: POST
                url: BASE/psp/token
                auth:
                  basic: {username: pitwatch-probe, password_file: psp-client-secret}
                capture: {token: json access_token}
              - name: authorise
                method: POST
                url: BASE/psp/authorise
                headers:
                  Authorization: Bearer {{ token }}
                  Content-Type: application/json
                  Idempotency-Key: "{{ uuid }}"
                body: '{"amount": {"value": 100, "currency": "EUR"}, "reference": "{{ uuid }}"}'
                valid_status_codes: [200, 402]
                assertions:
                  json: ['result in [approved, declined]']
                capture: {payment: json payment_id}
              - name: status
                url: BASE/psp/payments/{{ payment }}
                headers: {Authorization: "Bearer {{ token }}"}
                assertions:
                  json: ['status in [approved, declined]']
        """
    ).replace("BASE", gaming.url(""))
    config = config_from(tmp_path, text)
    observation = await probe_target(config)
    assert observation.result.success, observation.result.message
    reference = next(value for kind, value in gaming.seen if kind == "authorise")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", reference)

    gaming.authorise_result = "error"
    observation = await probe_target(config)
    assert observation.result.reason is Reason.HTTP_STATUS
    assert observation.result.message == 'step "authorise" (2/3): HTTP 500 (expected 200, 402)'


async def test_captured_values_never_show(tmp_path: Path, gaming: GamingPlatform) -> None:
    steps = """\
        - name: echo
          url: BASE/echo-auth
          headers: {Authorization: "Bearer {{ token }}"}
          assertions:
            json: [token == nothing, auth == nothing]
    """
    config = flow_config(tmp_path, gaming, steps)
    observation = await probe_target(config)
    assert observation.result.reason is Reason.ASSERTION
    (token,) = gaming.sessions
    text = shown(config.targets[0], observation)
    assert token not in text, text
    assert f"Bearer {token}" not in text
    assert PLAYER_PASSWORD not in text
    assert observation.result.message == (
        'step "echo" (2/2): assertion failed: json token == nothing (got "<secret>") (and 1 more)'
    )


async def test_no_secret_of_any_flow_field_shows(
    tmp_path: Path, gaming: GamingPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flow-wide and step headers, the body, step auth and a captured token, each echoed
    back alone by the server and reported by a failing assertion."""
    api_key, basic_password = "ak-Vb83kQ2w", "bp-Qe71mZx4"
    monkeypatch.setenv("API_KEY", api_key)
    write_secret(tmp_path, "echo-password", basic_password)
    steps = """\
        - name: echo
          method: POST
          url: BASE/echo
          headers:
            Content-Type: application/json
            X-Player: Player {{ session }}
          body: '{"password": "${PLAYER_PASSWORD}", "token": "{{ token }}"}'
          auth: {basic: {username: probe, password_file: echo-password}}
          assertions:
            json:
              - json.password == nothing
              - json.token == nothing
              - tails.X-Api-Key == nothing
              - tails.X-Player == nothing
              - tails.Authorization == nothing
    """
    extra = "headers:\n  X-Api-Key: Key ${API_KEY}\n"
    config = flow_config(tmp_path, gaming, steps, extra=extra)
    observation = await probe_target(config)
    assert observation.result.reason is Reason.ASSERTION
    assert len(observation.result.details) == 2 + 5  # step, status, five assertions
    (token,) = gaming.sessions
    (session,) = gaming.sessions.values()
    encoded = basic_credentials("probe", basic_password)
    text = shown(config.targets[0], observation)
    for secret in (api_key, basic_password, encoded, PLAYER_PASSWORD, token, session):
        assert secret not in text, text
    assert text.count("<secret>") >= 5


async def test_captured_values_never_show_in_a_timeout(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    steps = """\
        - name: hang
          url: BASE/slow/{{ token }}?ms=5000
    """
    config = flow_config(tmp_path, gaming, steps, timeout="600ms")
    observation = await probe_target(config)
    assert observation.result.reason is Reason.TIMEOUT
    (token,) = gaming.sessions
    assert token not in shown(config.targets[0], observation)
    assert observation.result.message.endswith(
        f"(requesting http://127.0.0.1:{gaming.port}/slow/<secret>)"
    )


async def test_flow_wide_headers_and_step_overrides(tmp_path: Path, gaming: GamingPlatform) -> None:
    steps = """\
        - name: health
          url: BASE/health
          headers: {accept: text/plain}
          assertions:
            json: [status == UP]
    """
    extra = "headers:\n  Accept: application/json\n  X-Probe: pitwatch\n"
    observation = await probe_target(flow_config(tmp_path, gaming, steps, extra=extra))
    assert observation.result.success, observation.result.message


INVALID = {
    "invalid-flow-unknown-placeholder.yml": [
        '12: target "evolution-launch": steps[1].url: {{ tokn }} is not captured by an earlier '
        "step (available: session, token, unix_time, uuid)"
    ],
    "invalid-flow-capture-used-in-same-step.yml": [
        '9: target "evolution-launch": steps[0].headers.X-Session: {{ session }} is not '
        "captured by an earlier step (available: unix_time, uuid)"
    ],
    "invalid-flow-duplicate-step.yml": [
        '9: target "evolution-launch": steps[1].name: duplicate step name "login" (also steps[0])'
    ],
    "invalid-flow-shares.yml": [
        '5: target "evolution-launch": steps: timeout_share of the steps add up to 120%, '
        "more than 100%"
    ],
    "invalid-flow-shares-leave-nothing.yml": [
        '5: target "evolution-launch": steps: timeout_share of the steps add up to 100%: they '
        "must leave room for the steps without one (and never exceed 100%)"
    ],
    "invalid-flow-wide-placeholder.yml": [
        '7: target "evolution-launch": headers.X-Session: flow-wide headers cannot use {{ }} '
        "placeholders: set them on the steps"
    ],
    "invalid-flow-capture.yml": [
        '10: target "evolution-launch": steps[0].capture.token: a capture is "json PATH", '
        '"header NAME", "cookie NAME" or "regex PATTERN", got \'body access_token\''
    ],
    "invalid-flow-malformed-placeholder.yml": [
        "8: target \"evolution-launch\": steps[0].url: malformed placeholder at '{{ token }/x': "
        "write {{ name }} with a name of letters, digits and _"
    ],
    "invalid-flow-step-name.yml": [
        "6: target \"evolution-launch\": steps[0].name: step name 'log in' must be up to 64 of "
        "A-Z a-z 0-9 _ . - (it is a label value)"
    ],
    "invalid-flow-auth-and-header.yml": [
        '10: target "evolution-launch": steps[0].auth: an Authorization header and auth cannot '
        "both be set"
    ],
    "invalid-flow-no-steps.yml": ['5: target "evolution-launch": steps: a flow has 1 to 20 steps'],
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_flow_configs_point_at_the_line(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCH_TOKEN", "t-123456")
    with pytest.raises(ConfigError) as caught:
        load_config(TESTDATA / name)
    assert caught.value.problems == [f"{TESTDATA / name}:{line}" for line in INVALID[name]]
