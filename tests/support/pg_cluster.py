"""A throwaway PostgreSQL primary with a streaming replica, for the postgres probe's tests.

The servers are :mod:`devtools.postgres`'s: the primary made by ``initdb``, and
``pg_basebackup -R`` clones it into a replica that streams from it. The primary serves TLS
with a certificate for ``localhost`` from a test CA; the replica has TLS off. Over TCP every
role authenticates with SCRAM; the superuser ``postgres`` connects over the Unix socket in
the cluster directory without a password.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import trustme

from devtools.postgres import (
    SUPERUSER,
    PostgresDir,
    PostgresServer,
    owner_command,
    pg_bin,
    reap_stale,
)
from devtools.processes import binary, free_port, wait_until

PROBE_USER = "pitwatch_probe"
PLAIN_USER = "pitwatch_plain"
PROBE_PASSWORD = "probe-pw-7c1e9a"  # a throwaway test cluster's password
DATABASE = "wallet"
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


_PREFIX = "pitwatch-pg-"


def reap_stale_clusters() -> None:
    """Stop and remove clusters whose test run was killed (SIGKILL skips every teardown)."""
    reap_stale(_PREFIX)


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
        self.cluster.own(userlist, self.ini)
        process = subprocess.Popen(
            owner_command([_pgbouncer(), str(self.ini)]), cwd=self.cluster.root
        )
        self.process = process

        def up() -> bool:
            if process.poll() is not None:
                log = self.log.read_text() if self.log.exists() else ""
                raise RuntimeError(f"pgbouncer exited:\n{log}")
            return _listening(self.port)

        wait_until(up, 30, f"pgbouncer on port {self.port}")

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(self.pid_file.read_text().split()[0]), signal.SIGTERM)
        if self.process is not None:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _pgbouncer() -> str:
    return binary("pgbouncer", "pgbouncer")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


class PgCluster(PostgresDir):
    """The primary, its replica and the files a probe config needs (CA, password file)."""

    def __init__(self) -> None:
        super().__init__(_PREFIX)
        self.primary = PostgresServer(self, "primary", DATABASE)
        self.replica = PostgresServer(self, "replica", DATABASE)
        self.ca = trustme.CA()
        self.ca_file = self.root / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self._init_primary()
        self.primary.start()
        self.psql(f"CREATE DATABASE {DATABASE}", database="postgres")
        self.psql(_SCHEMA)
        self.primary.run(
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
        self.remove()

    def _init_primary(self) -> None:
        self.primary.initdb()
        cert = self.ca.issue_cert("localhost", not_after=CERT_EXPIRY)
        cert_file, key_file = self.root / "server.crt", self.root / "server.key"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        self.own(cert_file, key_file)
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

    def psql(self, sql: str, database: str = DATABASE) -> str:
        """Run ``sql`` on the primary as the superuser; its unaligned output."""
        return self.primary.run(
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

    def password_file(self, directory: Path, password: str = PROBE_PASSWORD) -> Path:
        return pg_password_file(directory, password)


def pg_password_file(directory: Path, password: str = PROBE_PASSWORD) -> Path:
    """The ``password_file`` a probe of the test cluster needs."""
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
