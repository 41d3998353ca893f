from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from devtools.processes import free_port
from pitwatch.probes import http
from pitwatch.probes._client import Timings, open_session, send
from pitwatch.reasons import Reason
from pitwatch.result import Observation, ProbeContext
from tests.support.fake_platform import CERT_EXPIRY, EXPIRED, FakePlatform
from tests.support.sandbox import probe_offline
from tests.support.targets import config_from, one_target, probe_target, samples_of, write_config


def phase(observation: Observation, name: str) -> float:
    return samples_of(observation)[("pitwatch_http_phase_duration_seconds", (("phase", name),))]


def value(observation: Observation, family: str) -> float:
    return samples_of(observation)[(family, ())]


async def http_probe(tmp_path: Path, body: str, probe_timeout: str = "2s") -> Observation:
    return await probe_target(config_from(tmp_path, one_target(body, timeout=probe_timeout)))


async def test_healthy_endpoint_succeeds_with_phases(
    platform: FakePlatform, tmp_path: Path
) -> None:
    observation = await http_probe(tmp_path, f"probe: http\nurl: {platform.http_url('/ok')}")
    assert observation.result.success, observation.result.message
    assert observation.result.reason is None
    assert value(observation, "pitwatch_http_status_code") == 200
    assert phase(observation, "connect") > 0
    assert phase(observation, "processing") > 0
    assert phase(observation, "tls") == 0
    assert phase(observation, "resolve") == 0  # an IP literal needs no lookup
    assert value(observation, "pitwatch_http_response_body_bytes") == 2
    assert 0 < observation.duration < 1


async def test_server_error_is_http_status(platform: FakePlatform, tmp_path: Path) -> None:
    observation = await http_probe(
        tmp_path, f"probe: http\nurl: {platform.http_url('/status/500')}"
    )
    assert not observation.result.success
    assert observation.result.reason is Reason.HTTP_STATUS
    assert observation.result.message == "HTTP 500 (expected 2xx)"
    assert value(observation, "pitwatch_http_status_code") == 500


async def test_status_allow_list_accepts_a_business_decline(
    platform: FakePlatform, tmp_path: Path
) -> None:
    body = f"probe: http\nurl: {platform.http_url('/status/402')}\nvalid_status_codes: [2xx, 402]"
    observation = await http_probe(tmp_path, body)
    assert observation.result.success, observation.result.message


async def test_hanging_server_times_out_at_the_deadline(
    platform: FakePlatform, tmp_path: Path
) -> None:
    started = time.perf_counter()
    body = f"probe: http\nurl: {platform.http_url('/hang')}"
    observation = await http_probe(tmp_path, body, probe_timeout="500ms")
    elapsed = time.perf_counter() - started
    assert observation.result.reason is Reason.TIMEOUT
    assert observation.result.message.startswith(
        "no answer within 500ms (requesting http://127.0.0.1"
    )
    assert 0.45 < elapsed < 1.0
    # what was measured before the deadline is kept
    assert phase(observation, "connect") > 0
    assert value(observation, "pitwatch_http_status_code") == 0


async def test_connection_reset_is_connect(platform: FakePlatform, tmp_path: Path) -> None:
    observation = await http_probe(
        tmp_path, f"probe: http\nurl: http://{platform.address('reset')}/"
    )
    assert observation.result.reason is Reason.CONNECT, observation.result.message


async def test_refused_is_connect(tmp_path: Path) -> None:
    port = free_port()
    observation = await http_probe(tmp_path, f"probe: http\nurl: http://127.0.0.1:{port}/")
    assert observation.result.reason is Reason.CONNECT
    assert observation.result.message == f"cannot connect to 127.0.0.1:{port}: connection refused"


async def test_garbage_is_protocol(platform: FakePlatform, tmp_path: Path) -> None:
    observation = await http_probe(
        tmp_path, f"probe: http\nurl: http://{platform.address('garbage')}/"
    )
    assert observation.result.reason is Reason.PROTOCOL, observation.result.message
    assert observation.result.message.startswith("invalid HTTP response")


async def test_endless_body_stops_at_the_cap(platform: FakePlatform, tmp_path: Path) -> None:
    body = f"probe: http\nurl: {platform.http_url('/endless')}\nmax_body_bytes: 1MiB"
    observation = await http_probe(tmp_path, body)
    assert observation.result.reason is Reason.PROTOCOL
    assert observation.result.message == "response body larger than the 1 MiB limit"
    assert observation.duration < 1.5


async def test_redirect_loop_is_bounded(platform: FakePlatform, tmp_path: Path) -> None:
    body = f"probe: http\nurl: {platform.http_url('/redirect-loop')}\nmax_redirects: 5"
    observation = await http_probe(tmp_path, body)
    assert observation.result.reason is Reason.HTTP_STATUS
    assert observation.result.message == "more than 5 redirects (redirect loop?)"


async def test_redirects_are_followed_and_counted(platform: FakePlatform, tmp_path: Path) -> None:
    observation = await http_probe(
        tmp_path, f"probe: http\nurl: {platform.http_url('/redirect?to=/ok')}"
    )
    assert observation.result.success
    assert value(observation, "pitwatch_http_redirects") == 1


async def test_redirects_can_be_off(platform: FakePlatform, tmp_path: Path) -> None:
    body = f"probe: http\nurl: {platform.http_url('/redirect?to=/ok')}\nfollow_redirects: false"
    observation = await http_probe(tmp_path, body)
    assert observation.result.reason is Reason.HTTP_STATUS
    assert value(observation, "pitwatch_http_status_code") == 302


async def test_tls_with_ca_file_reports_expiry(platform: FakePlatform, tmp_path: Path) -> None:
    body = f"probe: http\nurl: {platform.https_url()}\ntls:\n  ca_file: {platform.ca_file}"
    observation = await http_probe(tmp_path, body)
    assert observation.result.success, observation.result.message
    assert phase(observation, "tls") > 0
    assert (
        value(observation, "pitwatch_tls_cert_expiry_timestamp_seconds") == CERT_EXPIRY.timestamp()
    )


async def test_untrusted_certificate_is_tls(platform: FakePlatform, tmp_path: Path) -> None:
    observation = await http_probe(tmp_path, f"probe: http\nurl: {platform.https_url()}")
    assert observation.result.reason is Reason.TLS
    assert "unable to get local issuer certificate" in observation.result.message


async def test_expired_certificate_is_tls(platform: FakePlatform, tmp_path: Path) -> None:
    body = (
        f"probe: http\nurl: {platform.https_url(expired=True)}\ntls:\n  ca_file: {platform.ca_file}"
    )
    observation = await http_probe(tmp_path, body)
    assert observation.result.reason is Reason.TLS
    assert "certificate has expired" in observation.result.message


async def test_skip_verify_still_reads_expiry(platform: FakePlatform, tmp_path: Path) -> None:
    body = (
        f"probe: http\nurl: {platform.https_url(expired=True)}\ntls:\n  insecure_skip_verify: true"
    )
    observation = await http_probe(tmp_path, body)
    assert observation.result.success, observation.result.message
    assert value(observation, "pitwatch_tls_cert_expiry_timestamp_seconds") == EXPIRED.timestamp()


@pytest.mark.parametrize(
    ("server_name", "success"), [("lobby.example.com", True), ("other.example.com", False)]
)
async def test_server_name_override(
    platform: FakePlatform, tmp_path: Path, server_name: str, success: bool
) -> None:
    body = (
        f"probe: http\nurl: {platform.https_url()}\n"
        f"tls:\n  ca_file: {platform.ca_file}\n  server_name: {server_name}"
    )
    observation = await http_probe(tmp_path, body)
    assert observation.result.success is success, observation.result.message
    if not success:
        assert observation.result.reason is Reason.TLS
        assert "hostname mismatch" in observation.result.message


def test_unknown_host_is_dns(tmp_path: Path) -> None:
    config = write_config(tmp_path, one_target("probe: http\nurl: http://no-such-host.invalid/"))
    result = probe_offline(config)["t"]
    assert result["reason"] == "dns"
    assert result["message"] == "cannot resolve no-such-host.invalid"


async def test_headers_are_sent_and_kept_secret(
    platform: FakePlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVIDER_KEY", "k-123")
    body = (
        f"probe: http\nurl: {platform.http_url('/headers')}\n"
        "headers:\n  X-Api-Key: ${PROVIDER_KEY}\n  Accept: application/json"
    )
    config = config_from(tmp_path, one_target(body))
    spec = config.targets[0].spec
    assert isinstance(spec, http.HttpTarget)
    assert repr(spec.headers["X-Api-Key"]) == "<secret>"
    timings = Timings()
    ctx = ProbeContext(timeout=2, deadline=asyncio.get_running_loop().time() + 2)
    async with open_session(spec, timings) as session:
        response = await send(session, spec, timings, ctx, spec.request())
    echoed = json.loads(response.body)
    assert echoed["X-Api-Key"] == "k-123"
    assert echoed["Accept"] == "application/json"
    assert echoed["User-Agent"].startswith("pitwatch/")
