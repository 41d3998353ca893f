"""The ``process`` probe against real child processes: started, killed, restarted,
left as zombies, burning CPU, and watched by a real ``pitwatch run``."""

from __future__ import annotations

import os
import pwd
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devtools import REPO
from devtools.processes import wait_until
from pitwatch.reasons import Reason
from pitwatch.result import Observation
from tests.support.hostprobes import Runner, check_config, problems, value
from tests.support.services import Pitwatch, promtool_check_metrics
from tests.support.targets import config_from, one_target, samples_of, write_config

SECRET = "hunter2-s3cr3t-pw"
_BURN = (
    "import sys, time\n"
    "end = time.process_time() + float(sys.argv[1])\n"
    "while time.process_time() < end: pass\n"
    "time.sleep(600)\n"
)


class Children:
    """Real processes with a command line no other process on this machine has."""

    def __init__(self) -> None:
        self.marker = f"{random.randrange(10**8):08d}"
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def sleep_pattern(self) -> str:
        return rf"^sleep 3600\.{self.marker}$"

    def sleep(self) -> subprocess.Popen[bytes]:
        return self._start(["sleep", f"3600.{self.marker}"])

    def python(self, burn_seconds: float = 0.0, *args: str) -> subprocess.Popen[bytes]:
        return self._start(
            [sys.executable, "-c", _BURN, str(burn_seconds), f"marker={self.marker}", *args]
        )

    def _start(self, command: list[str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        proc.kill()
        proc.wait(timeout=30)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.stop(proc)


@pytest.fixture
def children() -> Iterator[Children]:
    spawned = Children()
    try:
        yield spawned
    finally:
        spawned.close()


def process_config(tmp_path: Path, body: str) -> Runner:
    return Runner(config_from(tmp_path, one_target(f"probe: process\n{body}")))


def measured(observation: Observation, family: str) -> float | None:
    return samples_of(observation).get((f"pitwatch_process_{family}", ()))


async def test_counts_and_measures_matching_processes(tmp_path: Path, children: Children) -> None:
    first, second = children.sleep(), children.sleep()
    runner = process_config(tmp_path, f"cmdline: '{children.sleep_pattern}'")
    observation = await runner.probe()
    assert observation.result.success, observation.result.message
    assert observation.result.message == "2 processes"
    assert measured(observation, "matches") == 2
    rss = sum(psutil.Process(proc.pid).memory_info().rss for proc in (first, second))
    assert 0 < (measured(observation, "resident_memory_bytes") or 0) <= 2 * rss
    assert measured(observation, "threads") == 2
    assert (measured(observation, "open_fds") or 0) >= 6  # stdin, stdout, stderr each
    newest = max(psutil.Process(proc.pid).create_time() for proc in (first, second))
    started = measured(observation, "start_time_seconds")
    assert started == newest
    assert (measured(observation, "cpu_seconds_total") or 0) >= 0

    # The newest one dies: one left, and the start time is the older one's.
    newest_proc = max((first, second), key=lambda proc: psutil.Process(proc.pid).create_time())
    survivor = first if newest_proc is second else second
    children.stop(newest_proc)
    observation = await runner.probe()
    assert measured(observation, "matches") == 1
    assert measured(observation, "start_time_seconds") == psutil.Process(survivor.pid).create_time()

    # A restart shows as a newer start time.
    wait_until(lambda: time.time() > newest + 0.05, 5, "the clock to move past the start")
    restarted = children.sleep()
    observation = await runner.probe()
    assert measured(observation, "matches") == 2
    assert (
        measured(observation, "start_time_seconds") == psutil.Process(restarted.pid).create_time()
    )
    assert (measured(observation, "start_time_seconds") or 0) > (started or 0)


async def test_nothing_running_is_connect(tmp_path: Path, children: Children) -> None:
    runner = process_config(tmp_path, f"cmdline: '{children.sleep_pattern}'")
    observation = await runner.probe()
    assert observation.result.reason is Reason.CONNECT
    assert observation.result.message == f"no process matches cmdline /{children.sleep_pattern}/"
    assert measured(observation, "matches") == 0
    assert measured(observation, "start_time_seconds") is None
    assert measured(observation, "resident_memory_bytes") == 0


async def test_fewer_than_min_count_is_assertion(tmp_path: Path, children: Children) -> None:
    children.sleep()
    runner = process_config(
        tmp_path, f"process_name: sleep\ncmdline: '{children.sleep_pattern}'\nmin_count: 2"
    )
    observation = await runner.probe()
    assert observation.result.reason is Reason.ASSERTION
    assert observation.result.message == (
        f'1 of min_count 2 processes match name "sleep", cmdline /{children.sleep_pattern}/'
    )
    assert measured(observation, "matches") == 1


async def test_min_count_zero_only_measures(tmp_path: Path, children: Children) -> None:
    runner = process_config(tmp_path, f"cmdline: '{children.sleep_pattern}'\nmin_count: 0")
    observation = await runner.probe()
    assert observation.result.success
    assert measured(observation, "matches") == 0


async def test_name_and_user_filters(tmp_path: Path, children: Children) -> None:
    children.sleep()
    me = pwd.getpwuid(os.getuid()).pw_name
    other = "nobody" if me != "nobody" else "root"
    pattern = f"cmdline: '{children.sleep_pattern}'"
    for body, count in (
        (f"process_name: sleep\n{pattern}\nuser: {me}", 1),
        (f"process_name: sleep\n{pattern}\nuser: '{os.getuid()}'", 1),
        (f"process_name: sleep\n{pattern}\nuser: {other}", 0),
        (f"process_name: sleepy\n{pattern}", 0),
    ):
        observation = await process_config(tmp_path, body).probe()
        assert measured(observation, "matches") == count, body


async def test_zombies_do_not_count(tmp_path: Path, children: Children) -> None:
    proc = children.sleep()
    runner = process_config(tmp_path, f"cmdline: '{children.sleep_pattern}'")
    assert measured(await runner.probe(), "matches") == 1
    proc.kill()  # dead, but not reaped yet: a zombie

    def zombie() -> bool:
        return psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE

    wait_until(zombie, 10, "the child to become a zombie")
    observation = await runner.probe()
    assert observation.result.reason is Reason.CONNECT
    proc.wait(timeout=10)


async def test_cpu_counter_never_goes_down(tmp_path: Path, children: Children) -> None:
    burner = children.python(0.3)
    children.python(0.0)
    runner = process_config(tmp_path, f"cmdline: 'marker={children.marker}'")

    async def cpu() -> float:
        return measured(await runner.probe(), "cpu_seconds_total") or 0.0

    deadline = time.monotonic() + 60
    used = await cpu()
    while used < 0.25:
        assert time.monotonic() < deadline, f"the burner used only {used}s of CPU"
        used = await cpu()
    children.stop(burner)
    observation = await runner.probe()
    assert measured(observation, "matches") == 1
    # A plain sum would drop by the burner's 0.3 s, which rate() reads as a reset.
    assert (measured(observation, "cpu_seconds_total") or 0) >= used


async def test_command_line_secrets_never_shown(tmp_path: Path, children: Children) -> None:
    # No config field of the process probe holds a secret; command lines can.
    children.python(0.0, f"--password={SECRET}")
    pattern = f"cmdline: 'marker={children.marker}'"
    for body in (pattern, f"{pattern}\nmin_count: 3"):
        runner = process_config(tmp_path, body)
        observation = await runner.probe()
        assert measured(observation, "matches") == 1
        assert SECRET not in observation.result.message
        assert SECRET not in repr(observation.result.details)
        assert SECRET not in runner.rendered()


def test_config_problems(tmp_path: Path) -> None:
    assert problems(tmp_path, one_target("probe: process\nuser: www-data")) == [
        '7: target "t": a process probe needs process_name, cmdline or both'
    ]
    assert problems(tmp_path, one_target("probe: process\ncmdline: '[a'")) == [
        '10: target "t": cmdline: invalid regular expression: unterminated character set '
        "at position 0"
    ]
    assert problems(tmp_path, one_target("probe: process\nprocess_name: x\nmin_count: -1")) == [
        '11: target "t": min_count: should be greater than or equal to 0'
    ]


def test_example_config_is_valid() -> None:
    result = check_config(REPO / "deploy" / "examples" / "process.yml")
    assert result.returncode == 0, result.stderr


def test_real_exporter_and_its_own_process_never_counts(tmp_path: Path, children: Children) -> None:
    children.sleep()
    children.sleep()
    workdir = tmp_path / f"pw-{children.marker}"
    workdir.mkdir()
    # A pattern that matches pitwatch's own command line (it holds the config path).
    own = re.escape(f"pw-{children.marker}")
    config = write_config(
        workdir,
        f"""\
        global: {{interval: 500ms, timeout: 400ms}}
        host: {{enabled: false}}
        targets:
          - name: workers
            component: host
            probe: process
            process_name: sleep
            cmdline: '{children.sleep_pattern}'
          - name: itself
            component: host
            probe: process
            cmdline: '{own}'
        """,
    )
    with Pitwatch(tmp_path / "pw", config) as exporter:

        def probed() -> bool:
            text = exporter.metrics()
            return all(
                value(text, "pitwatch_process_matches", target=name) is not None
                for name in ("workers", "itself")
            )

        wait_until(probed, 30, "both targets probed")
        text = exporter.metrics()
    assert value(text, "pitwatch_process_matches", target="workers") == 2
    assert value(text, "pitwatch_probe_success", target="workers") == 1
    assert value(text, "pitwatch_process_matches", target="itself") == 0
    assert value(text, "pitwatch_probe_success", target="itself") == 0
    errors = value(text, "pitwatch_probe_errors_total", target="itself", reason="connect")
    assert errors is not None and errors >= 1
    assert promtool_check_metrics(text) == ""
