"""``pitwatch demo``: the simulated platform comes up healthy and fully probed, every fault
kind turns the right target's probes the expected way and back, the control command line
fails clearly without a demo, the incident tour plays through, and the demo stops cleanly.

One demo process serves the fault tests (1s interval, latencies scaled down): each test breaks
its own services and mends them before it ends.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from devtools.processes import answers, free_port, http_get, wait_until
from pitwatch.demo.accesslog import AccessLog
from pitwatch.demo.apps import APPS, Credentials, Simulation
from pitwatch.demo.catalog import AGGREGATED, AGGREGATOR, BY_NAME
from pitwatch.demo.faults import Fault, FaultBoard, parse_fault
from pitwatch.demo.platform import HttpListener
from tests.support.demo import TARGETS, DemoProcess, by_target, pitwatch, samples
from tests.support.services import promtool_check_metrics

FAULT_WAIT = 30.0
"""Generous: probes run every second, but the machine is shared."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    with DemoProcess(tmp_path_factory.mktemp("demo")) as running:
        running.wait_until_healthy()
        yield running
        running.set_fault("all", "ok")


# -- faults, as the command line takes them -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("down", Fault("down")),
        ("ok", Fault("ok")),
        ("hang", Fault("hang")),
        ("slow", Fault("slow")),
        ("slow=1500ms", Fault("slow", delay=1.5)),
        ("errors=0.2", Fault("errors", error_rate=0.2)),
        ("errors=20%", Fault("errors", error_rate=0.2)),
        ("errors=1", Fault("errors", error_rate=1.0)),
    ],
)
def test_fault_syntax(text: str, expected: Fault) -> None:
    assert parse_fault(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("broken", "unknown fault 'broken'"),
        ("errors", "unknown fault 'errors'"),
        ("errors=0", "the ratio must be above 0"),
        ("errors=1.5", "the ratio must be above 0"),
        ("errors=lots", "expected a ratio such as 0.2 or 20%"),
        ("slow=fast", "slow=fast: invalid duration"),
        ("down=1", "unknown fault 'down=1'"),
    ],
)
def test_fault_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_fault(text)


async def test_errors_fault_fails_exactly_its_share() -> None:
    board = FaultBoard(["psp"], seed=7)
    await board.set("psp", parse_fault("errors=0.2"))
    failures = sum(board.should_fail("psp") for _ in range(1000))
    assert failures == 200
    await board.set("psp", parse_fault("ok"))
    assert not any(board.should_fail("psp") for _ in range(100))


# -- the running demo ---------------------------------------------------------------------------


def test_every_target_probed_and_healthy(demo: DemoProcess) -> None:
    text = demo.metrics()
    success = by_target(text, "pitwatch_probe_success")
    assert set(success) == TARGETS
    assert all(value == 1 for value in success.values()), success

    info = _info(text)
    assert {target for target, labels in info.items() if labels["canary"] == "true"} == {
        "canary-cdn"
    }
    assert info["canary-cdn"]["component"] == "network"
    kinds = {labels["probe"] for labels in info.values()}
    assert kinds == {"http", "flow", "tcp", "logs"}
    components = {labels["component"] for labels in info.values()}
    assert components == {"api", "game_provider", "payment_gateway", "kyc", "network", "database"}

    # The payment sandbox declines its test card: HTTP 402, and that is the healthy answer.
    assert by_target(text, "pitwatch_http_status_code")["psp-northpay"] == 402
    steps = {
        labels["step"]: value
        for labels, value in _samples(text, "pitwatch_flow_step_success")
        if labels["target"] == "gp-aurora-live"
    }
    assert steps == {"auth": 1, "launch": 1, "lobby": 1}

    # Players' traffic reaches the access log and the logs probe counts it.
    def traffic() -> float:
        counted = _samples(demo.metrics(), "pitwatch_logs_requests_total")
        return sum(value for labels, value in counted if labels["route"] == "bets")

    wait_until(lambda: traffic() > 10, FAULT_WAIT, "player traffic counted from the access log")

    assert promtool_check_metrics(demo.metrics()) == ""
    status, page = http_get(f"{demo.url}/")
    assert status == 200
    assert all(target in page.decode() for target in TARGETS)
    checked = pitwatch("check-config", str(demo.config_path()))
    assert checked.returncode == 0, checked.stderr
    assert f"{len(TARGETS)} targets" in checked.stdout


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return list(samples(text, name))


def _info(text: str) -> dict[str, dict[str, str]]:
    return {labels["target"]: labels for labels, _ in _samples(text, "pitwatch_target_info")}


def _errors(demo: DemoProcess, reason: str) -> dict[str, float]:
    return by_target(demo.metrics(), "pitwatch_probe_errors_total", reason=reason)


def _break_and_mend(
    demo: DemoProcess, service: str, fault: str, broken: tuple[str, ...], reason: str
) -> None:
    before = _errors(demo, reason)
    assert demo.fault(service, fault).strip() == f"{service}: ok -> {fault}"

    def failing() -> bool:
        success, errors = demo.success(), _errors(demo, reason)
        return all(success[t] == 0 and errors[t] > before[t] for t in broken)

    wait_until(failing, FAULT_WAIT, f"{', '.join(broken)} failing with reason {reason}")
    demo.set_fault(service, "ok")
    wait_until(
        lambda: all(demo.success()[t] == 1 for t in broken), FAULT_WAIT, f"{service} recovered"
    )


@pytest.mark.parametrize(
    ("service", "fault", "reason"),
    [
        ("psp-northpay", "down", "connect"),  # its port closes: connection refused
        ("session-cache", "down", "connect"),
        ("gp-aurora-live", "down", "connect"),  # the launch step of the flow
        ("gp-ember-bingo", "down", "http_status"),  # the aggregator answers 502 for it
        ("kyc-verify", "hang", "timeout"),
        ("session-cache", "hang", "timeout"),
    ],
)
def test_fault_fails_the_target(demo: DemoProcess, service: str, fault: str, reason: str) -> None:
    _break_and_mend(demo, service, fault, (service,), reason)
    assert all(value == 1 for value in demo.success().values())


def test_aggregator_down_takes_its_providers_down(demo: DemoProcess) -> None:
    direct = ("gp-aurora-live", "gp-boreal-slots", "gp-cobalt-crash")
    before = _errors(demo, "connect")
    assert demo.fault(AGGREGATOR, "down").strip() == f"{AGGREGATOR}: ok -> down"
    try:

        def providers_down() -> bool:
            success, errors = demo.success(), _errors(demo, "connect")
            return all(success[p] == 0 and errors[p] > before[p] for p in AGGREGATED)

        wait_until(providers_down, FAULT_WAIT, "every provider behind the aggregator down")
        success = demo.success()
        assert [p for p in direct if success[p] != 1] == []
    finally:
        demo.set_fault(AGGREGATOR, "ok")
    wait_until(
        lambda: all(demo.success()[p] == 1 for p in AGGREGATED), FAULT_WAIT, "providers back"
    )


def test_slow_keeps_the_target_up_but_slower(demo: DemoProcess) -> None:
    target = "gp-boreal-slots"

    def duration() -> float:
        return by_target(demo.metrics(), "pitwatch_probe_duration_seconds")[target]

    def probes() -> float:
        return by_target(demo.metrics(), "pitwatch_probes_total", result="success")[target]

    usual = max(duration() for _ in range(3))
    failures = by_target(demo.metrics(), "pitwatch_probes_total", result="failure")[target]
    demo.set_fault(target, "slow")
    try:
        # 30% of the 0.8s timeout (1s interval) on top of a latency of a few milliseconds.
        wait_until(lambda: duration() > usual + 0.15, FAULT_WAIT, f"{target} answering slower")
        slow_since = probes()
        wait_until(lambda: probes() >= slow_since + 3, FAULT_WAIT, "three more slow probes")
        assert duration() > usual + 0.15
        assert demo.success()[target] == 1
        after = by_target(demo.metrics(), "pitwatch_probes_total", result="failure")[target]
        assert after == failures, "a slow target must still answer in time"
    finally:
        demo.set_fault(target, "ok")
    wait_until(lambda: duration() < usual + 0.15, FAULT_WAIT, f"{target} fast again")


def test_errors_fail_some_probes(demo: DemoProcess) -> None:
    target = "wallet-api"

    def counts() -> tuple[float, float, float]:
        text = demo.metrics()
        return (
            by_target(text, "pitwatch_probes_total", result="success")[target],
            by_target(text, "pitwatch_probes_total", result="failure")[target],
            by_target(text, "pitwatch_probe_errors_total", reason="http_status")[target],
        )

    ok_before, failed_before, status_before = counts()
    demo.set_fault(target, "errors=0.2")
    try:

        def mixed() -> bool:
            ok, failed, _ = counts()
            return ok >= ok_before + 2 and failed >= failed_before + 1

        wait_until(mixed, 45, f"{target} failing some probes and passing others")
        ok, failed, status = counts()
        # Every failure is the server error the fault makes, and most probes still pass.
        assert status - status_before == failed - failed_before
        assert ok - ok_before > failed - failed_before
    finally:
        demo.set_fault(target, "ok")


def test_a_fault_behind_the_api_shows_in_its_real_traffic(demo: DemoProcess) -> None:
    def failed_bets() -> float:
        counted = samples(demo.metrics(), "pitwatch_logs_requests_total")
        return sum(
            value
            for labels, value in counted
            if labels["route"] == "bets" and labels["status_class"] == "5xx"
        )

    before = failed_bets()
    demo.set_fault("wallet-api", "down")  # bets need the wallet: players get 502s
    try:
        wait_until(lambda: failed_bets() >= before + 5, FAULT_WAIT, "failed bets in the log")
    finally:
        demo.set_fault("wallet-api", "ok")


# -- the control command line -------------------------------------------------------------------


def test_fault_command_without_a_demo(tmp_path: Path) -> None:
    missing = tmp_path / "no-demo.json"
    result = pitwatch("demo", "fault", "--state-file", str(missing), "psp-northpay", "down")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("pitwatch: no demo is running"), result.stderr
    assert "Traceback" not in result.stderr

    # A demo that died without cleaning up left its state file behind.
    stale = tmp_path / "stale.json"
    stale.write_text(
        f'{{"pid": 1, "control_url": "http://127.0.0.1:{free_port()}", '
        '"exporter_url": "http://127.0.0.1:9469"}'
    )
    result = pitwatch("demo", "fault", "--state-file", str(stale), "psp-northpay", "down")
    assert result.returncode == 1
    assert result.stderr.startswith("pitwatch: no demo is running"), result.stderr
    assert result.stderr.count("\n") == 1

    # A typo in the fault is named even before any demo is looked for.
    result = pitwatch("demo", "fault", "--state-file", str(missing), "psp-northpay", "errors=3")
    assert result.returncode == 1
    assert result.stderr == (
        "pitwatch: errors=3: the ratio must be above 0 and at most 1 (100%)\n"
    ), result.stderr


def test_fault_command_on_a_running_demo(demo: DemoProcess) -> None:
    state = ("--state-file", str(demo.state_file))
    result = pitwatch("demo", "fault", *state, "no-such-service", "down")
    assert result.returncode == 1
    assert result.stderr.startswith("pitwatch: no service 'no-such-service' in the demo; one of:")
    assert "psp-northpay" in result.stderr
    assert result.stderr.count("\n") == 1

    listing = pitwatch("demo", "fault", *state)
    assert listing.returncode == 0, listing.stderr
    faults = dict(line.split() for line in listing.stdout.splitlines())
    assert set(faults) == set(BY_NAME)
    assert set(faults.values()) == {"ok"}

    result = pitwatch("demo", "fault", *state, "all", "down")
    assert result.returncode == 1
    assert "only `all ok`" in result.stderr


# -- start, stop, the tour ------------------------------------------------------------------------


def test_stops_cleanly_on_ctrl_c_even_with_hung_requests(tmp_path: Path) -> None:
    demo = DemoProcess(tmp_path / "demo").start()
    try:
        demo.wait_until_healthy()
        config = demo.config_path()
        assert config.exists()
        assert "psp-northpay down" in demo.output()  # the banner says how to inject a fault
        demo.set_fault("kyc-verify", "hang")
        demo.set_fault("session-cache", "hang")
        wait_until(lambda: demo.success()["kyc-verify"] == 0, FAULT_WAIT, "kyc-verify hanging")
        assert demo.process is not None
        started = time.monotonic()
        demo.process.send_signal(signal.SIGINT)
        assert demo.process.wait(30) == 0, demo.output()
        stopped_in = time.monotonic() - started
    finally:
        demo.stop()
    assert stopped_in < 15, f"stopping took {stopped_in:.1f}s"
    assert demo.output().rstrip().endswith("demo stopped")
    assert "Traceback" not in demo.output()
    assert not demo.state_file.exists()
    assert not config.parent.exists(), "the demo's temporary directory is left behind"
    assert not answers(f"{demo.url}/-/ready")


async def test_a_client_gone_before_its_request_body_is_no_server_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What made the Ctrl-C test above flaky: stopping the demo stops the exporter first, and
    a payment probe cut off after its headers, before its body, left the simulated gateway
    reading a body that never came; aiohttp logged that as an "Error handling request"
    traceback. The gateway now sees a client that hung up (499), as nginx would."""
    sim = Simulation(
        board=FaultBoard(["psp-northpay"]),
        rng=random.Random(1),
        credentials=Credentials(),
        access_log=AccessLog(tmp_path / "access.log"),
        latency_scale=0.01,
    )
    token = sim.psp_tokens.issue()
    app = APPS["psp_authorise"](sim, BY_NAME["psp-northpay"])
    handling = asyncio.Event()

    @web.middleware
    async def entered(request: web.Request, handler: Handler) -> web.StreamResponse:
        handling.set()  # the request is being handled: the server will notice the hang-up
        return await handler(request)

    app.middlewares.append(entered)
    caplog.set_level(logging.DEBUG)
    server = HttpListener(app)  # the demo's own server set-up (aiohttp's test server differs)
    await server.open()
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /v1/payments/authorise HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {token}\r\n".encode()
            + b'Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"card"'
        )
        await writer.drain()
        await asyncio.wait_for(handling.wait(), 10)
        writer.transport.abort()  # as a cancelled probe's connection goes
        for _ in range(500):
            if "client closed the request" in caplog.text:
                break
            await asyncio.sleep(0.02)
    finally:
        await server.cleanup()
        sim.access_log.close()
    assert "psp-northpay: client closed the request /v1/payments/authorise" in caplog.text
    assert "Error handling request" not in caplog.text
    assert "Traceback" not in caplog.text


def test_port_taken_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        state = tmp_path / "state.json"
        result = pitwatch(
            "demo", "--listen", f"127.0.0.1:{port}", "--state-file", str(state), timeout=60
        )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"pitwatch: cannot listen on 127.0.0.1:{port} for pitwatch: address already in use "
        "(is `make run` or another demo running? use --listen)"
    ), result.stderr
    assert "Traceback" not in result.stderr
    assert not state.exists()


def test_incident_tour_plays_through(tmp_path: Path) -> None:
    pace = 5
    demo = DemoProcess(tmp_path / "tour", "--incident-tour", "--tour-pace", f"{pace}s").start()
    try:
        wait_until(lambda: "Tour over" in demo.output(), 120, "the end of the tour", interval=0.5)
        assert demo.success() == dict.fromkeys(TARGETS, 1.0)
    finally:
        stopped = demo.stop()  # SIGTERM, as a service manager would
    output = demo.output()
    assert stopped == 0, output
    assert output.rstrip().endswith("demo stopped")
    assert not demo.state_file.exists()
    acts = [
        "1/4  A game provider slows down",
        "2/4  A payment gateway fails",
        "3/4  The game aggregator drops",
        "4/4  Everything recovers",
    ]
    positions = [output.index(act) for act in acts]
    assert positions == sorted(positions)
    # What pitwatch saw, reported act by act.
    assert "$ pitwatch demo fault gp-boreal-slots slow" in output
    assert "pitwatch sees gp-boreal-slots: up, answered in" in output
    assert "pitwatch sees psp-northpay: down, connect: " in output
    for provider in AGGREGATED:
        assert f"pitwatch sees {provider}: down, connect: " in output, output
    assert f"pitwatch sees {len(TARGETS)} of {len(TARGETS)} targets up" in output


def test_help_lists_the_fault_syntax() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pitwatch", "demo", "fault", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert "down | slow[=DURATION] | errors=RATIO | hang | ok" in " ".join(result.stdout.split())
