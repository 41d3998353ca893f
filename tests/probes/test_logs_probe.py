"""The ``logs`` probe against real files: appended, rotated by rename and by copytruncate,
truncated, over-long, half-written, and followed by a real ``pitwatch run``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

from devtools import REPO
from devtools.processes import http_get, wait_until
from pitwatch.probes.logs import LogsTarget
from pitwatch.reasons import Reason
from pitwatch.result import Observation
from tests.support.hostprobes import Runner, check_config, problems, value
from tests.support.services import Pitwatch, promtool_check_metrics
from tests.support.targets import config_from, one_target, samples_of, write_config

SECRET = "s3cr3t-token-4711"


def access_line(
    n: int,
    path: str = "/api/v1/bets",
    status: int = 200,
    size: int = 100,
    *,
    method: str = "GET",
    extra: str = "",
) -> str:
    """One combined-format line; ``n`` makes its start unique, as a timestamp would."""
    return (
        f"10.0.{n // 256 % 256}.{n % 256} - - [10/Oct/2026:13:55:{n % 60:02d} +0000] "
        f'"{method} {path} HTTP/1.1" {status} {size} "https://casino.example.com/" '
        f'"Mozilla/5.0 (X11; Linux x86_64)"{extra}\n'
    )


def append(path: Path, *lines: str) -> None:
    with path.open("a") as handle:
        handle.write("".join(lines))


def logs_config(tmp_path: Path, log: Path, extra: str = "", start_at: str = "beginning") -> str:
    return one_target(f"probe: logs\npath: {log}\nstart_at: {start_at}\n{extra}")


def requests(observation: Observation, **labels: str) -> float:
    """Sum of ``pitwatch_logs_requests_total`` over series matching ``labels``."""
    total = 0.0
    for sample in observation.result.samples:
        if sample.family.name != "pitwatch_logs_requests_total":
            continue
        if all(dict(sample.labels).get(key) == wanted for key, wanted in labels.items()):
            total += sample.value
    return total


def scalar(observation: Observation, family: str) -> float:
    return samples_of(observation)[(family, ())]


def histogram(observation: Observation, suffix: str, route: str, le: str = "") -> float:
    """One part of ``pitwatch_logs_request_duration_seconds`` (``_bucket`` needs ``le``)."""
    labels = (("route", route), ("le", le)) if le else (("route", route),)
    (found,) = (
        sample.value
        for sample in observation.result.samples
        if sample.family.name == "pitwatch_logs_request_duration_seconds"
        and sample.suffix == suffix
        and sample.labels == labels
    )
    return found


async def test_counts_by_method_status_class_and_route(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(
        log,
        access_line(1, "/api/v1/bets/123?token=abc", 200, 1000),
        access_line(2, "/api/v1/bets", 201, 10, method="POST"),
        access_line(3, "/api/v1/wallet/balance", 500, 50),
        access_line(4, "/lobby/slots", 404, 5),
        access_line(5, "/api/v1/bets", 200, 7, method="BREW"),
        access_line(6, "/static/app.js", 304, 0, method="HEAD"),
        "this is not an access log line\n",
        '10.0.0.9 - - [10/Oct/2026:13:55:36 +0000] "\\x16\\x03\\x01" 400 157 "-" "-"\n',
        '10.0.0.9 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 999 1 "-" "-"\n',
        '127.0.0.1 - frank [10/Oct/2026:13:55:36 -0700] "GET /lobby HTTP/1.0" 200 2326\n',
    )
    routes = (
        "routes:\n"
        "  - {pattern: '^/api/v1/bets', route: bets}\n"
        "  - {pattern: '^/api/v1/wallet', route: wallet}\n"
        "  - {pattern: '^/api/', route: api}\n"
    )
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log, routes)))
    observation = await runner.probe()
    assert observation.result.success, observation.result.message
    got = {
        tuple(label for _, label in sample.labels): sample.value
        for sample in observation.result.samples
        if sample.family.name == "pitwatch_logs_requests_total"
    }
    assert got == {
        ("GET", "2xx", "bets"): 1,
        ("POST", "2xx", "bets"): 1,
        ("GET", "5xx", "wallet"): 1,
        ("GET", "4xx", "other"): 1,
        ("OTHER", "2xx", "bets"): 1,
        ("HEAD", "3xx", "other"): 1,
        ("OTHER", "4xx", "other"): 1,  # a TLS handshake sent to the plain port
        ("GET", "2xx", "other"): 1,  # common format: no referer, no user agent
    }
    response_bytes = samples_of(observation)
    key = (("method", "GET"), ("status_class", "2xx"), ("route", "bets"))
    assert response_bytes[("pitwatch_logs_response_bytes_total", key)] == 1000
    assert scalar(observation, "pitwatch_logs_unparsed_lines_total") == 2  # garbage, status 999
    assert scalar(observation, "pitwatch_logs_read_bytes_total") == log.stat().st_size
    assert scalar(observation, "pitwatch_logs_backlog_bytes") == 0
    # No duration field configured: no histogram.
    assert not any(
        s.family.name == "pitwatch_logs_request_duration_seconds"
        for s in observation.result.samples
    )


async def test_counters_keep_growing_across_probes(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.touch()
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log)))
    assert requests(await runner.probe()) == 0
    append(log, access_line(1), access_line(2))
    assert requests(await runner.probe()) == 2
    observation = await runner.probe()  # nothing new: nothing counted twice
    assert requests(observation) == 2
    append(log, access_line(3, status=503))
    observation = await runner.probe()
    assert requests(observation) == 3
    assert requests(observation, status_class="5xx") == 1


async def test_start_at_end_skips_what_is_there_and_a_half_written_line(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, access_line(1), access_line(2))
    half = access_line(3)
    append(log, half[:30])  # the server is writing this line right now
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log, start_at="end")))
    observation = await runner.probe()
    assert requests(observation) == 0
    append(log, half[30:], access_line(4))
    observation = await runner.probe()
    assert requests(observation) == 1
    assert scalar(observation, "pitwatch_logs_unparsed_lines_total") == 0


async def test_a_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.touch()
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log)))
    whole = access_line(1)
    append(log, whole[:40])
    observation = await runner.probe()
    assert requests(observation) == 0
    assert scalar(observation, "pitwatch_logs_unparsed_lines_total") == 0
    append(log, whole[40:])
    observation = await runner.probe()
    assert requests(observation) == 1
    assert scalar(observation, "pitwatch_logs_unparsed_lines_total") == 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_rotation_by_rename_reads_the_old_file_to_its_end(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    writer = log.open("a", buffering=1)  # a web server keeps its log open
    try:
        runner = Runner(config_from(tmp_path, logs_config(tmp_path, log)))
        writer.write(access_line(1))
        assert requests(await runner.probe()) == 1
        fds_before = open_fds()
        writer.write(access_line(2))
        log.rename(tmp_path / "access.log.1")  # logrotate
        log.touch()  # ... with `create`
        writer.write(access_line(3))  # the server has not reopened yet
        append(log, access_line(4))  # another worker already writes the new file
        observation = await runner.probe()
        assert requests(observation) == 4
        assert observation.result.details[0] == ("rotations", "1")
        writer.write(access_line(5))  # still late lines in the old file
        writer.close()
        writer = log.open("a", buffering=1)  # the server reopens its log
        writer.write(access_line(6))
        assert requests(await runner.probe()) == 6
        # The old file stopped growing: one more tick and it is closed.
        assert requests(await runner.probe()) == 6
        assert open_fds() == fds_before
    finally:
        writer.close()


async def test_copytruncate_and_truncation(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.touch()
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log)))
    append(log, *(access_line(n) for n in range(1, 11)))
    assert requests(await runner.probe()) == 10
    # copytruncate: copy, then truncate in place; the next lines start at offset 0.
    shutil.copy(log, tmp_path / "access.log.1")
    with log.open("r+") as handle:
        handle.truncate(0)
    append(log, access_line(11), access_line(12))
    observation = await runner.probe()
    assert requests(observation) == 12
    assert observation.result.details[1] == ("truncations", "1")
    # Truncated, then grown past the old position before the next tick: the changed first
    # bytes give it away.
    offset = log.stat().st_size
    with log.open("r+") as handle:
        handle.truncate(0)
    append(log, *(access_line(n, size=n) for n in range(100, 110)))
    assert log.stat().st_size > offset
    observation = await runner.probe()
    assert requests(observation) == 22
    assert scalar(observation, "pitwatch_logs_unparsed_lines_total") == 0


async def test_copytruncate_by_a_writer_without_append_mode(tmp_path: Path) -> None:
    # A writer without O_APPEND goes on at its old position: the file starts with NULs.
    log = tmp_path / "access.log"
    writer = log.open("w", buffering=1)
    try:
        runner = Runner(config_from(tmp_path, logs_config(tmp_path, log)))
        writer.write(access_line(1) + access_line(2))
        assert requests(await runner.probe()) == 2
        os.truncate(log, 0)
        writer.write(access_line(3))
        observation = await runner.probe()
        assert requests(observation) == 3
        assert scalar(observation, "pitwatch_logs_unparsed_lines_total") == 0
    finally:
        writer.close()


async def test_per_tick_cap(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = [access_line(n) for n in range(2500)]
    append(log, *lines)
    size = log.stat().st_size
    assert size > 4 * 65536
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log, "max_read_bytes: 64KiB")))
    observation = await runner.probe()
    read = scalar(observation, "pitwatch_logs_read_bytes_total")
    assert 0 < read <= 65536
    assert scalar(observation, "pitwatch_logs_backlog_bytes") == size - read
    probes = 1
    while scalar(observation, "pitwatch_logs_backlog_bytes") > 0:
        observation = await runner.probe()
        probes += 1
        assert probes < 20
    assert probes >= 5
    assert requests(observation) == 2500
    assert scalar(observation, "pitwatch_logs_read_bytes_total") == size


async def test_rotated_file_with_a_backlog_is_read_to_its_end(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, *(access_line(n) for n in range(2000)))
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log, "max_read_bytes: 64KiB")))
    observation = await runner.probe()
    assert 0 < requests(observation) < 2000  # capped
    log.rename(tmp_path / "access.log.1")
    append(log, *(access_line(n, status=500) for n in range(2000, 2010)))
    fds_before = open_fds()
    for _ in range(20):
        observation = await runner.probe()
        if scalar(observation, "pitwatch_logs_backlog_bytes") == 0:
            break
    assert requests(observation) == 2010
    assert requests(observation, status_class="5xx") == 10
    assert open_fds() == fds_before + 1  # the old file and the new one
    await runner.probe()  # the old file no longer grows: closed
    assert open_fds() == fds_before


async def test_overlong_lines_are_unparsed_and_skipped(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.touch()
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log)))
    append(log, access_line(1), "x" * 50_000)
    observation = await runner.probe()  # the long line has no end yet: dropped so far
    assert requests(observation) == 1
    assert scalar(observation, "pitwatch_logs_unparsed_lines_total") == 1
    append(log, "y" * 50_000 + "\n", access_line(2), access_line(3, path="/" + "a" * 40_000))
    observation = await runner.probe()
    assert requests(observation) == 2
    assert scalar(observation, "pitwatch_logs_unparsed_lines_total") == 2
    assert scalar(observation, "pitwatch_logs_read_bytes_total") == log.stat().st_size


async def test_duration_histogram_from_combined_extra_field(tmp_path: Path) -> None:
    # Apache's %D: microseconds, here the second field after the user agent.
    log = tmp_path / "access.log"
    append(
        log,
        access_line(1, extra=' "upstream-a" 20000'),
        access_line(2, extra=' "upstream-a" 300000'),
        access_line(3, extra=' "upstream-b" 4000000'),
        access_line(4, extra=' "upstream-b" -'),
        access_line(5),
    )
    extra = (
        "duration_field: 2\nduration_unit: us\nduration_buckets: [0.05, 0.5]\n"
        "routes: [{pattern: '^/api/v1/bets', route: bets}]"
    )
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log, extra)))
    observation = await runner.probe()
    assert histogram(observation, "_bucket", "bets", "0.05") == 1
    assert histogram(observation, "_bucket", "bets", "0.5") == 2
    assert histogram(observation, "_bucket", "bets", "+Inf") == 3
    assert histogram(observation, "_count", "bets") == 3
    assert abs(histogram(observation, "_sum", "bets") - 4.32) < 1e-9
    assert requests(observation) == 5  # lines without a usable duration still count
    # The rendered histogram: buckets, sum, count per route.
    text = runner.rendered()
    assert "pitwatch_logs_request_duration_seconds_count{" in text
    assert value(text, "pitwatch_logs_request_duration_seconds_count", route="bets") == 3


async def test_json_lines_with_nested_fields(tmp_path: Path) -> None:
    # Caddy's shape: nested request object, duration in seconds.
    log = tmp_path / "access.json"
    records = [
        {"request": {"method": "GET", "uri": "/api/v1/bets?x=1"}, "status": 200, "size": 512,
         "duration": 0.012},
        {"request": {"method": "POST", "uri": "/api/v1/wallet/deposit"}, "status": "502",
         "size": "0", "duration": 1.5},
        {"request": {"method": "GET"}, "status": 200, "size": 1},
        {"request": {"method": "GET", "uri": "/x"}, "status": "oops"},
        ["not", "an", "object"],
    ]  # fmt: skip
    nested = "[" * 20_000 + "\n"  # deeper than Python's JSON parser goes
    append(log, *(json.dumps(record) + "\n" for record in records), "{not json\n", nested)
    extra = (
        "format: json\n"
        "fields: {method: request.method, path: request.uri, status: status, bytes: size}\n"
        "duration_field: duration\n"
        "routes: [{pattern: '^/api/v1/wallet', route: wallet}]"
    )
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log, extra)))
    observation = await runner.probe()
    assert observation.result.success, observation.result.message
    assert requests(observation) == 3
    assert requests(observation, method="POST", status_class="5xx", route="wallet") == 1
    assert requests(observation, method="GET", route="other") == 2
    assert scalar(observation, "pitwatch_logs_unparsed_lines_total") == 4
    assert histogram(observation, "_sum", "wallet") == 1.5
    assert histogram(observation, "_bucket", "other", "0.025") == 1
    assert histogram(observation, "_count", "other") == 1


async def test_json_request_field_and_milliseconds(tmp_path: Path) -> None:
    log = tmp_path / "access.json"
    append(
        log,
        json.dumps({"req": "DELETE /api/v1/session HTTP/2.0", "code": 204, "ms": 3}) + "\n",
        json.dumps({"req": "PURGE /cache HTTP/1.1", "code": 200, "ms": 250}) + "\n",
    )
    extra = (
        "format: json\nfields: {request: req, status: code}\n"
        "duration_field: ms\nduration_unit: ms\nduration_buckets: [0.01, 0.1]"
    )
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log, extra)))
    observation = await runner.probe()
    assert requests(observation, method="DELETE", status_class="2xx") == 1
    assert requests(observation, method="OTHER") == 1
    assert histogram(observation, "_bucket", "other", "0.01") == 1
    assert histogram(observation, "_bucket", "other", "0.1") == 1
    assert histogram(observation, "_bucket", "other", "+Inf") == 2


async def test_missing_file_fails_and_a_later_file_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log, start_at="end")))
    observation = await runner.probe()
    assert observation.result.reason is Reason.CONNECT
    assert observation.result.message == f"log file {log} does not exist"
    assert scalar(observation, "pitwatch_logs_unparsed_lines_total") == 0  # still exported
    append(log, access_line(1), access_line(2))  # the server starts and creates its log
    observation = await runner.probe()
    assert observation.result.success, observation.result.message
    assert requests(observation) == 2


async def test_a_directory_is_not_a_log(tmp_path: Path) -> None:
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, tmp_path)))
    observation = await runner.probe()
    assert observation.result.reason is Reason.PROTOCOL
    assert observation.result.message == f"cannot read {tmp_path}: is a directory"


async def test_restart_does_not_read_old_lines_again_unless_asked(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, access_line(1), access_line(2))
    first = Runner(config_from(tmp_path, logs_config(tmp_path, log, start_at="end")))
    await first.probe()
    append(log, access_line(3))
    assert requests(await first.probe()) == 1
    # A restart: fresh state. `end` skips all that is there; counters start at 0.
    restarted = Runner(config_from(tmp_path, logs_config(tmp_path, log, start_at="end")))
    assert requests(await restarted.probe()) == 0
    append(log, access_line(4))
    assert requests(await restarted.probe()) == 1
    # `beginning` asks for the whole file again.
    again = Runner(config_from(tmp_path, logs_config(tmp_path, log, start_at="beginning")))
    assert requests(await again.probe()) == 4


async def test_reload_keeps_counters_unless_the_counting_rules_change(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.touch()
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log)))
    append(log, access_line(1), access_line(2, path="/lobby"))
    assert requests(await runner.probe()) == 2
    # Another interval, same counting rules: the counters go on.
    runner.reload(config_from(tmp_path, logs_config(tmp_path, log).replace("10s", "20s")))
    append(log, access_line(3))
    assert requests(await runner.probe()) == 3
    # New routes: the old label sets would linger, so the counters start over (a reset).
    routes = "routes: [{pattern: '^/lobby', route: lobby}]"
    runner.reload(config_from(tmp_path, logs_config(tmp_path, log, routes)))
    append(log, access_line(4, path="/lobby"))
    observation = await runner.probe()
    assert requests(observation) == 1
    assert requests(observation, route="lobby") == 1


async def test_concurrent_probes_count_each_line_once(tmp_path: Path) -> None:
    # /probe?target= can run while the scheduled probe of the same target runs.
    log = tmp_path / "access.log"
    append(log, *(access_line(n) for n in range(300)))
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log)))
    target = runner.config.targets[0]
    observations = await asyncio.gather(*(runner.scheduler.run_probe(target) for _ in range(4)))
    assert all(observation.result.success for observation in observations)
    assert requests(await runner.probe()) == 300


async def test_a_probe_cut_by_its_deadline_loses_and_repeats_nothing(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = 12_000
    append(log, *(access_line(n) for n in range(lines)))
    size = log.stat().st_size
    body = f"probe: logs\npath: {log}\nstart_at: beginning"
    runner = Runner(config_from(tmp_path, one_target(body, timeout="1ms")))
    observation = await runner.probe()
    assert observation.result.reason is Reason.TIMEOUT
    assert observation.result.message == f"no answer within 1ms (reading {log})"
    # The counters are still exported; what the cut-off read found is not lost: the next
    # probe picks it up (or reads the same bytes again), and nothing counts twice.
    assert scalar(observation, "pitwatch_logs_unparsed_lines_total") == 0
    runner.reload(config_from(tmp_path, one_target(body, timeout="5s")))
    for _ in range(20):
        observation = await runner.probe()
        if scalar(observation, "pitwatch_logs_backlog_bytes") == 0:
            break
    assert observation.result.success, observation.result.message
    assert requests(observation) == lines
    assert scalar(observation, "pitwatch_logs_read_bytes_total") == size


async def test_no_path_or_token_from_the_log_reaches_any_output(tmp_path: Path) -> None:
    # The logs probe has no secret-bearing config field; the secrets it meets are in the
    # log itself (tokens in query strings, user names), and raw paths never become labels.
    log = tmp_path / "access.log"
    append(
        log,
        access_line(1, f"/api/v1/login?token={SECRET}"),
        access_line(2, f"/reset/{SECRET}"),
        f'10.0.0.1 - {SECRET} [10/Oct/2026:13:55:36 +0000] "GET /{SECRET} HTTP/1.1" 200 1 '
        f'"-" "{SECRET}"\n',
        f"{SECRET} garbage\n",
    )
    runner = Runner(config_from(tmp_path, logs_config(tmp_path, log)))
    observation = await runner.probe()
    assert requests(observation) == 3
    assert SECRET not in runner.rendered()
    assert SECRET not in observation.result.message
    assert SECRET not in repr(observation.result.details)
    assert SECRET not in repr(observation.result.samples)


def test_config_problems(tmp_path: Path) -> None:
    cases = {
        "format: combined\nfields: {status: code}": (
            'target "t": fields applies to format json only'
        ),
        "duration_field: request_time": (
            'target "t": with format combined, duration_field is the position of the field '
            "after the user agent (1 = the first)"
        ),
        "format: json\nduration_field: 3": (
            'target "t": with format json, duration_field is a field name'
        ),
        "duration_unit: ms": 'target "t": duration_unit and duration_buckets need duration_field',
        "max_read_bytes: 4KiB": 'target "t": max_read_bytes: max_read_bytes must be at least 64KiB',
        "routes: [{pattern: '^/a', route: 'has space'}]": (
            "target \"t\": routes[0].route: route 'has space' must be 1-64 of A-Z a-z 0-9 _ . : / -"
        ),
        "routes: [{pattern: '(', route: a}]": (
            'target "t": routes[0].pattern: invalid regular expression: missing ), '
            "unterminated subpattern at position 0"
        ),
        "start_at: middle": "target \"t\": start_at: must be 'end' or 'beginning', got 'middle'",
    }
    for body, expected in cases.items():
        found = problems(tmp_path, one_target(f"probe: logs\npath: access.log\n{body}"))
        assert [message.split(": ", 1)[1] for message in found] == [expected], body
    assert problems(tmp_path, one_target("probe: logs")) == [
        '7: target "t": missing required key "path" for probe logs'
    ]


def test_relative_path_is_next_to_the_config(tmp_path: Path) -> None:
    config = config_from(tmp_path, one_target("probe: logs\npath: logs/access.log"))
    spec = config.targets[0].spec
    assert isinstance(spec, LogsTarget)
    assert spec.path == str(tmp_path / "logs" / "access.log")


def test_example_config_is_valid() -> None:
    result = check_config(REPO / "deploy" / "examples" / "logs.yml")
    assert result.returncode == 0, result.stderr


def test_real_exporter_follows_rotation_copytruncate_and_truncation(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.touch()
    config = write_config(
        tmp_path,
        f"""\
        global: {{interval: 500ms, timeout: 400ms}}
        host: {{enabled: false}}
        targets:
          - name: web-access
            component: api
            probe: logs
            path: {log}
            duration_field: 1
            routes:
              - {{pattern: '^/api/v1/bets', route: bets}}
              - {{pattern: '^/api/v1/wallet', route: wallet}}
        """,
    )
    written = 0

    def write(count: int, handle_path: Path | None = None, status: int = 200) -> None:
        nonlocal written
        lines = []
        for _ in range(count):
            written += 1
            path = "/api/v1/bets" if written % 2 else f"/api/v1/wallet?token={SECRET}"
            lines.append(access_line(written, path, status, written, extra=" 0.042"))
        append(handle_path or log, *lines)

    with Pitwatch(tmp_path / "pw", config) as exporter:

        def counted() -> float:
            return value(exporter.metrics(), "pitwatch_logs_requests_total") or 0.0

        def reaches(expected: int) -> None:
            wait_until(lambda: counted() == expected, 30, f"{expected} requests counted")

        # The first probe opens the file at its end; wait for it before writing.
        wait_until(
            lambda: value(exporter.metrics(), "pitwatch_probe_success") == 1, 30, "first probe"
        )
        write(20)
        reaches(20)
        # Rotation by rename while the server still writes the old file for a moment.
        log.rename(tmp_path / "access.log.1")
        write(5, tmp_path / "access.log.1")
        log.touch()
        write(7)
        reaches(32)
        # copytruncate.
        shutil.copy(log, tmp_path / "access.log.2")
        os.truncate(log, 0)
        write(3, status=503)
        reaches(35)
        # A plain truncation followed by more lines than there were.
        os.truncate(log, 0)
        write(40)
        reaches(75)
        text = exporter.metrics()
        status, page = http_get(f"{exporter.url}/")
    assert value(text, "pitwatch_logs_requests_total", status_class="5xx") == 3
    assert value(text, "pitwatch_logs_requests_total", route="wallet") == 37
    assert value(text, "pitwatch_logs_request_duration_seconds_count", route="bets") == 38
    assert value(text, "pitwatch_logs_unparsed_lines_total") == 0
    assert promtool_check_metrics(text) == ""
    assert status == 200
    assert SECRET not in text
    assert SECRET not in page.decode()


def test_real_exporter_restart_resumes_and_counts_what_was_written_while_down(
    tmp_path: Path,
) -> None:
    log = tmp_path / "access.log"
    log.touch()
    config = write_config(
        tmp_path,
        f"""\
        global: {{interval: 500ms, timeout: 400ms}}
        host: {{enabled: false}}
        targets:
          - {{name: web-access, component: api, probe: logs, path: {log}}}
        """,
    )

    def run_once(workdir: Path, before: int, after: int, waiting: int) -> float:
        """Start pitwatch, see it count the ``waiting`` lines written while it was down,
        write ``after`` lines, return what it counts."""
        with Pitwatch(workdir, config) as exporter:
            wait_until(
                lambda: value(exporter.metrics(), "pitwatch_probe_success") == 1,
                30,
                "first probe",
            )
            assert (value(exporter.metrics(), "pitwatch_logs_requests_total") or 0) == waiting
            append(log, *(access_line(before + n) for n in range(after)))

            def counted() -> float:
                return value(exporter.metrics(), "pitwatch_logs_requests_total") or 0.0

            wait_until(lambda: counted() == waiting + after, 30, "requests counted")
            return counted()

    assert run_once(tmp_path / "first", 0, 5, 0) == 5
    append(log, *(access_line(n) for n in range(100, 103)))  # while pitwatch is down
    # Restarted: counters from 0; the 5 lines counted before are not read again, the 3
    # written while it was down are (the state directory beside the config keeps the place).
    assert run_once(tmp_path / "second", 200, 2, 3) == 5
    assert (tmp_path / ".pitwatch-state" / "log-positions.json").exists()
