"""Processes of the services the tests and ``make stack`` run, and the small HTTP checks
that tell when one is ready.

The binaries come from Debian's packages (``make test`` installs them, ``make stack``
installs what it needs). A missing binary is an error naming the package, never a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import yaml

SEARCH_PATH = "/usr/bin:/usr/sbin:/usr/local/bin"
"""Where Debian puts daemons, also when the caller's PATH leaves them out."""


class ServiceError(Exception):
    """A service did not start: why, with the end of its log."""


class MissingBinary(ServiceError):
    def __init__(self, name: str, package: str) -> None:
        super().__init__(f"{name} not found: run `make test` (installs Debian package {package})")
        self.name = name
        self.package = package


def find_binary(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=SEARCH_PATH)


def binary(name: str, package: str) -> str:
    """Path of a Debian-packaged binary; raises :class:`MissingBinary` when it is missing."""
    found = find_binary(name)
    if found is None:
        raise MissingBinary(name, package)
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
            return int(response.status), response.read()
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
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 right now."""
    try:
        return http_get(url, timeout=1)[0] == 200
    except OSError:
        return False


class Service:
    """A process with its own work directory and log, on ``port`` (default: a free one);
    ready when :meth:`ready_url` answers 200; stopped on :meth:`stop` or on leaving a
    ``with`` block.

    ``own_session`` starts it in a process group of its own, so a terminal's Ctrl-C reaches
    only the parent, which then stops its services in order (``make stack``)."""

    name = "service"

    def __init__(
        self, workdir: Path, port: int | None = None, *, own_session: bool = False
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port if port is not None else free_port()
        self.own_session = own_session
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        """The process's environment (``None``: this one's)."""
        return None

    def ready_url(self) -> str:
        return f"{self.url}/-/ready"

    def start(self, timeout: float = 30.0) -> Self:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=self.environment(),
                start_new_session=self.own_session,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exited():
                raise ServiceError(f"{self.name} exited at start:\n{self.log_tail()}")
            if answers(self.ready_url()):
                return self
            time.sleep(0.1)
        self.stop()
        raise ServiceError(
            f"{self.name} was not ready on port {self.port} after {timeout:g}s:\n{self.log_tail()}"
        )

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def output(self) -> str:
        """Everything it wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log(self) -> str:
        """The end of what it wrote (the last 4,000 characters)."""
        return self.output()[-4000:]

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(f"  {line}" for line in self.output().splitlines()[-lines:])

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


class ConfiguredService(Service):
    """A Debian-packaged daemon (:attr:`executable`, from :attr:`package`) whose ``config`` is
    written as YAML (after ``header``) to :attr:`config_file` in its work directory and
    passed as ``--config.file``; it listens where ``--web.listen-address`` says, as the
    Prometheus tools all do."""

    executable = ""
    package = ""
    config_file = "config.yml"

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any],
        port: int | None = None,
        *,
        header: str = "",
        own_session: bool = False,
    ) -> None:
        super().__init__(workdir, port, own_session=own_session)
        self.config_path = workdir / self.config_file
        self.config_path.write_text(header + yaml.safe_dump(config, sort_keys=False))

    def command(self) -> list[str]:
        executable = binary(self.executable, self.package)
        config = f"--config.file={self.config_path}"
        listen = f"--web.listen-address=127.0.0.1:{self.port}"
        return [executable, config, listen, *self.options()]

    def options(self) -> list[str]:
        """The flags after ``--config.file`` and ``--web.listen-address``."""
        return []


def environ_without(*names: str) -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in names}
