"""The icmp prober, for real, and only ever towards loopback.

In this process: echo to 127.0.0.1 and ::1 with whatever socket this process may open.
In private network namespaces (:mod:`tests.sandbox`), which hold nothing but their own
``lo``: each socket kind forced in turn, a kernel that ignores echo requests (sysctl
``icmp_echo_ignore_all``, the no-reply path), a loopback that is down (sending fails), a
kernel that stops answering after the first reply (partial loss), and a process that may
open neither socket (the config-time check).
"""

from __future__ import annotations

import json
import re
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools import REPO
from devtools.processes import wait_until
from pitwatch.config import Config, ConfigError
from pitwatch.probes.icmp import IcmpNotPermitted, checksum, echo_request, open_socket
from pitwatch.reasons import Reason
from pitwatch.result import Observation
from pitwatch.scheduler import Scheduler
from pitwatch.selfmetrics import SelfMetrics
from pitwatch.store import ResultStore
from tests.support.sandbox import Sandbox
from tests.support.services import Pitwatch, promtool_check_metrics, run_tool
from tests.support.targets import config_from, one_target, probe_target, samples_of, write_config


def _icmp_permitted() -> bool:
    try:
        sock, _ = open_socket(socket.AF_INET)
    except IcmpNotPermitted:
        return False
    sock.close()
    return True


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


PERMITTED = _icmp_permitted()
NO_PERMISSION = (
    "this test process may open no ICMP socket: run the suite as root, or widen "
    "net.ipv4.ping_group_range (the sandbox tests below cover every socket kind anyway)"
)


def value(observation: Observation, family: str) -> float | None:
    return samples_of(observation).get((family, ()))


async def icmp_probe(tmp_path: Path, body: str, probe_timeout: str = "2s") -> Observation:
    assert PERMITTED, NO_PERMISSION
    return await probe_target(config_from(tmp_path, one_target(body, timeout=probe_timeout)))


async def test_echo_ipv4_loopback(tmp_path: Path) -> None:
    observation = await icmp_probe(tmp_path, "probe: icmp\nhost: 127.0.0.1")
    result = observation.result
    assert result.success, result.message
    assert result.message == "3 of 3 echo replies from 127.0.0.1"
    assert value(observation, "pitwatch_icmp_packets_sent_total") == 3
    assert value(observation, "pitwatch_icmp_packets_received_total") == 3
    assert value(observation, "pitwatch_icmp_packet_loss_ratio") == 0
    rtt = value(observation, "pitwatch_icmp_rtt_seconds")
    assert rtt is not None and 0 < rtt < observation.duration
    details = dict(result.details)
    assert details["socket"] in ("datagram", "raw")
    assert details["address"] == "127.0.0.1"
    assert re.fullmatch(r"min [\d.]+ ms, avg [\d.]+ ms, max [\d.]+ ms", details["rtt"])


async def test_echo_ipv6_loopback(tmp_path: Path) -> None:
    observation = await icmp_probe(tmp_path, "probe: icmp\nhost: '::1'")
    if not _ipv6_loopback():  # a machine without IPv6: the probe says so, it does not hang
        assert observation.result.reason is Reason.CONNECT, observation.result.message
        return
    assert observation.result.success, observation.result.message
    assert observation.result.message == "3 of 3 echo replies from ::1"
    assert value(observation, "pitwatch_icmp_packets_received_total") == 3


async def test_packets_are_spaced_by_packet_interval(tmp_path: Path) -> None:
    body = "probe: icmp\nhost: 127.0.0.1\npackets: 4\npacket_interval: 150ms"
    observation = await icmp_probe(tmp_path, body)
    assert observation.result.success, observation.result.message
    assert value(observation, "pitwatch_icmp_packets_sent_total") == 4
    assert observation.duration >= 3 * 0.15


async def test_counters_add_up_across_probes(tmp_path: Path) -> None:
    assert PERMITTED, NO_PERMISSION
    body = "probe: icmp\nhost: 127.0.0.1\npackets: 2\npacket_interval: 10ms"
    config: Config = config_from(tmp_path, one_target(body))
    store = ResultStore()
    store.apply_config(config)
    scheduler = Scheduler(store, SelfMetrics(), config.global_.max_concurrency)
    target = config.targets[0]
    await scheduler.run_probe(target)
    second = await scheduler.run_probe(target)
    assert value(second, "pitwatch_icmp_packets_sent_total") == 4
    assert value(second, "pitwatch_icmp_packets_received_total") == 4
    assert value(second, "pitwatch_icmp_packet_loss_ratio") == 0  # of the last probe only


async def test_a_timeout_too_short_for_all_packets_sends_fewer(tmp_path: Path) -> None:
    # The global timeout cannot be checked against packets at config time (an explicit
    # target timeout is: see test_config_errors), so the probe says what it did.
    body = "probe: icmp\nhost: 127.0.0.1\npackets: 5\npacket_interval: 300ms"
    observation = await icmp_probe(tmp_path, body, probe_timeout="500ms")
    assert observation.result.success, observation.result.message
    sent = value(observation, "pitwatch_icmp_packets_sent_total")
    assert sent is not None and 1 <= sent < 5
    assert dict(observation.result.details)["packets"] == (
        f"only {sent:g} of 5 sent before the timeout"
    )


def test_echo_request_checksum() -> None:
    packet = echo_request(socket.AF_INET, 0x1234, 7, b"cookie!!")
    assert len(packet) == 64
    assert checksum(packet) == 0  # a packet with its checksum in place sums to zero
    assert packet[:2] == b"\x08\x00"
    assert echo_request(socket.AF_INET6, 0x1234, 7, b"cookie!!")[:4] == b"\x80\x00\x00\x00"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            "host: 127.0.0.1\npackets: 5\npacket_interval: 1s\ntimeout: 3s",
            "5 packets 1s apart take 4s to send, not less than the 3s timeout: send fewer, "
            "closer or allow longer",
        ),
        ("host: 127.0.0.1\nip_protocol: ip6", "host 127.0.0.1 is IPv4 but ip_protocol is ip6"),
        (
            "host: '[::1]'",
            "host: host must be a name or an IP address, got '[::1]'",
        ),
        ("host: 'db.example.com:5432'", "host must be a name or an IP address"),
        ("host: 127.0.0.1\npackets: 0", "packets: should be greater than or equal to 1"),
        ("host: 127.0.0.1\nmax_packet_loss: 100%", "max_packet_loss: should be less than 1"),
        ("host: 127.0.0.1\nmax_packet_loss: lots%", "invalid percentage 'lots%'"),
    ],
)
def test_config_errors(tmp_path: Path, keys: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from(tmp_path, one_target(f"probe: icmp\n{keys}"))
    problems = caught.value.problems
    assert len(problems) == 1, problems
    assert message in problems[0], problems[0]


def test_max_packet_loss_accepts_ratio_and_percent(tmp_path: Path) -> None:
    assert PERMITTED, NO_PERMISSION
    for written, meant in (("0", 0.0), ("25%", 0.25), ("0.5", 0.5)):
        body = f"probe: icmp\nhost: 127.0.0.1\nmax_packet_loss: {written}"
        spec = config_from(tmp_path, one_target(body)).targets[0].spec
        assert getattr(spec, "max_packet_loss") == meant  # noqa: B009 - TargetBase type


# -- in private network namespaces --------------------------------------------------------

HOSTS = "127.0.0.1 localhost\n127.0.0.1 icmp4.pitwatch.test\n::1 icmp6.pitwatch.test\n"
DATAGRAM_ONLY = Sandbox(sysctls={"net.ipv4.ping_group_range": "0 0"}, drop_net_raw=True)
RAW_ONLY = Sandbox()  # a new namespace's ping_group_range is empty ("1 0"): raw, as root
IGNORE_ECHO = {"net.ipv4.icmp_echo_ignore_all": "1", "net.ipv6.icmp.echo_ignore_all": "1"}


def icmp_config(tmp_path: Path, timeout: str, targets: dict[str, str]) -> Path:
    lines = [f"global: {{interval: 10s, timeout: {timeout}}}", "host: {enabled: false}"]
    lines.append("targets:")
    for name, keys in targets.items():
        lines.append(f"  - {{name: {name}, component: network, probe: icmp, {keys}}}")
    return write_config(tmp_path, "\n".join(lines) + "\n")


def in_sandbox(sandbox: Sandbox, config: Path, *extra: str) -> dict[str, Any]:
    run = sandbox.run(sys.executable, "-m", "tests.support.probe_once", str(config), *extra)
    assert run.returncode == 0, run.stderr
    results: dict[str, Any] = json.loads(run.stdout)
    assert "config_error" not in results, results
    return results


def sample(result: dict[str, Any], family: str) -> float | None:
    for name, _, number in result["samples"]:
        if name == family:
            return float(number)
    return None


@pytest.mark.parametrize(
    ("sandbox", "kind"), [(DATAGRAM_ONLY, "datagram"), (RAW_ONLY, "raw")], ids=["dgram", "raw"]
)
def test_each_socket_kind_with_names(tmp_path: Path, sandbox: Sandbox, kind: str) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    config = icmp_config(
        tmp_path,
        "2s",
        {
            "v4": "host: 127.0.0.1, packet_interval: 50ms",
            "v6": "host: '::1', packet_interval: 50ms",
            "name4": "host: icmp4.pitwatch.test, packet_interval: 50ms",
            "name6": "host: icmp6.pitwatch.test, ip_protocol: ip6, packet_interval: 50ms",
            "unknown": "host: missing.pitwatch.test",
        },
    )
    files = {"/etc/hosts": str(hosts), "/etc/resolv.conf": str(resolv)}
    with_files = Sandbox(sysctls=sandbox.sysctls, drop_net_raw=sandbox.drop_net_raw, files=files)
    results = in_sandbox(with_files, config, "--serve-dns", "53")
    addresses = {"v4": "127.0.0.1", "v6": "::1", "name4": "127.0.0.1", "name6": "::1"}
    for name, address in addresses.items():
        result = results[name]
        assert result["success"], (name, result["message"])
        assert result["details"] == {
            "address": address,
            "socket": kind,
            "rtt": result["details"]["rtt"],
        }
        assert sample(result, "pitwatch_icmp_packets_received_total") == 3
    unknown = results["unknown"]
    assert unknown["reason"] == "dns"
    assert unknown["message"].startswith("cannot resolve missing.pitwatch.test: ")
    assert sample(unknown, "pitwatch_icmp_packets_sent_total") == 0


@pytest.mark.parametrize("sandbox", [DATAGRAM_ONLY, RAW_ONLY], ids=["dgram", "raw"])
def test_no_reply_is_timeout_with_full_loss(tmp_path: Path, sandbox: Sandbox) -> None:
    config = icmp_config(
        tmp_path,
        "600ms",
        {
            "v4": "host: 127.0.0.1, packets: 2, packet_interval: 100ms",
            "v6": "host: '::1', packets: 2, packet_interval: 100ms",
        },
    )
    ignoring = Sandbox(
        sysctls={**sandbox.sysctls, **IGNORE_ECHO}, drop_net_raw=sandbox.drop_net_raw
    )
    results = in_sandbox(ignoring, config)
    for name, address in (("v4", "127.0.0.1"), ("v6", "::1")):
        result = results[name]
        assert result["reason"] == "timeout", result["message"]
        assert result["message"] == f"no echo reply from {address} to 2 request(s)"
        assert sample(result, "pitwatch_icmp_packet_loss_ratio") == 1
        assert sample(result, "pitwatch_icmp_packets_sent_total") == 2
        assert sample(result, "pitwatch_icmp_packets_received_total") == 0
        assert sample(result, "pitwatch_icmp_rtt_seconds") is None
        assert result["duration"] >= 0.5  # waited until just before the 600ms deadline


def test_unsendable_is_connect(tmp_path: Path) -> None:
    config = icmp_config(tmp_path, "1s", {"v4": "host: 127.0.0.1"})
    results = in_sandbox(Sandbox(loopback_up=False), config)
    assert results["v4"]["reason"] == "connect"
    assert results["v4"]["message"] == (
        "cannot send an echo request to 127.0.0.1: network is unreachable"
    )
    assert sample(results["v4"], "pitwatch_icmp_packets_sent_total") == 0
    assert sample(results["v4"], "pitwatch_icmp_packet_loss_ratio") is None  # nothing sent


def test_partial_loss_over_max_packet_loss_is_assertion(tmp_path: Path) -> None:
    config = icmp_config(
        tmp_path,
        "1500ms",
        {"v4": "host: 127.0.0.1, packets: 3, packet_interval: 400ms, max_packet_loss: 0"},
    )
    results = in_sandbox(RAW_ONLY, config, "--ignore-echo-after-first-reply")
    result = results["v4"]
    received = sample(result, "pitwatch_icmp_packets_received_total")
    assert received is not None and 1 <= received < 3, result
    lost = 3 - received
    assert result["reason"] == "assertion", result["message"]
    assert result["message"] == (
        f"lost {lost:g} of 3 packets ({lost / 3:.0%}), more than max_packet_loss 0%"
    )
    assert sample(result, "pitwatch_icmp_packet_loss_ratio") == pytest.approx(lost / 3)
    assert sample(result, "pitwatch_icmp_rtt_seconds") is not None


def test_check_config_says_what_permission_is_missing(tmp_path: Path) -> None:
    config = icmp_config(tmp_path, "1s", {"gateway": "host: 127.0.0.1"})
    forbidden = Sandbox(drop_net_raw=True)  # and the new namespace's empty ping_group_range
    run = forbidden.run(sys.executable, "-m", "pitwatch", "check-config", str(config))
    assert run.returncode == 1
    line = run.stdout.strip() or run.stderr.strip()
    # Root in a user namespace shows the unmapped range "1 0" as "65534 65534".
    assert re.fullmatch(
        rf"{re.escape(str(config))}:4: target \"gateway\": probe: ICMP is not permitted for "
        r"this process \(uid 0, gid 0\): add its group to sysctl net.ipv4.ping_group_range "
        r'\(now "(1 0|65534 65534)"\) or give it CAP_NET_RAW',
        line,
    ), line


def test_pitwatch_run_exposes_clean_icmp_metrics(tmp_path: Path) -> None:
    assert PERMITTED, NO_PERMISSION
    config = write_config(
        tmp_path,
        """\
        global: {interval: 1s, timeout: 800ms}
        host: {enabled: false}
        targets:
          - {name: gw-v4, component: network, tier: 1, probe: icmp, host: 127.0.0.1}
          - {name: gw-v6, component: network, probe: icmp, host: "::1", packets: 2}
        """,
    )
    with Pitwatch(tmp_path / "run", config) as pitwatch:

        def probed() -> bool:
            text = pitwatch.metrics()
            return all(
                f'pitwatch_icmp_packet_loss_ratio{{target="{name}"' in text
                for name in ("gw-v4", "gw-v6")
            )

        wait_until(probed, 30, "the first icmp probes")
        text = pitwatch.metrics()
    assert promtool_check_metrics(text) == ""
    assert re.search(r'^pitwatch_probe_success\{target="gw-v4",.*\} 1$', text, re.M)
    assert re.search(r'^pitwatch_icmp_rtt_seconds\{target="gw-v4",.*\} [0-9.e-]+$', text, re.M)
    sent = re.search(r'^pitwatch_icmp_packets_sent_total\{target="gw-v6",.*\} (\d+)$', text, re.M)
    assert sent is not None and int(sent.group(1)) % 2 == 0 and int(sent.group(1)) >= 2


def test_example_config_is_valid() -> None:
    assert PERMITTED, NO_PERMISSION
    example = REPO / "deploy" / "examples" / "icmp.yml"
    result = run_tool(sys.executable, "-m", "pitwatch", "check-config", str(example))
    assert re.fullmatch(rf"{re.escape(str(example))}: OK, \d+ targets", result.stdout.strip())
