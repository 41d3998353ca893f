"""pitwatch as users run it: a real process, its signals, its messages."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.processes import free_port, http_get, wait_until
from tests.support.fake_platform import FakePlatform
from tests.support.services import Pitwatch
from tests.support.targets import write_config


def counter(text: str, name: str, target: str, **labels: str) -> float:
    extra = "".join(f',{key}="{value}"' for key, value in labels.items())
    pattern = rf'^{name}\{{target="{target}",[^}}]*?{re.escape(extra)}\}} (\S+)$'
    for line in text.splitlines():
        match = re.match(pattern, line)
        if match:
            return float(match.group(1))
    raise AssertionError(f"{name} for {target} {labels} not in /metrics")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pitwatch", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_default_run_serves_host_metrics(tmp_path: Path) -> None:
    started = time.monotonic()
    with Pitwatch(tmp_path) as pitwatch:
        wait_until(lambda: "pitwatch_host_cpus" in pitwatch.metrics(), 30, "host metrics")
        elapsed = time.monotonic() - started
        text = pitwatch.metrics()
    print(f"default run: /metrics with host metrics after {elapsed:.2f}s")
    for family in (
        "pitwatch_host_memory_used_bytes",
        "pitwatch_host_load1",
        "pitwatch_host_boot_time_seconds",
        "pitwatch_build_info",
        "process_resident_memory_bytes",
    ):
        assert family in text


def test_sighup_with_a_broken_config_keeps_the_old_targets(
    platform: FakePlatform, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path,
        f"""\
        global: {{interval: 200ms, timeout: 150ms}}
        targets:
          - {{name: lobby, component: game_provider, probe: http, url: "{platform.http_url()}"}}
        """,
    )
    with Pitwatch(tmp_path, config) as pitwatch:
        wait_until(
            lambda: 'pitwatch_probe_success{target="lobby"' in pitwatch.metrics(), 5, "first probe"
        )
        config.write_text(
            "targets:\n  - name: lobby\n    component: game_provider\n    probe: http\n"
        )
        pitwatch.reload()
        wait_until(
            lambda: "pitwatch_config_last_reload_successful 0.0" in pitwatch.metrics(),
            5,
            "reload rejected",
        )
        before = counter(pitwatch.metrics(), "pitwatch_probes_total", "lobby", result="success")
        time.sleep(1.0)
        after = counter(pitwatch.metrics(), "pitwatch_probes_total", "lobby", result="success")
        assert after >= before + 3  # still probing every 200ms
        assert pitwatch.stop() == 0
    log = pitwatch.log()
    assert f'{config}:2: target "lobby": missing required key "url" for probe http' in log
    assert "Traceback" not in log


def test_sigterm_stops_within_5_seconds(platform: FakePlatform, tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        f"""\
        global: {{interval: 1s, timeout: 900ms}}
        targets:
          - {{name: hanging, component: api, probe: http, url: "{platform.http_url("/hang")}"}}
        """,
    )
    pitwatch = Pitwatch(tmp_path, config).start()
    time.sleep(1.2)  # a probe is hanging on the target right now
    assert pitwatch.process is not None
    started = time.monotonic()
    pitwatch.process.send_signal(signal.SIGTERM)
    code = pitwatch.process.wait(10)
    elapsed = time.monotonic() - started
    assert code == 0
    assert elapsed < 5, elapsed
    assert "Traceback" not in pitwatch.log()


def test_bad_listen_address_is_one_line() -> None:
    result = run_cli("run", "--listen", "nonsense")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "pitwatch: invalid --listen 'nonsense': expected HOST:PORT, :PORT or [::1]:PORT"
    )
    assert "Traceback" not in result.stderr


def test_busy_port_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_cli("run", "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"pitwatch: cannot listen on 127.0.0.1:{port}: address already in use"
    )
    assert "Traceback" not in result.stderr


def test_invalid_config_at_start_lists_problems(tmp_path: Path) -> None:
    config = write_config(tmp_path, "global:\n  interval: 10s\n  timeout: 1m\n")
    result = run_cli("run", "--config", str(config), "--listen", f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert result.stderr == f"{config}:3: global: timeout 1m must be shorter than interval 10s\n"


def test_check_config_ok(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, "targets:\n  - {name: a, component: api, probe: tcp, address: 'x:1'}\n"
    )
    result = run_cli("check-config", str(config))
    assert (result.returncode, result.stdout) == (0, f"{config}: OK, 1 targets\n")


def test_missing_command_is_usage() -> None:
    result = run_cli()
    assert result.returncode == 2
    assert "usage: pitwatch" in result.stderr and "Traceback" not in result.stderr


def _failures(pitwatch: Pitwatch) -> float:
    match = re.search(
        r'^pitwatch_probes_total\{[^}]*result="failure"[^}]*\} (\S+)$', pitwatch.metrics(), re.M
    )
    return float(match.group(1)) if match else 0.0


def test_json_logs_carry_the_transition(platform: FakePlatform, tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        f"""\
        global: {{interval: 1s, timeout: 900ms}}
        targets:
          - {{name: psp, component: payment_gateway, probe: http, url: "{platform.http_url("/status/502")}"}}
        """,
    )
    with Pitwatch(tmp_path, config, "--log-format", "json") as pitwatch:
        # Three failed probes, counted by pitwatch itself, and still one "is down" line; the
        # generous timeout keeps a loaded machine from turning the 502 into a timeout.
        wait_until(lambda: _failures(pitwatch) >= 3, 20, "three failed probes")
    entries = [json.loads(line) for line in pitwatch.log().splitlines() if line.startswith("{")]
    down = [entry for entry in entries if "is down" in entry["msg"]]
    assert len(down) == 1  # not once per failed probe
    assert down[0]["level"] == "warning"
    assert down[0]["target"] == "psp" and down[0]["reason"] == "http_status"
    assert down[0]["msg"] == "target psp is down: http_status: HTTP 502 (expected 2xx)"


@pytest.mark.parametrize("path", ["/-/healthy", "/-/ready", "/"])
def test_endpoints_of_a_running_process(tmp_path: Path, path: str) -> None:
    with Pitwatch(tmp_path) as pitwatch:
        status, body = http_get(pitwatch.url + path)
    assert status == 200
    assert body


def test_bad_shard_is_one_line() -> None:
    result = run_cli("run", "--shard", "5/3", "--listen", f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "pitwatch: invalid --shard '5/3': the shard index counts from 0 to 2"
    )
