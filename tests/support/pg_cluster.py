"""A throwaway PostgreSQL primary with a streaming replica, for the postgres probe's tests.

Both servers come from Debian's ``postgresql`` package (``make test`` installs it): ``initdb``
makes the primary in a fresh temporary directory, ``pg_basebackup -R`` clones it into a
replica that streams from it, and ``pg_ctl`` starts and stops them on free ports. The
primary serves TLS with a certificate for ``localhost`` from a test CA; the replica has TLS
off. Over TCP every role authenticates with SCRAM; the superuser ``postgres`` connects over
the Unix socket in the cluster directory without a password.

``initdb`` refuses to run as root. Under root (CI, a fresh Debian) every server binary runs
as the ``postgres`` system user the package creates, in a directory that user owns; as a
normal user they run directly.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import trustme

from tests.support.services import free_port, wait_until

PROBE_USER = "pitwatch_probe"
PLAIN_USER = "pitwatch_plain"
PROBE_PASSWORD = "probe-pw-7c1e9a"  # a throwaway test cluster's password
DATABASE = "wallet"
SUPERUSER = "postgres"
MAX_CONNECTIONS = 30
CERT_EXPIRY = datetime(2032, 6, 7, 8, 9, 10, tzinfo=UTC)

_SCHEMA = f"""
CREATE TABLE withdrawals (
    id serial PRIMARY KEY,
    status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
INSERT INTO accounts VALUES (1, 100), (2, 100);
CREATE ROLE {PROBE_USER} LOGIN PASSWORD '{PROBE_PASSWORD}';
-- pg_monitor lets the probe see every session's state, as docs/configuration.md advises.
GRANT pg_monitor TO {PROBE_USER};
-- Write privileges on purpose: the read-only transaction, not a missing grant, must stop writes.
GRANT ALL ON withdrawals, accounts TO {PROBE_USER};
GRANT ALL ON SEQUENCE withdrawals_id_seq TO {PROBE_USER};
-- The same without pg_monitor: other roles' sessions are hidden from it.
CREATE ROLE {PLAIN_USER} LOGIN PASSWORD '{PROBE_PASSWORD}';
"""


def pg_bin(name: str) -> str:
    """A PostgreSQL server binary (not on PATH in Debian); fails, never skips, when missing."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(Path(path).parts[-3]),
    )
    if not found:
        raise RuntimeError(
            f"{name} not found: run `make test` (installs Debian package postgresql)"
        )
    return found[-1]


def _as_root() -> bool:
    return os.geteuid() == 0


def _owner_command(command: Sequence[str]) -> list[str]:
    if not _as_root():
        return list(command)
    runuser = shutil.which("runuser", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if runuser is None:
        raise RuntimeError("runuser not found (Debian package util-linux)")
    return [runuser, "-u", SUPERUSER, "--", *command]


class PgServer:
    """One ``postgres`` server of the cluster, controlled with ``pg_ctl``."""

    def __init__(self, cluster: PgCluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.data = cluster.root / name
        self.port = free_port()
        self.log = cluster.root / f"{name}.log"

    def start(self) -> None:
        self.cluster.run(
            pg_bin("pg_ctl"), "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60"
        )

    def stop(self, mode: str = "fast") -> None:
        self.cluster.run(pg_bin("pg_ctl"), "stop", "-D", str(self.data), "-m", mode, "-w")

    def running(self) -> bool:
        status = subprocess.run(
            _owner_command([pg_bin("pg_ctl"), "status", "-D", str(self.data)]),
            capture_output=True,
            cwd=self.cluster.root,
            check=False,
        )
        return status.returncode == 0

    def configure(self, settings: dict[str, str]) -> None:
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(lines)

    @contextlib.asynccontextmanager
    async def admin(self, database: str = DATABASE) -> AsyncIterator[asyncpg.Connection]:
        """A superuser connection over the Unix socket."""
        conn = await asyncpg.connect(
            host=str(self.cluster.root), port=self.port, user=SUPERUSER, database=database
        )
        try:
            yield conn
        finally:
            await conn.close()

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


_PREFIX = "pitwatch-pg-"
_OWNER = "owner.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale_clusters() -> None:
    """Stop and remove clusters whose test run was killed (SIGKILL skips every teardown)."""
    for root in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        try:
            owner = int((root / _OWNER).read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        _stop_pid_file(root / "pgbouncer.pid")
        for name in ("replica", "primary"):
            data = root / name
            if (data / "postmaster.pid").exists():
                subprocess.run(
                    _owner_command([pg_bin("pg_ctl"), "stop", "-D", str(data), "-m", "immediate"]),
                    capture_output=True,
                    cwd=root,
                    timeout=60,
                    check=False,
                )
        shutil.rmtree(root, ignore_errors=True)


def _stop_pid_file(path: Path) -> None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        os.kill(int(path.read_text().split()[0]), signal.SIGTERM)


class PgBouncer:
    """PgBouncer in transaction pooling mode in front of the primary's ``wallet`` database,
    with one server connection, so consecutive probes share it."""

    def __init__(self, cluster: PgCluster) -> None:
        self.cluster = cluster
        self.port = free_port()
        self.ini = cluster.root / "pgbouncer.ini"
        self.pid_file = cluster.root / "pgbouncer.pid"
        self.log = cluster.root / "pgbouncer.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        secret = self.cluster.psql(
            f"SELECT rolpassword FROM pg_authid WHERE rolname = '{PROBE_USER}'"
        )
        userlist = self.cluster.root / "userlist.txt"
        userlist.write_text(f'"{PROBE_USER}" "{secret.strip()}"\n')
        self.ini.write_text(
            "[databases]\n"
            f"{DATABASE} = host=127.0.0.1 port={self.cluster.primary.port} dbname={DATABASE}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = scram-sha-256\nauth_file = {userlist}\n"
            "pool_mode = transaction\ndefault_pool_size = 1\nmax_client_conn = 20\n"
            f"logfile = {self.log}\npidfile = {self.pid_file}\n"
        )
        self.cluster._own(userlist, self.ini)
        process = subprocess.Popen(
            _owner_command([_pgbouncer(), str(self.ini)]), cwd=self.cluster.root
        )
        self.process = process

        def up() -> bool:
            if process.poll() is not None:
                log = self.log.read_text() if self.log.exists() else ""
                raise RuntimeError(f"pgbouncer exited:\n{log}")
            return _listening(self.port)

        wait_until(up, 30, f"pgbouncer on port {self.port}")

    def stop(self) -> None:
        _stop_pid_file(self.pid_file)
        if self.process is not None:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _pgbouncer() -> str:
    found = shutil.which("pgbouncer", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        raise RuntimeError(
            "pgbouncer not found: run `make test` (installs Debian package pgbouncer)"
        )
    return found


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


class PgCluster:
    """The primary, its replica and the files a probe config needs (CA, password file)."""

    def __init__(self) -> None:
        # Not pytest's tmp_path: its parents are private to the test user, and the servers
        # may run as ``postgres``.
        self.root = Path(tempfile.mkdtemp(prefix=_PREFIX))
        (self.root / _OWNER).write_text(str(os.getpid()))
        if _as_root():
            entry = pwd.getpwnam(SUPERUSER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.primary = PgServer(self, "primary")
        self.replica = PgServer(self, "replica")
        self.ca = trustme.CA()
        self.ca_file = self.root / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    # -- lifecycle -----------------------------------------------------------------------
    def run(self, *command: str) -> str:
        result = subprocess.run(
            _owner_command(command),
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=120,
            check=False,
            env={**os.environ, "LC_ALL": "C", "TZ": "UTC"},
        )
        if result.returncode != 0:
            logs = self.primary.log_tail() + self.replica.log_tail()
            raise RuntimeError(
                f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}\n{logs}"
            )
        return result.stdout

    def start(self) -> None:
        self._init_primary()
        self.primary.start()
        self.psql(f"CREATE DATABASE {DATABASE}", database="postgres")
        self.psql(_SCHEMA)
        self.run(
            pg_bin("pg_basebackup"),
            "-D",
            str(self.replica.data),
            "-h",
            str(self.root),
            "-p",
            str(self.primary.port),
            "-U",
            SUPERUSER,
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        )
        self.replica.configure({"port": str(self.replica.port), "ssl": "off"})
        self.replica.start()

    def stop(self) -> None:
        for server in (self.replica, self.primary):
            if server.data.exists() and server.running():
                server.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def _init_primary(self) -> None:
        self.run(
            pg_bin("initdb"),
            "-D",
            str(self.primary.data),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--locale=C",
            "-E",
            "UTF8",
            "--no-sync",
        )
        cert = self.ca.issue_cert("localhost", not_after=CERT_EXPIRY)
        cert_file, key_file = self.root / "server.crt", self.root / "server.key"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        self._own(cert_file, key_file)
        key_file.chmod(0o600)
        self.primary.configure(
            {
                "listen_addresses": "'127.0.0.1'",
                "port": str(self.primary.port),
                "unix_socket_directories": f"'{self.root}'",
                "max_connections": str(MAX_CONNECTIONS),
                "shared_buffers": "16MB",
                "fsync": "off",
                "full_page_writes": "off",
                "synchronous_commit": "off",
                "deadlock_timeout": "100ms",
                # The replica retries its primary quickly after a restart.
                "wal_retrieve_retry_interval": "200ms",
                "ssl": "on",
                "ssl_cert_file": f"'{cert_file}'",
                "ssl_key_file": f"'{key_file}'",
            }
        )

    def _own(self, *paths: Path) -> None:
        if _as_root():
            entry = pwd.getpwnam(SUPERUSER)
            for path in paths:
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def psql(self, sql: str, database: str = DATABASE) -> str:
        """Run ``sql`` on the primary as the superuser; its unaligned output."""
        return self.run(
            pg_bin("psql"),
            "-At",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.root),
            "-p",
            str(self.primary.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-c",
            sql,
        )

    # -- what probe configs need ---------------------------------------------------------
    def password_file(self, directory: Path, password: str = PROBE_PASSWORD) -> Path:
        path = directory / "pg-password"
        path.write_text(password + "\n")
        return path


@contextlib.contextmanager
def running_cluster() -> Iterator[PgCluster]:
    reap_stale_clusters()
    cluster = PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@contextlib.contextmanager
def running_bouncer(cluster: PgCluster) -> Iterator[PgBouncer]:
    bouncer = PgBouncer(cluster)
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.stop()
