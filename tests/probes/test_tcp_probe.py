from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devtools.processes import free_port
from pitwatch.reasons import Reason
from pitwatch.result import Observation
from tests.support.fake_platform import CERT_EXPIRY, FakePlatform
from tests.support.sandbox import probe_offline
from tests.support.targets import config_from, one_target, probe_target, samples_of, write_config


async def tcp_probe(tmp_path: Path, body: str, probe_timeout: str = "2s") -> Observation:
    return await probe_target(config_from(tmp_path, one_target(body, timeout=probe_timeout)))


def phase(observation: Observation, name: str) -> float:
    return samples_of(observation)[("pitwatch_tcp_phase_duration_seconds", (("phase", name),))]


async def test_connect_only(platform: FakePlatform, tmp_path: Path) -> None:
    observation = await tcp_probe(tmp_path, f"probe: tcp\naddress: {platform.address('banner')}")
    assert observation.result.success, observation.result.message
    assert phase(observation, "connect") > 0
    assert phase(observation, "exchange") == 0


async def test_expect_banner_and_echo(platform: FakePlatform, tmp_path: Path) -> None:
    body = (
        f"probe: tcp\naddress: {platform.address('banner')}\n"
        'send: "PING\\r\\n"\nexpect: "^220 .*\\\\n(echo PING)?"'
    )
    observation = await tcp_probe(tmp_path, body)
    assert observation.result.success, observation.result.message
    assert phase(observation, "exchange") > 0


async def test_unexpected_answer_is_assertion(platform: FakePlatform, tmp_path: Path) -> None:
    body = f"probe: tcp\naddress: {platform.address('banner')}\nexpect: '^SSH-2.0'"
    observation = await tcp_probe(tmp_path, body)
    assert observation.result.reason is Reason.ASSERTION
    assert observation.result.message == (
        "answer did not match expect /^SSH-2.0/ (got '220 fake-platform ready\\r\\n')"
    )


async def test_silent_peer_times_out(platform: FakePlatform, tmp_path: Path) -> None:
    body = f"probe: tcp\naddress: {platform.address('silent')}\nexpect: ready"
    observation = await tcp_probe(tmp_path, body, probe_timeout="300ms")
    assert observation.result.reason is Reason.TIMEOUT
    assert observation.result.message == "no answer within 300ms (waiting for the expected answer)"
    assert phase(observation, "connect") > 0


async def test_reset_while_reading_is_connect(platform: FakePlatform, tmp_path: Path) -> None:
    body = f"probe: tcp\naddress: {platform.address('reset')}\nexpect: anything"
    observation = await tcp_probe(tmp_path, body)
    assert observation.result.reason in (Reason.CONNECT, Reason.ASSERTION)
    if observation.result.reason is Reason.ASSERTION:  # the RST may arrive as a clean EOF
        assert "(got '')" in observation.result.message


async def test_refused_is_connect(tmp_path: Path) -> None:
    port = free_port()
    observation = await tcp_probe(tmp_path, f"probe: tcp\naddress: 127.0.0.1:{port}")
    assert observation.result.reason is Reason.CONNECT
    assert observation.result.message == f"cannot connect to 127.0.0.1:{port}: connection refused"


async def test_tls_with_expiry(platform: FakePlatform, tmp_path: Path) -> None:
    body = (
        f"probe: tcp\naddress: {platform.address('banner_tls')}\ntls: true\n"
        f"tls_config:\n  ca_file: {platform.ca_file}\n  server_name: lobby.example.com\n"
        "expect: '^220'"
    )
    observation = await tcp_probe(tmp_path, body)
    assert observation.result.success, observation.result.message
    assert phase(observation, "tls") > 0
    expiry = samples_of(observation)[("pitwatch_tls_cert_expiry_timestamp_seconds", ())]
    assert expiry == CERT_EXPIRY.timestamp()


async def test_tls_against_plain_server_is_tls(platform: FakePlatform, tmp_path: Path) -> None:
    body = f"probe: tcp\naddress: {platform.address('banner')}\ntls: true"
    observation = await tcp_probe(tmp_path, body)
    assert observation.result.reason is Reason.TLS, observation.result.message


def test_unknown_host_is_dns(tmp_path: Path) -> None:
    config = write_config(tmp_path, one_target("probe: tcp\naddress: no-such-host.invalid:25"))
    result = probe_offline(config)["t"]
    assert result["reason"] == "dns"
    assert result["message"].startswith("cannot resolve no-such-host.invalid: ")


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("family", ["ip4", "ip6"])
async def test_ip_protocol_choice(tmp_path: Path, family: str) -> None:
    host = "::1" if family == "ip6" else "127.0.0.1"
    if family == "ip6" and not _ipv6_loopback():
        host = "127.0.0.1"  # no IPv6 on this machine: the ip4 path still runs
        family = "ip4"
    server = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    server.bind((host, 0))
    server.listen(1)
    port = server.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    try:
        observation = await tcp_probe(
            tmp_path, f"probe: tcp\naddress: '{shown}:{port}'\nip_protocol: {family}"
        )
    finally:
        server.close()
    assert observation.result.success, observation.result.message
