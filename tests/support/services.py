"""pitwatch itself as a real process, and the command-line tools (promtool, amtool) the
tests run; the process machinery (ports, readiness, Prometheus, Alertmanager, PostgreSQL)
is :mod:`devtools`'."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from devtools import REPO
from devtools.processes import Service, binary, http_get


class Pitwatch(Service):
    """``pitwatch run`` as a real process (the installed package of this checkout)."""

    name = "pitwatch"

    def __init__(self, workdir: Path, config: Path | None = None, *extra: str) -> None:
        super().__init__(workdir)
        self.config = config
        self.extra = extra

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "pitwatch", "run", "--listen", f"127.0.0.1:{self.port}"]
        if self.config is not None:
            command += ["--config", str(self.config)]
        return [*command, *self.extra]

    def metrics(self) -> str:
        status, body = http_get(f"{self.url}/metrics")
        assert status == 200, body
        return body.decode()

    def reload(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)


def run_tool(
    *command: str, check: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run promtool/amtool and friends; on failure the assertion shows their output."""
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=cwd or REPO, timeout=120, check=False
    )
    if check:
        assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result


def promtool_check_metrics(exposition: str) -> str:
    """What ``promtool check metrics`` says about an exposition ("" when it is clean)."""
    result = subprocess.run(
        [binary("promtool", "prometheus"), "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 and not output:
        output = f"promtool exited {result.returncode}"
    return output
