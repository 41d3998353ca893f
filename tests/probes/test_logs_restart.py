"""The logs probe keeps its place across restarts: a real pitwatch killed with SIGKILL while a
writer appends to the access log, the log rotated while it is down, and a new process
counting exactly the lines after the saved position, in both files: none lost, none twice.
A state directory that cannot be written costs a clear error and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from devtools.processes import wait_until
from pitwatch.positions import FILE_NAME
from tests.support.demo import samples
from tests.support.services import Pitwatch

LINE = '127.0.0.1 - - [07/Dec/2026:10:00:00 +0000] "GET /bets/{n} HTTP/1.1" 200 12 "-" "writer"\n'


def config(tmp_path: Path, log: Path) -> Path:
    path = tmp_path / "pitwatch.yml"
    path.write_text(
        "global: {interval: 200ms, timeout: 150ms}\n"
        "host: {enabled: false}\n"
        "targets:\n"
        f"  - {{name: access, component: api, probe: logs, path: {log}, start_at: beginning}}\n"
    )
    return path


def counted(pitwatch: Pitwatch) -> float:
    return sum(value for _, value in samples(pitwatch.metrics(), "pitwatch_logs_requests_total"))


class Writer(threading.Thread):
    """Appends numbered lines to ``path`` (re-opened by name, as a web server after a
    reopen signal) until told to stop."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.written = 0
        self.stopping = threading.Event()
        self.reopen = threading.Event()

    def run(self) -> None:
        handle = self.path.open("a")
        while not self.stopping.is_set():
            if self.reopen.is_set():
                handle.close()
                handle = self.path.open("a")
                self.reopen.clear()
            handle.write(LINE.format(n=self.written))
            handle.flush()
            self.written += 1
            time.sleep(0.001)
        handle.close()


def lines_before(path: Path, offset: int) -> int:
    with path.open("rb") as handle:
        return handle.read(offset).count(b"\n")


def test_a_killed_pitwatch_resumes_where_it_stopped_across_a_rotation(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.touch()
    state = tmp_path / "state"
    path = config(tmp_path, log)
    writer = Writer(log)
    first = Pitwatch(tmp_path / "first", path, "--state-dir", str(state))
    with first:
        writer.start()
        wait_until(lambda: counted(first) > 200, 30, "the first process counting")
        assert first.process is not None
        first.process.kill()  # SIGKILL: no chance to save anything on the way out
        first.process.wait(10)
    time.sleep(0.2)  # the writer goes on into the old file while pitwatch is down
    os.rename(log, tmp_path / "access.log.1")  # logrotate's rename ...
    writer.reopen.set()  # ... and the server's reopen
    time.sleep(0.2)
    saved = json.loads((state / FILE_NAME).read_text())["access"]["files"]
    assert len(saved) == 1
    inode = os.stat(tmp_path / "access.log.1").st_ino
    assert saved[0]["ino"] == inode  # the position names the file now rotated away
    already = lines_before(tmp_path / "access.log.1", saved[0]["offset"])

    second = Pitwatch(tmp_path / "second", path, "--state-dir", str(state))
    with second:
        time.sleep(0.3)
        writer.stopping.set()
        writer.join(10)
        total = writer.written
        wait_until(lambda: counted(second) >= total - already, 30, "the rest counted")
        time.sleep(0.6)  # three more probes: nothing more may arrive
        after = counted(second)
    print(
        f"restart: {total} lines written, {already} before the saved position, "
        f"{after:.0f} counted after the restart, {total - already - after:.0f} lost"
    )
    assert after == total - already
    assert already > 200
    assert total - already > 200


def test_a_full_state_directory_is_one_error_and_probing_goes_on(tmp_path: Path) -> None:
    """The state directory is a 16 KiB tmpfs, filled up before pitwatch starts (in a user and
    mount namespace of its own, so nothing outside sees the mount): every save fails with
    ENOSPC."""
    log = tmp_path / "access.log"
    log.touch()
    state = tmp_path / "state"
    state.mkdir()
    path = config(tmp_path, log)
    port_probe = Pitwatch(tmp_path / "full", path)  # for its free port and its URL
    script = (
        f"mount -t tmpfs -o size=16k tmpfs {state} && "
        f"(dd if=/dev/zero of={state}/filler bs=1k 2>/dev/null; true) && "
        f'exec "$@"'
    )
    command = [
        "unshare", "-rm", "sh", "-c", script, "sh",
        sys.executable, "-m", "pitwatch", "run", "--listen", f"127.0.0.1:{port_probe.port}",
        "--config", str(path), "--state-dir", str(state),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with log.open("a") as handle:
            for round_ in range(3):
                handle.write("".join(LINE.format(n=n) for n in range(10)))
                handle.flush()
                wanted = 10 * (round_ + 1)
                wait_until(
                    lambda: _counted_at(port_probe.url) == wanted,  # noqa: B023 - awaited here
                    30,
                    "probing goes on with a full state directory",
                )
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    errors = [line for line in output.splitlines() if "cannot save log positions" in line]
    assert len(errors) == 1, output
    assert "No space left on device" in errors[0]
    assert "Traceback" not in output


def _counted_at(url: str) -> float:
    from devtools.processes import http_get

    try:
        status, body = http_get(f"{url}/metrics")
    except OSError:
        return -1
    if status != 200:
        return -1
    return sum(value for _, value in samples(body.decode(), "pitwatch_logs_requests_total"))
