"""Real services for tests: Prometheus, Alertmanager and pitwatch itself as processes on
127.0.0.1, each in a temporary directory on a free port, always stopped afterwards.

The binaries come from Debian's packages, which ``make test`` installs. A missing binary is
an error naming the package, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Self

import yaml

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binary(name: str, package: str) -> str:
    """Path of a Debian-packaged binary; fails (never skips) when it is missing."""
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin:/usr/local/bin")
    if found is None:
        raise RuntimeError(f"{name} not found: run `make test` (installs Debian package {package})")
    return found


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"gave up after {timeout}s waiting for {what}")


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_post(
    url: str, body: bytes = b"", content_type: str = "application/json"
) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def answers(url: str) -> bool:
    try:
        return http_get(url, timeout=1)[0] == 200
    except OSError:
        return False


class Service:
    """A process with its own work directory and log; stopped on ``stop()`` or exit."""

    name = "service"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready_url(self) -> str:
        return f"{self.url}/-/ready"

    def start(self, timeout: float = 30.0) -> Self:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        log.close()

        def up() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log()}")
            return answers(self.ready_url())

        wait_until(up, timeout, f"{self.name} on port {self.port}")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


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


class Prometheus(Service):
    """A throwaway Prometheus: scrape configs, rule files and Alertmanagers as given."""

    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        scrape_configs: list[dict[str, Any]],
        rule_files: Iterable[Path] = (),
        alertmanagers: Iterable[str] = (),
        interval: str = "1s",
    ) -> None:
        super().__init__(workdir)
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": scrape_configs,
            "rule_files": [str(path) for path in rule_files],
        }
        targets = list(alertmanagers)
        if targets:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": targets}]}]}
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config))

    def command(self) -> list[str]:
        return [
            binary("prometheus", "prometheus"),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
        ]

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        status, body = http_get(f"{self.url}/api/v1/{path}{query}")
        payload = json.loads(body)
        if status != 200 or payload.get("status") != "success":
            raise AssertionError(f"Prometheus API {path} failed: {body[:500]!r}")
        return payload["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        return list(data["result"])

    def value(self, expr: str) -> float | None:
        """The single value of an instant query (None when the result is empty)."""
        result = self.query(expr)
        if not result:
            return None
        assert len(result) == 1, result
        return float(result[0]["value"][1])


class Alertmanager(Service):
    """A throwaway Alertmanager with the given config file (clustering off)."""

    name = "alertmanager"

    def __init__(self, workdir: Path, config_path: Path) -> None:
        super().__init__(workdir)
        self.config_path = config_path

    def command(self) -> list[str]:
        return [
            binary("prometheus-alertmanager", "prometheus-alertmanager"),
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        query = f"?{urllib.parse.urlencode(filters)}" if filters else ""
        status, body = http_get(f"{self.url}/api/v2/alerts{query}")
        assert status == 200, body
        return list(json.loads(body))


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


def environ_without(*names: str) -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in names}


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
