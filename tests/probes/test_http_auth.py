"""Credentials on the http probe against a real server: basic, bearer and OAuth2 client
credentials (token caching counted at the token endpoint), the ``auth`` reason, and the
secrets never showing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devtools.processes import free_port
from pitwatch.config import ConfigError, load_config
from pitwatch.probes._auth import basic_credentials
from pitwatch.reasons import Reason
from tests.support.gaming_apps import (
    BASIC_PASSWORD,
    BASIC_USER,
    CLIENT_ID,
    CLIENT_SECRET,
    STATIC_TOKEN,
    GamingPlatform,
    Prober,
    shown,
    write_secret,
)
from tests.support.targets import config_from, one_target, probe_target

TESTDATA = Path(__file__).parent.parent / "testdata" / "httpflow"


@pytest.fixture
async def gaming() -> AsyncIterator[GamingPlatform]:
    platform = await GamingPlatform().start()
    yield platform
    await platform.stop()


def oauth2(gaming: GamingPlatform, secret_line: str, *extra: str) -> str:
    lines = [
        "auth:",
        "  oauth2:",
        f"    token_url: {gaming.url('/oauth/token')}",
        f"    client_id: {CLIENT_ID}",
        f"    {secret_line}",
        *(f"    {line}" for line in extra),
    ]
    return "\n".join(lines)


def http_target(url: str, *lines: str) -> str:
    return "\n".join(["probe: http", f"url: {url}", *lines])


# -- basic and bearer ------------------------------------------------------------------------
async def test_basic_auth_with_a_password_file(tmp_path: Path, gaming: GamingPlatform) -> None:
    write_secret(tmp_path, "basic-password", BASIC_PASSWORD)
    body = http_target(
        gaming.url("/basic/health"),
        f"auth:\n  basic:\n    username: {BASIC_USER}\n    password_file: basic-password",
    )
    observation = await probe_target(config_from(tmp_path, one_target(body)))
    assert observation.result.success, observation.result.message


async def test_basic_auth_with_an_env_password(
    tmp_path: Path, gaming: GamingPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PW_BASIC", BASIC_PASSWORD)
    body = http_target(
        gaming.url("/basic/health"),
        f"auth:\n  basic:\n    username: {BASIC_USER}\n    password: ${{PW_BASIC}}",
    )
    observation = await probe_target(config_from(tmp_path, one_target(body)))
    assert observation.result.success, observation.result.message


async def test_a_rejected_password_is_auth(tmp_path: Path, gaming: GamingPlatform) -> None:
    write_secret(tmp_path, "basic-password", "not-the-password")
    body = http_target(
        gaming.url("/basic/health"),
        f"auth:\n  basic:\n    username: {BASIC_USER}\n    password_file: basic-password",
    )
    observation = await probe_target(config_from(tmp_path, one_target(body)))
    assert observation.result.reason is Reason.AUTH
    assert observation.result.message == "HTTP 401: the credentials were rejected"


async def test_without_auth_configured_a_401_is_a_status_failure(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    body = http_target(gaming.url("/basic/health"))
    observation = await probe_target(config_from(tmp_path, one_target(body)))
    assert observation.result.reason is Reason.HTTP_STATUS
    assert observation.result.message == "HTTP 401 (expected 2xx)"


async def test_an_allowed_401_stays_healthy_even_with_auth(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    write_secret(tmp_path, "basic-password", "not-the-password")
    body = http_target(
        gaming.url("/basic/health"),
        "valid_status_codes: [401]",
        f"auth:\n  basic:\n    username: {BASIC_USER}\n    password_file: basic-password",
    )
    observation = await probe_target(config_from(tmp_path, one_target(body)))
    assert observation.result.success, observation.result.message


@pytest.mark.parametrize("source", ["file", "env"])
async def test_bearer_token(
    tmp_path: Path, gaming: GamingPlatform, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    write_secret(tmp_path, "token", STATIC_TOKEN)
    monkeypatch.setenv("STATIC_TOKEN", STATIC_TOKEN)
    line = "token_file: token" if source == "file" else "token: ${STATIC_TOKEN}"
    body = http_target(gaming.url("/bearer/health"), f"auth:\n  bearer:\n    {line}")
    observation = await probe_target(config_from(tmp_path, one_target(body)))
    assert observation.result.success, observation.result.message


async def test_a_refused_bearer_token_is_auth(tmp_path: Path, gaming: GamingPlatform) -> None:
    write_secret(tmp_path, "token", "bt-expired-token")
    body = http_target(gaming.url("/bearer/health"), "auth:\n  bearer:\n    token_file: token")
    observation = await probe_target(config_from(tmp_path, one_target(body)))
    assert observation.result.reason is Reason.AUTH
    assert observation.result.message == "HTTP 403: the credentials were rejected"


# -- OAuth2 client credentials -----------------------------------------------------------------
async def test_oauth2_token_is_fetched_once_and_reused(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    write_secret(tmp_path, "client-secret", CLIENT_SECRET)
    body = http_target(
        gaming.url("/api/health"),
        oauth2(
            gaming,
            "client_secret_file: client-secret",
            "scopes: [health:read, games:read]",
            "params: {audience: platform-api}",
        ),
    )
    prober = Prober(config_from(tmp_path, one_target(body)))
    for _ in range(3):
        observation = await prober.run()
        assert observation.result.success, observation.result.message
    assert gaming.token_calls == 1
    assert gaming.token_forms == [
        {
            "grant_type": "client_credentials",
            "scope": "health:read games:read",
            "audience": "platform-api",
        }
    ]


async def test_oauth2_client_secret_post_from_env(
    tmp_path: Path, gaming: GamingPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTH_SECRET", CLIENT_SECRET)
    body = http_target(
        gaming.url("/api/health"),
        oauth2(gaming, "client_secret: ${OAUTH_SECRET}", "client_auth: post"),
    )
    observation = await probe_target(config_from(tmp_path, one_target(body)))
    assert observation.result.success, observation.result.message
    assert gaming.token_forms[0]["client_id"] == CLIENT_ID


async def test_oauth2_token_is_renewed_shortly_before_it_expires(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    gaming.expires_in = 1  # renewed after 0.9 s: 10% of its life before expiry
    write_secret(tmp_path, "client-secret", CLIENT_SECRET)
    body = http_target(
        gaming.url("/api/health"), oauth2(gaming, "client_secret_file: client-secret")
    )
    prober = Prober(config_from(tmp_path, one_target(body)))
    assert (await prober.run()).result.success
    assert (await prober.run()).result.success
    assert gaming.token_calls == 1
    await asyncio.sleep(1.0)  # the token's lifetime has to pass: time is what is tested
    assert (await prober.run()).result.success
    assert gaming.token_calls == 2


async def test_oauth2_token_without_expiry_is_kept_until_rejected(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    gaming.expires_in = None
    write_secret(tmp_path, "client-secret", CLIENT_SECRET)
    body = http_target(
        gaming.url("/api/health"), oauth2(gaming, "client_secret_file: client-secret")
    )
    prober = Prober(config_from(tmp_path, one_target(body)))
    assert (await prober.run()).result.success
    assert (await prober.run()).result.success
    assert gaming.token_calls == 1
    gaming.revoke_tokens()
    observation = await prober.run()
    assert observation.result.success, observation.result.message
    assert gaming.token_calls == 2


async def test_oauth2_rejected_client_is_auth(tmp_path: Path, gaming: GamingPlatform) -> None:
    write_secret(tmp_path, "client-secret", "wrong-client-secret")
    body = http_target(
        gaming.url("/api/health"), oauth2(gaming, "client_secret_file: client-secret")
    )
    observation = await probe_target(config_from(tmp_path, one_target(body)))
    assert observation.result.reason is Reason.AUTH
    assert observation.result.message == "OAuth2 token request rejected: HTTP 401 (invalid_client)"


async def test_oauth2_token_endpoint_down_keeps_the_transport_reason(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    write_secret(tmp_path, "client-secret", CLIENT_SECRET)
    port = free_port()
    body = http_target(
        gaming.url("/api/health"),
        "auth:\n  oauth2:\n"
        f"    token_url: http://127.0.0.1:{port}/oauth/token\n"
        f"    client_id: {CLIENT_ID}\n    client_secret_file: client-secret",
    )
    observation = await probe_target(config_from(tmp_path, one_target(body)))
    assert observation.result.reason is Reason.CONNECT
    assert observation.result.message.startswith(
        "OAuth2 token endpoint: cannot connect to 127.0.0.1:"
    )


async def test_oauth2_token_endpoint_error_status(tmp_path: Path, gaming: GamingPlatform) -> None:
    write_secret(tmp_path, "client-secret", CLIENT_SECRET)
    body = http_target(
        gaming.url("/api/health"),
        "auth:\n  oauth2:\n"
        f"    token_url: {gaming.url('/oauth/nowhere')}\n"
        f"    client_id: {CLIENT_ID}\n    client_secret_file: client-secret",
    )
    observation = await probe_target(config_from(tmp_path, one_target(body)))
    assert observation.result.reason is Reason.HTTP_STATUS
    assert observation.result.message == "OAuth2 token endpoint answered HTTP 404"


async def test_oauth2_token_request_that_hangs_names_the_token_step(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    write_secret(tmp_path, "client-secret", CLIENT_SECRET)
    body = http_target(
        gaming.url("/api/health"),
        "auth:\n  oauth2:\n"
        f"    token_url: {gaming.url('/slow?ms=5000')}\n"
        f"    client_id: {CLIENT_ID}\n    client_secret_file: client-secret",
    )
    config = config_from(tmp_path, one_target(body, timeout="500ms"))
    observation = await probe_target(config)
    assert observation.result.reason is Reason.TIMEOUT
    assert observation.result.message == (
        f"no answer within 500ms (OAuth2 token: requesting http://127.0.0.1:{gaming.port}/slow)"
    )


# -- secrets -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "auth",
    [
        f"basic:\n    username: {BASIC_USER}\n    password_file: secret",
        f"basic:\n    username: {BASIC_USER}\n    password: ${{SECRET}}",
        "bearer:\n    token_file: secret",
        "bearer:\n    token: ${SECRET}",
        "oauth2:\n    token_url: TOKEN_URL\n    client_id: ID\n    client_secret_file: secret",
        "oauth2:\n    token_url: TOKEN_URL\n    client_id: ID\n    client_secret: ${SECRET}",
    ],
)
async def test_no_secret_shows_even_when_the_server_echoes_it(
    tmp_path: Path, gaming: GamingPlatform, monkeypatch: pytest.MonkeyPatch, auth: str
) -> None:
    secret = {"basic": BASIC_PASSWORD, "bearer": STATIC_TOKEN, "oauth2": CLIENT_SECRET}[
        auth.partition(":")[0]
    ]
    write_secret(tmp_path, "secret", secret)
    monkeypatch.setenv("SECRET", secret)
    auth = auth.replace("TOKEN_URL", gaming.url("/oauth/token")).replace("ID", CLIENT_ID)
    body = http_target(
        gaming.url("/echo-auth"),
        f"auth:\n  {auth}",
        "assertions:\n  json: [status == UP, token == nothing, auth == nothing]",
    )
    config = config_from(tmp_path, one_target(body))
    observation = await probe_target(config)
    # the echoed credentials went through the "found" part of the assertion messages
    assert observation.result.reason is Reason.ASSERTION
    assert len(observation.result.details) == 3
    text = shown(config.targets[0], observation)
    encoded = basic_credentials(BASIC_USER, BASIC_PASSWORD)
    for value in [secret, encoded, *gaming.issued]:
        assert value not in text, text


async def test_env_values_inside_headers_and_body_never_show(
    tmp_path: Path, gaming: GamingPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server echoes only the substituted values, not the whole secret header or body.
    api_key, password = "ak-Vb83kQ2w", "pw-Lr5tY8e1"
    monkeypatch.setenv("API_KEY", api_key)
    monkeypatch.setenv("PLAYER_PW", password)
    body = http_target(
        gaming.url("/echo"),
        "method: POST",
        "headers:\n  X-Api-Key: Key ${API_KEY}\n  Content-Type: application/json",
        """body: '{"user": "probe", "password": "${PLAYER_PW}"}'""",
        "assertions:\n  json: [json.password == nothing, tails.X-Api-Key == nothing]",
    )
    config = config_from(tmp_path, one_target(body))
    observation = await probe_target(config)
    assert observation.result.details == (
        ("assertion", 'json json.password == nothing (got "<secret>")'),
        ("assertion", 'json tails.X-Api-Key == nothing (got "<secret>")'),
    )
    text = shown(config.targets[0], observation)
    assert api_key not in text and password not in text


INVALID = {
    "invalid-auth-two-kinds.yml": [
        '6: target "kyc-onfido": auth: auth needs exactly one of basic, bearer, oauth2'
    ],
    "invalid-auth-literal-password.yml": [
        '9: target "kyc-onfido": auth.basic.password: write secrets as ${ENV_VAR} or put them '
        "in the matching *_file key"
    ],
    "invalid-auth-missing-secret.yml": [
        '7: target "kyc-onfido": auth.oauth2: needs client_secret (as ${ENV_VAR}) or '
        "client_secret_file"
    ],
    "invalid-auth-and-header.yml": [
        '7: target "kyc-onfido": headers.Authorization: an Authorization header and auth '
        "cannot both be set"
    ],
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_auth_configs_point_at_the_line(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KYC_TOKEN", "t-123456")
    with pytest.raises(ConfigError) as caught:
        load_config(TESTDATA / name)
    assert caught.value.problems == [f"{TESTDATA / name}:{line}" for line in INVALID[name]]
