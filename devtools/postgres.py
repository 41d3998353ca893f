"""Throwaway PostgreSQL servers from Debian's ``postgresql`` package: ``initdb`` makes one in
a fresh temporary directory and ``pg_ctl`` starts and stops it on a free port.

``initdb`` refuses to run as root. Under root (CI, a fresh Debian) every server binary runs
as the ``postgres`` system user the package creates, in a directory that user owns; as a
normal user they run directly. A test run killed with SIGKILL skips every teardown, so each
directory names the process that owns it, and :func:`reap_stale` stops and removes the
directories whose owner is gone.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg

from devtools.processes import MissingBinary, free_port

SUPERUSER = "postgres"
_OWNER_FILE = "owner.pid"


def pg_bin(name: str) -> str:
    """A PostgreSQL server binary (not on PATH in Debian), of the newest version installed."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(Path(path).parts[-3]),
    )
    if not found:
        raise MissingBinary(name, "postgresql")
    return found[-1]


def as_root() -> bool:
    return os.geteuid() == 0


def owner_command(command: Sequence[str]) -> list[str]:
    """``command`` as the user the servers run as (``postgres`` under root)."""
    if not as_root():
        return list(command)
    runuser = shutil.which("runuser", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if runuser is None:
        raise MissingBinary("runuser", "util-linux")
    return [runuser, "-u", SUPERUSER, "--", *command]


class PostgresDir:
    """A temporary directory for servers and their files, owned by the user they run as,
    naming this process as its owner."""

    def __init__(self, prefix: str) -> None:
        # Not pytest's tmp_path: its parents are private to the test user, and the servers
        # may run as ``postgres``.
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        (self.root / _OWNER_FILE).write_text(str(os.getpid()))
        self.own(self.root)

    def own(self, *paths: Path) -> None:
        """Give ``paths`` to the user the servers run as."""
        if as_root():
            entry = pwd.getpwnam(SUPERUSER)
            for path in paths:
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def run(self, *command: str, logs: str = "") -> str:
        """Run ``command`` as the servers' user in this directory; its output. On failure
        the error shows the output and ``logs``."""
        result = subprocess.run(
            owner_command(command),
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=120,
            check=False,
            env={**os.environ, "LC_ALL": "C", "TZ": "UTC"},
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}\n{logs}"
            )
        return result.stdout

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class PostgresServer:
    """One ``postgres`` server with its data directory ``name`` inside ``home``;
    ``database`` is the one :meth:`admin` connects to unless told otherwise."""

    def __init__(self, home: PostgresDir, name: str, database: str = "postgres") -> None:
        self.home = home
        self.name = name
        self.database = database
        self.data = home.root / name
        self.port = free_port()
        self.log = home.root / f"{name}.log"

    def initdb(self, *options: str) -> None:
        """A new cluster; the superuser ``postgres`` connects over the Unix socket in the
        directory without a password, TCP clients with SCRAM."""
        self.run(
            pg_bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--locale=C",
            "-E",
            "UTF8",
            "--no-sync",
            *options,
        )

    def configure(self, settings: dict[str, str]) -> None:
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(lines)

    def start(self) -> None:
        self.run(
            pg_bin("pg_ctl"), "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60"
        )

    def stop(self, mode: str = "fast") -> None:
        self.run(pg_bin("pg_ctl"), "stop", "-D", str(self.data), "-m", mode, "-w")

    def running(self) -> bool:
        status = subprocess.run(
            owner_command([pg_bin("pg_ctl"), "status", "-D", str(self.data)]),
            capture_output=True,
            cwd=self.home.root,
            check=False,
        )
        return status.returncode == 0

    def run(self, *command: str) -> str:
        return self.home.run(*command, logs=self.log_tail())

    @contextlib.asynccontextmanager
    async def admin(self, database: str | None = None) -> AsyncIterator[asyncpg.Connection]:
        """A superuser connection over the Unix socket."""
        conn = await asyncpg.connect(
            host=str(self.home.root),
            port=self.port,
            user=SUPERUSER,
            database=database or self.database,
        )
        try:
            yield conn
        finally:
            await conn.close()

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale(prefix: str) -> None:
    """Stop what runs in, and remove, every ``prefix`` directory whose owner has died: each
    server (a data directory with a ``postmaster.pid``) and each process named by a
    ``*.pid`` file at its top."""
    for root in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            owner = int((root / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        for pid_file in root.glob("*.pid"):
            if pid_file.name != _OWNER_FILE:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
        for postmaster in sorted(root.glob("*/postmaster.pid"), reverse=True):
            subprocess.run(
                owner_command(
                    [pg_bin("pg_ctl"), "stop", "-D", str(postmaster.parent), "-m", "immediate"]
                ),
                capture_output=True,
                cwd=root,
                timeout=60,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)
