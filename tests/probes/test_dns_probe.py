"""The dns prober against a real DNS server on loopback (:mod:`tests.dns_server`)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import REPO
from devtools.processes import free_port, wait_until
from pitwatch.config import ConfigError
from pitwatch.probes.dns import system_nameserver
from pitwatch.reasons import Reason
from pitwatch.result import Observation
from tests.support.dns_server import DnsServer
from tests.support.sandbox import Sandbox, offline_resolver
from tests.support.services import Pitwatch, promtool_check_metrics, run_tool
from tests.support.targets import config_from, one_target, probe_target, samples_of, write_config


@pytest.fixture(scope="module")
def server() -> Iterator[DnsServer]:
    with DnsServer() as running:
        yield running


async def dns_probe(tmp_path: Path, body: str, probe_timeout: str = "2s") -> Observation:
    return await probe_target(config_from(tmp_path, one_target(body, timeout=probe_timeout)))


def query(server: DnsServer, name: str, *extra: str) -> str:
    return "\n".join(("probe: dns", f"server: {server.address}", f"query_name: {name}", *extra))


def phase(observation: Observation, name: str) -> float:
    return samples_of(observation)[("pitwatch_dns_phase_duration_seconds", (("phase", name),))]


def value(observation: Observation, family: str) -> float | None:
    return samples_of(observation).get((family, ()))


# Every record type, over both transports, with an answers_match_all regex that every
# answer of the zone satisfies (so the text the regexes see is pinned too).
RECORD_CASES = [
    ("lobby.pitwatch.test", "A", 2, r"^192\.0\.2\.1[01]$"),
    ("lobby.pitwatch.test", "AAAA", 1, r"^2001:db8::10$"),
    ("www.pitwatch.test", "CNAME", 1, r"^lobby\.pitwatch\.test\.$"),
    ("pitwatch.test", "MX", 2, r"^(10 mx1|20 mx2)\.pitwatch\.test\.$"),
    ("pitwatch.test", "TXT", 2, r"^(v=spf1 -all|site-verification=abc123)$"),
    ("_sip._tcp.pitwatch.test", "SRV", 1, r"^0 5 5060 sip\.pitwatch\.test\.$"),
    ("pitwatch.test", "NS", 2, r"^ns[12]\.pitwatch\.test\.$"),
]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("case", RECORD_CASES, ids=[case[1] for case in RECORD_CASES])
async def test_every_record_type(
    server: DnsServer, tmp_path: Path, transport: str, case: tuple[str, str, int, str]
) -> None:
    name, rdtype, count, regex = case
    body = query(
        server,
        name,
        f"query_type: {rdtype.lower()}",
        f"transport: {transport}",
        f"answers_match_all: '{regex}'",
    )
    observation = await dns_probe(tmp_path, body)
    result = observation.result
    assert result.success, result.message
    assert result.message == f"NOERROR, {count} {rdtype} record(s) from {server.address}"
    assert value(observation, "pitwatch_dns_answer_records") == count
    assert value(observation, "pitwatch_dns_response_code") == 0
    assert phase(observation, "resolve") == 0
    assert phase(observation, "request") > 0
    assert (phase(observation, "connect") > 0) is (transport == "tcp")
    assert server.transports_for(f"{name}.")[-1] == transport


async def test_cname_chain_counts_only_the_queried_type(server: DnsServer, tmp_path: Path) -> None:
    body = query(server, "www.pitwatch.test", "answers_match_all: '^192\\.0\\.2\\.'")
    observation = await dns_probe(tmp_path, body)
    assert observation.result.success, observation.result.message
    assert value(observation, "pitwatch_dns_answer_records") == 2
    assert dict(observation.result.details)["answers"] in (
        "192.0.2.10, 192.0.2.11",
        "192.0.2.11, 192.0.2.10",
    )


@pytest.mark.parametrize(
    ("name", "rcode", "number"),
    [
        ("missing.pitwatch.test", "NXDOMAIN", 3),
        ("servfail.pitwatch.test", "SERVFAIL", 2),
        ("example.com", "REFUSED", 5),
    ],
)
async def test_unexpected_rcode_is_dns(
    server: DnsServer, tmp_path: Path, name: str, rcode: str, number: int
) -> None:
    observation = await dns_probe(tmp_path, query(server, name))
    assert observation.result.reason is Reason.DNS
    assert observation.result.message == f"{name}. A: {rcode} (expected NOERROR)"
    assert value(observation, "pitwatch_dns_response_code") == number
    assert value(observation, "pitwatch_dns_answer_records") == 0


async def test_expected_nxdomain_passes_without_answers(server: DnsServer, tmp_path: Path) -> None:
    body = query(server, "blocked.pitwatch.test", "valid_rcodes: [nxdomain]")
    observation = await dns_probe(tmp_path, body)
    assert observation.result.success, observation.result.message
    assert value(observation, "pitwatch_dns_response_code") == 3


async def test_nodata_fails_the_default_min_answers(server: DnsServer, tmp_path: Path) -> None:
    observation = await dns_probe(tmp_path, query(server, "nodata.pitwatch.test"))
    assert observation.result.reason is Reason.ASSERTION
    assert observation.result.message == "0 A record(s) in the answer, expected at least 1"
    relaxed = await dns_probe(tmp_path, query(server, "nodata.pitwatch.test", "min_answers: 0"))
    assert relaxed.result.success, relaxed.result.message


async def test_min_answers(server: DnsServer, tmp_path: Path) -> None:
    body = query(server, "lobby.pitwatch.test", "min_answers: 3")
    observation = await dns_probe(tmp_path, body)
    assert observation.result.reason is Reason.ASSERTION
    assert observation.result.message == "2 A record(s) in the answer, expected at least 3"


@pytest.mark.parametrize(
    ("key", "regex", "message"),
    [
        (
            "answers_match_all",
            "^192\\.0\\.2\\.10$",
            "answer '192.0.2.11' does not match answers_match_all /^192\\.0\\.2\\.10$/",
        ),
        (
            "answers_match_any",
            "^10\\.",
            "no answer matches answers_match_any /^10\\./ (got {answers})",
        ),
        (
            "answers_match_none",
            "^192\\.0\\.2\\.11$",
            "answer '192.0.2.11' matches answers_match_none /^192\\.0\\.2\\.11$/",
        ),
    ],
)
async def test_answer_regex_failures(
    server: DnsServer, tmp_path: Path, key: str, regex: str, message: str
) -> None:
    observation = await dns_probe(
        tmp_path, query(server, "lobby.pitwatch.test", f"{key}: '{regex}'")
    )
    assert observation.result.reason is Reason.ASSERTION
    assert observation.result.message in (
        message.format(answers="192.0.2.10, 192.0.2.11"),
        message.format(answers="192.0.2.11, 192.0.2.10"),
    )


async def test_answer_regexes_that_hold(server: DnsServer, tmp_path: Path) -> None:
    body = query(
        server,
        "lobby.pitwatch.test",
        "answers_match_any: '^192\\.0\\.2\\.11$'",
        "answers_match_none: '^(0\\.0\\.0\\.0|127\\.)'",
    )
    observation = await dns_probe(tmp_path, body)
    assert observation.result.success, observation.result.message


async def test_slow_answer_is_timed(server: DnsServer, tmp_path: Path) -> None:
    observation = await dns_probe(tmp_path, query(server, "slow.pitwatch.test"))
    assert observation.result.success, observation.result.message
    assert phase(observation, "request") >= server.delay


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_no_answer_is_timeout(server: DnsServer, tmp_path: Path, transport: str) -> None:
    body = query(server, "silent.pitwatch.test", f"transport: {transport}")
    observation = await dns_probe(tmp_path, body, probe_timeout="400ms")
    assert observation.result.reason is Reason.TIMEOUT
    assert observation.result.message == (
        f"no answer within 400ms (asking {server.address} over {transport.upper()} "
        "for silent.pitwatch.test. A)"
    )
    assert phase(observation, "request") == 0
    assert value(observation, "pitwatch_dns_response_code") is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("garbage.pitwatch.test", "sent something that is not a DNS message"),
        ("wrongid.pitwatch.test", "answered a different query (id or question)"),
    ],
)
async def test_not_an_answer_is_protocol(
    server: DnsServer, tmp_path: Path, name: str, message: str
) -> None:
    observation = await dns_probe(tmp_path, query(server, name))
    assert observation.result.reason is Reason.PROTOCOL
    assert observation.result.message.startswith(f"{server.address} {message}")


async def test_tcp_hangup_is_connect(server: DnsServer, tmp_path: Path) -> None:
    body = query(server, "hangup.pitwatch.test", "transport: tcp")
    observation = await dns_probe(tmp_path, body)
    assert observation.result.reason is Reason.CONNECT
    assert observation.result.message == (
        f"{server.address} closed the connection without a complete answer"
    )


async def test_truncated_udp_answer_is_asked_again_over_tcp(
    server: DnsServer, tmp_path: Path
) -> None:
    observation = await dns_probe(tmp_path, query(server, "big.pitwatch.test", "query_type: TXT"))
    assert observation.result.success, observation.result.message
    assert value(observation, "pitwatch_dns_answer_records") == 12
    assert server.transports_for("big.pitwatch.test.")[-2:] == ["udp", "tcp"]
    assert phase(observation, "connect") > 0


@pytest.mark.parametrize(
    ("transport", "message"),
    [
        ("udp", "cannot query 127.0.0.1:{port} over UDP: connection refused"),
        ("tcp", "cannot connect to 127.0.0.1:{port}: connection refused"),
    ],
)
async def test_nothing_listening_is_connect(tmp_path: Path, transport: str, message: str) -> None:
    port = free_port()
    body = f"probe: dns\nserver: 127.0.0.1:{port}\nquery_name: x.test\ntransport: {transport}"
    observation = await dns_probe(tmp_path, body)
    assert observation.result.reason is Reason.CONNECT
    assert observation.result.message == message.format(port=port)


async def test_server_given_by_name(server: DnsServer, tmp_path: Path) -> None:
    body = (
        f"probe: dns\nserver: localhost:{server.port}\nip_protocol: ip4\n"
        "query_name: lobby.pitwatch.test"
    )
    observation = await dns_probe(tmp_path, body)
    assert observation.result.success, observation.result.message
    assert observation.result.message.endswith(f"from localhost:{server.port}")
    assert phase(observation, "resolve") > 0


async def test_recursion_desired_flag(server: DnsServer, tmp_path: Path) -> None:
    for wanted in (True, False):
        body = query(server, "lobby.pitwatch.test", f"recursion_desired: {str(wanted).lower()}")
        observation = await dns_probe(tmp_path, body)
        assert observation.result.success, observation.result.message
        assert server.seen[-1][3] is wanted


def test_system_nameserver(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# generated\nsearch example.com\nnameserver 10.1.2.3\nnameserver ::1\n")
    assert system_nameserver(resolv) == "10.1.2.3"
    resolv.write_text("options ndots:2\n")
    assert system_nameserver(resolv) == "127.0.0.1"  # what glibc uses without a nameserver
    assert system_nameserver(tmp_path / "missing") == "127.0.0.1"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            "query_name: lobby.example.com\nquery_type: PTR",
            "query_type: must be 'A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV' or 'NS', got 'PTR'",
        ),
        (
            "query_name: lobby.example.com\nvalid_rcodes: [NOERROR, NOPE]",
            "valid_rcodes: unknown rcode 'NOPE' (e.g. NOERROR, NXDOMAIN, SERVFAIL, REFUSED)",
        ),
        (
            "query_name: lobby.example.com\nanswers_match_any: '(unclosed'",
            "answers_match_any: invalid regular expression: missing ), unterminated subpattern "
            "at position 0",
        ),
        (
            "query_name: lobby.example.com\nserver: 'ns1.example.com:99999'",
            "server: server port must be 1-65535, got '99999'",
        ),
        (
            "query_name: lobby.example.com\nserver: '2001:db8::53:53x'",
            "server: write an IPv6 server with a port in brackets, e.g. [2001:db8::53]:53",
        ),
        (
            f"query_name: {'a' * 64}.example.com",
            f"query_name: invalid query_name '{'a' * 64}.example.com': A DNS label is > 63 "
            "octets long.",
        ),
        ("query_name: x.example.com\nmin_answers: -1", "min_answers: should be greater than"),
        ("query_name: x.example.com\ntransport: doh", "transport: must be 'udp' or 'tcp'"),
    ],
)
def test_config_errors(tmp_path: Path, keys: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from(tmp_path, one_target(f"probe: dns\n{keys}"))
    problems = caught.value.problems
    assert len(problems) == 1, problems
    assert f': target "t": {message}' in problems[0], problems[0]


def test_system_resolver_and_server_names(tmp_path: Path) -> None:
    """In a private network and mount namespace, /etc/resolv.conf points at a DNS server
    on 127.0.0.1:53: the default server, and server names resolve through it."""
    config = write_config(
        tmp_path,
        """\
        global: {interval: 10s, timeout: 3s}
        host: {enabled: false}
        targets:
          - {name: system, component: network, probe: dns, query_name: lobby.pitwatch.test}
          - name: by-name
            component: network
            probe: dns
            server: ns1.pitwatch.test
            query_name: _sip._tcp.pitwatch.test
            query_type: SRV
          - name: unknown-server
            component: network
            probe: dns
            server: ns9.pitwatch.test:53
            query_name: lobby.pitwatch.test
        """,
    )
    sandbox = Sandbox(files=offline_resolver(tmp_path))
    run = sandbox.run(
        sys.executable, "-m", "tests.support.probe_once", str(config), "--serve-dns", "53"
    )
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    system, by_name, unknown = results["system"], results["by-name"], results["unknown-server"]
    assert system["success"], system["message"]
    assert system["message"] == "NOERROR, 2 A record(s) from 127.0.0.1:53"
    assert by_name["success"], by_name["message"]
    assert by_name["message"] == "NOERROR, 1 SRV record(s) from ns1.pitwatch.test:53"
    resolve = [
        sample[2]
        for sample in by_name["samples"]
        if sample[0] == "pitwatch_dns_phase_duration_seconds" and sample[1]["phase"] == "resolve"
    ]
    assert resolve[0] > 0
    assert unknown["reason"] == "dns"
    assert unknown["message"].startswith("cannot resolve server ns9.pitwatch.test: ")


def test_pitwatch_run_exposes_clean_dns_metrics(server: DnsServer, tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        f"""\
        global: {{interval: 1s, timeout: 500ms}}
        host: {{enabled: false}}
        targets:
          - name: lobby-dns
            component: network
            tier: 1
            probe: dns
            server: {server.address}
            query_name: lobby.pitwatch.test
          - name: mail-dns
            component: network
            probe: dns
            server: {server.address}
            transport: tcp
            query_name: pitwatch.test
            query_type: MX
          - name: missing-dns
            component: network
            probe: dns
            server: {server.address}
            query_name: missing.pitwatch.test
        """,
    )
    with Pitwatch(tmp_path / "run", config) as pitwatch:

        def probed() -> bool:
            text = pitwatch.metrics()
            return all(
                f'pitwatch_dns_response_code{{target="{name}"' in text
                for name in ("lobby-dns", "mail-dns", "missing-dns")
            )

        wait_until(probed, 30, "the first dns probes")
        text = pitwatch.metrics()
    assert promtool_check_metrics(text) == ""
    assert re.search(r'^pitwatch_probe_success\{target="lobby-dns",.*\} 1$', text, re.M)
    assert re.search(r'^pitwatch_probe_success\{target="mail-dns",.*\} 1$', text, re.M)
    failures = re.search(
        r'^pitwatch_probe_errors_total\{target="missing-dns",.*reason="dns"\} (\d+)$', text, re.M
    )
    assert failures is not None and int(failures.group(1)) >= 1
    assert re.search(r'^pitwatch_dns_response_code\{target="missing-dns",.*\} 3$', text, re.M)


def test_example_config_is_valid() -> None:
    example = REPO / "deploy" / "examples" / "dns.yml"
    result = run_tool(sys.executable, "-m", "pitwatch", "check-config", str(example))
    assert result.stdout.strip() == f"{example}: OK, 9 targets"
