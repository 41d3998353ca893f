"""The postgres probe against a real PostgreSQL primary and its streaming replica."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devtools import REPO
from devtools.postgres import PostgresServer
from devtools.processes import free_port, http_get, wait_until
from pitwatch.config import ConfigError
from pitwatch.exposition import LineBuilder
from pitwatch.reasons import Reason
from pitwatch.result import Observation
from tests.support.fake_platform import counting_listener
from tests.support.pg_cluster import (
    CERT_EXPIRY,
    DATABASE,
    MAX_CONNECTIONS,
    PLAIN_USER,
    PROBE_PASSWORD,
    PROBE_USER,
    PgBouncer,
    PgCluster,
    pg_password_file,
    running_bouncer,
)
from tests.support.sandbox import probe_offline
from tests.support.services import Pitwatch, promtool_check_metrics, run_tool
from tests.support.targets import config_from, one_target, probe_target, samples_of, write_config

STUCK_WITHDRAWALS = (
    "SELECT count(*) FROM withdrawals "
    "WHERE status = 'pending' AND created_at < now() - interval '10 minutes'"
)


@pytest.fixture(scope="session")
def pgbouncer(pg: PgCluster) -> Iterator[PgBouncer]:
    with running_bouncer(pg) as bouncer:
        yield bouncer


def connection(server: PostgresServer, tmp_path: Path, host: str = "127.0.0.1") -> str:
    password_file = pg_password_file(tmp_path)
    return (
        f"probe: postgres\nhost: {host}\nport: {server.port}\nuser: {PROBE_USER}\n"
        f"database: {DATABASE}\npassword_file: {password_file}\n"
    )


async def pg_probe(tmp_path: Path, body: str, probe_timeout: str = "2s") -> Observation:
    return await probe_target(config_from(tmp_path, one_target(body, timeout=probe_timeout)))


def value(observation: Observation, family: str, **labels: str) -> float | None:
    return samples_of(observation).get((family, tuple(labels.items())))


def checks_yaml(*checks: dict[str, str]) -> str:
    lines = ["checks:"]
    for check in checks:
        first = True
        for key, text in check.items():
            quoted = "'" + text.replace("'", "''") + "'"
            lines.append(f"  {'- ' if first else '  '}{key}: {quoted}")
            first = False
    return "\n".join(lines) + "\n"


async def eventually(
    condition: Callable[[], Awaitable[bool]], what: str, within: float = 30.0
) -> None:
    """Poll ``condition`` until it holds (PostgreSQL publishes statistics asynchronously)."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_healthy_primary(pg: PgCluster, tmp_path: Path) -> None:
    observation = await pg_probe(tmp_path, connection(pg.primary, tmp_path))
    result = observation.result
    assert result.success, result.message
    assert result.message.startswith("PostgreSQL 1")
    samples = samples_of(observation)
    (version,) = [labels[0][1] for name, labels in samples if name.endswith("server_info")]
    assert version.split(".")[0].isdigit()
    assert value(observation, "pitwatch_postgres_max_connections") == MAX_CONNECTIONS
    states = {
        labels[0][1]: count
        for (name, labels), count in samples.items()
        if name == "pitwatch_postgres_connections"
    }
    assert set(states) == {
        "active",
        "idle",
        "idle_in_transaction",
        "idle_in_transaction_aborted",
        "fastpath_function_call",
        "disabled",
        "unknown",
    }
    assert states["active"] >= 1  # the probe itself
    ratio = value(observation, "pitwatch_postgres_connections_used_ratio")
    assert ratio == pytest.approx(sum(states.values()) / MAX_CONNECTIONS)
    committed = value(observation, "pitwatch_postgres_transactions_committed_total")
    assert committed is not None and committed > 0
    assert value(observation, "pitwatch_postgres_transactions_rolled_back_total") is not None
    assert value(observation, "pitwatch_postgres_deadlocks_total") is not None
    size = value(observation, "pitwatch_postgres_database_size_bytes")
    assert size is not None and size > 1_000_000
    assert value(observation, "pitwatch_postgres_is_replica") == 0
    assert value(observation, "pitwatch_postgres_replication_lag_seconds") is None
    assert value(observation, "pitwatch_postgres_wal_receiver_up") is None
    for phase in ("connect", "query", "stats"):
        seconds = value(observation, "pitwatch_postgres_phase_duration_seconds", phase=phase)
        assert seconds is not None and seconds > 0, phase
    assert value(observation, "pitwatch_postgres_phase_duration_seconds", phase="checks") == 0
    # The default sslmode (prefer) got TLS from the primary: its certificate's expiry.
    expiry = value(observation, "pitwatch_tls_cert_expiry_timestamp_seconds")
    assert expiry == CERT_EXPIRY.timestamp()


async def test_a_fresh_connection_every_probe(pg: PgCluster, tmp_path: Path) -> None:
    body = connection(pg.primary, tmp_path) + checks_yaml(
        {"name": "backend", "query": "SELECT pg_backend_pid()"}
    )
    first = await pg_probe(tmp_path, body)
    second = await pg_probe(tmp_path, body)
    pids = [value(obs, "pitwatch_postgres_check_value", check="backend") for obs in (first, second)]
    assert None not in pids
    assert pids[0] != pids[1]
    async with pg.primary.admin() as admin:
        # Both were closed properly: no pitwatch session is left on the server.
        left = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pitwatch'"
        )
    assert left == 0


async def test_stopped_server_fails_with_connect_within_its_timeout(
    pg: PgCluster, tmp_path: Path
) -> None:
    primary, replica = connection(pg.primary, tmp_path), connection(pg.replica, tmp_path)
    await asyncio.to_thread(pg.primary.stop)
    try:
        started = time.monotonic()
        observation = await pg_probe(tmp_path, primary, probe_timeout="2s")
        elapsed = time.monotonic() - started
        assert observation.result.reason is Reason.CONNECT, observation.result.message
        assert observation.result.message == (
            f"cannot connect to 127.0.0.1:{pg.primary.port}: connection refused"
        )
        assert elapsed < 2.0
        assert observation.duration < 2.0

        # The replica keeps serving, and says that it lost its primary.
        async def receiver_down() -> bool:
            seen = await pg_probe(tmp_path, replica)
            return seen.result.success and value(seen, "pitwatch_postgres_wal_receiver_up") == 0

        await eventually(receiver_down, "the replica's WAL receiver to stop")
    finally:
        await asyncio.to_thread(pg.primary.start)
    recovered = await pg_probe(tmp_path, primary)
    assert recovered.result.success, recovered.result.message

    async def receiver_up() -> bool:
        seen = await pg_probe(tmp_path, replica)
        return value(seen, "pitwatch_postgres_wal_receiver_up") == 1

    await eventually(receiver_up, "the replica to stream again")


async def test_hung_server_fails_with_connect_at_connect_timeout(tmp_path: Path) -> None:
    # The kernel completes the handshake into the backlog; nobody ever answers.
    listener, port = counting_listener()
    try:
        body = f"probe: postgres\nhost: 127.0.0.1\nport: {port}\nuser: u\nconnect_timeout: 300ms"
        observation = await pg_probe(tmp_path, body, probe_timeout="2s")
    finally:
        listener.close()
    assert observation.result.reason is Reason.CONNECT
    assert observation.result.message == f"no connection to 127.0.0.1:{port} within 300ms"
    assert 0.3 <= observation.duration < 2.0


async def _http_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.read(64)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
    finally:
        writer.close()


@pytest.mark.parametrize("sslmode", ["prefer", "disable"])
async def test_not_postgres_fails_without_a_hang(tmp_path: Path, sslmode: str) -> None:
    server = await asyncio.start_server(_http_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        body = f"probe: postgres\nhost: 127.0.0.1\nport: {port}\nuser: u\nsslmode: {sslmode}"
        observation = await pg_probe(tmp_path, body)
    finally:
        server.close()
        await server.wait_closed()
    result = observation.result
    if sslmode == "prefer":
        # The answer to the TLS request is neither yes nor no: not PostgreSQL.
        assert result.reason is Reason.PROTOCOL, result.message
        assert result.message == (
            f"127.0.0.1:{port} does not speak PostgreSQL (odd answer to the TLS request)"
        )
    else:
        assert result.reason is Reason.CONNECT, result.message
        assert result.message == f"127.0.0.1:{port} closed the connection during the handshake"


def test_unknown_host_is_dns(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, one_target("probe: postgres\nhost: no-such-host.invalid\nuser: u")
    )
    result = probe_offline(config)["t"]
    assert result["reason"] == "dns"
    assert result["message"].startswith("cannot resolve no-such-host.invalid: ")


async def test_wrong_password_is_auth(pg: PgCluster, tmp_path: Path) -> None:
    body = connection(pg.primary, tmp_path)
    pg_password_file(tmp_path, "not-the-password")
    observation = await pg_probe(tmp_path, body)
    assert observation.result.reason is Reason.AUTH
    assert observation.result.message == (
        f'authentication failed: password authentication failed for user "{PROBE_USER}"'
    )
    assert value(observation, "pitwatch_postgres_phase_duration_seconds", phase="connect")


async def test_missing_database_is_connect(pg: PgCluster, tmp_path: Path) -> None:
    body = connection(pg.primary, tmp_path).replace(f"database: {DATABASE}", "database: nope")
    observation = await pg_probe(tmp_path, body)
    assert observation.result.reason is Reason.CONNECT
    assert observation.result.message == (
        f'127.0.0.1:{pg.primary.port} refused the connection: database "nope" does not exist'
    )


async def test_check_assertion_fires_and_clears(pg: PgCluster, tmp_path: Path) -> None:
    body = connection(pg.primary, tmp_path) + checks_yaml(
        {"name": "stuck_withdrawals", "query": STUCK_WITHDRAWALS, "expect": "== 0"},
        {"name": "withdrawals", "query": "SELECT count(*) FROM withdrawals"},
    )
    async with pg.primary.admin() as admin:
        stuck = await admin.fetchval(
            "INSERT INTO withdrawals (status, created_at) "
            "VALUES ('pending', now() - interval '20 minutes') RETURNING id"
        )
        try:
            failed = await pg_probe(tmp_path, body)
            assert failed.result.reason is Reason.ASSERTION
            assert failed.result.message == "check stuck_withdrawals == 0 (got 1)"
            assert failed.result.details == (
                ("check", "stuck_withdrawals"),
                ("value", "1"),
                ("expected", "== 0"),
            )
            assert value(failed, "pitwatch_postgres_check_value", check="stuck_withdrawals") == 1
            assert value(failed, "pitwatch_postgres_check_success", check="stuck_withdrawals") == 0
            # A failing check does not stop the others.
            assert value(failed, "pitwatch_postgres_check_success", check="withdrawals") == 1

            await admin.execute("UPDATE withdrawals SET status = 'paid' WHERE id = $1", stuck)
            passed = await pg_probe(tmp_path, body)
            assert passed.result.success, passed.result.message
            assert value(passed, "pitwatch_postgres_check_value", check="stuck_withdrawals") == 0
            assert value(passed, "pitwatch_postgres_check_success", check="stuck_withdrawals") == 1
            seconds = value(
                passed, "pitwatch_postgres_check_duration_seconds", check="stuck_withdrawals"
            )
            assert seconds is not None and seconds > 0
        finally:
            await admin.execute("DELETE FROM withdrawals WHERE id = $1", stuck)


async def test_checks_cannot_write(pg: PgCluster, tmp_path: Path) -> None:
    body = connection(pg.primary, tmp_path) + checks_yaml(
        {
            "name": "sneaky_delete",
            "query": "WITH gone AS (DELETE FROM withdrawals RETURNING 1) SELECT count(*) FROM gone",
        },
        {"name": "sequence", "query": "SELECT nextval('withdrawals_id_seq')"},
        {"name": "two_statements", "query": "SELECT 1; DELETE FROM withdrawals"},
        {"name": "escape", "query": "COMMIT"},
        {"name": "count", "query": "SELECT count(*) FROM withdrawals"},
    )
    async with pg.primary.admin() as admin:
        await admin.execute("INSERT INTO withdrawals (status) VALUES ('paid')")
        try:
            before = await admin.fetchval("SELECT count(*) FROM withdrawals")
            observation = await pg_probe(tmp_path, body)
            after = await admin.fetchval("SELECT count(*) FROM withdrawals")
        finally:
            await admin.execute("DELETE FROM withdrawals")
    assert after == before
    result = observation.result
    assert result.reason is Reason.ASSERTION
    # PostgreSQL names the statement's top level, the SELECT, not the DELETE inside it.
    assert result.message == (
        "check sneaky_delete: tried to write, but checks run read-only: "
        "cannot execute SELECT in a read-only transaction (and 3 more failed checks)"
    )
    errors = dict(zip(result.details[::2], result.details[1::2], strict=True))
    assert errors[("check", "sequence")] == (
        "error",
        "tried to write, but checks run read-only: "
        "cannot execute nextval() in a read-only transaction",
    )
    assert errors[("check", "two_statements")] == (
        "error",
        "query failed: cannot insert multiple commands into a prepared statement",
    )
    assert errors[("check", "escape")] == ("error", "returned 0 rows, expected one number")
    assert value(observation, "pitwatch_postgres_check_value", check="count") == before
    assert value(observation, "pitwatch_postgres_check_success", check="count") == 1


async def test_check_results_must_be_one_number(pg: PgCluster, tmp_path: Path) -> None:
    body = connection(pg.primary, tmp_path) + checks_yaml(
        {"name": "nothing", "query": "SELECT 1 WHERE false"},
        {"name": "null", "query": "SELECT max(id) FROM withdrawals WHERE false"},
        {"name": "words", "query": "SELECT 'ok'"},
        {"name": "interval", "query": "SELECT interval '90 seconds'", "expect": "< 120"},
        {"name": "boolean", "query": "SELECT pg_is_in_recovery()", "expect": "== 0"},
        {"name": "numeric", "query": "SELECT 2.5::numeric", "expect": ">= 2.5"},
    )
    observation = await pg_probe(tmp_path, body)
    errors = dict(
        zip(observation.result.details[1::2], observation.result.details[::2], strict=True)
    )
    assert errors == {
        ("error", "returned 0 rows, expected one number"): ("check", "nothing"),
        ("error", "returned NULL, expected one number"): ("check", "null"),
        ("error", "returned a str, expected one number"): ("check", "words"),
    }
    assert value(observation, "pitwatch_postgres_check_value", check="interval") == 90
    assert value(observation, "pitwatch_postgres_check_value", check="boolean") == 0
    assert value(observation, "pitwatch_postgres_check_value", check="numeric") == 2.5
    for name in ("interval", "boolean", "numeric"):
        assert value(observation, "pitwatch_postgres_check_success", check=name) == 1


async def _sleeping_sessions(server: PostgresServer) -> int:
    async with server.admin() as admin:
        count = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE state = 'active' AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()"
        )
    return int(count)


async def test_statement_timeout_cancels_a_slow_check(pg: PgCluster, tmp_path: Path) -> None:
    body = connection(pg.primary, tmp_path) + checks_yaml(
        {"name": "slow_report", "query": "SELECT count(*) FROM pg_sleep(30)", "timeout": "300ms"},
        {"name": "after", "query": "SELECT 1"},
    )
    observation = await pg_probe(tmp_path, body, probe_timeout="2s")
    assert observation.result.reason is Reason.TIMEOUT
    assert observation.result.message == (
        "check slow_report: cancelled by statement_timeout after 300ms"
    )
    assert observation.duration < 2.0
    seconds = value(observation, "pitwatch_postgres_check_duration_seconds", check="slow_report")
    assert seconds is not None and 0.3 <= seconds < 2.0
    assert value(observation, "pitwatch_postgres_check_success", check="after") == 1
    assert await _sleeping_sessions(pg.primary) == 0


async def test_a_check_never_outlives_the_probe(pg: PgCluster, tmp_path: Path) -> None:
    body = connection(pg.primary, tmp_path) + checks_yaml(
        {"name": "unbounded", "query": "SELECT count(*) FROM pg_sleep(30)"}
    )
    observation = await pg_probe(tmp_path, body, probe_timeout="1s")
    result = observation.result
    assert result.reason is Reason.TIMEOUT
    # Normally the statement_timeout answers first; on a starved machine the deadline may.
    assert result.message.startswith(
        ("check unbounded: cancelled by statement_timeout after ", "no answer within 1s")
    ), result.message
    assert "unbounded" in result.message
    assert observation.duration < 5.0  # far from the 30 s the query asked for
    assert value(observation, "pitwatch_postgres_check_success", check="unbounded") == 0

    # The server stopped the query itself: nothing keeps running after the probe gave up.
    async def stopped() -> bool:
        return await _sleeping_sessions(pg.primary) == 0

    await eventually(stopped, "the server to cancel the check's query", within=10)


async def test_connections_by_state(pg: PgCluster, tmp_path: Path) -> None:
    async with pg.primary.admin() as admin:
        await admin.execute("BEGIN")
        await admin.execute("SELECT 1")
        try:
            observation = await pg_probe(tmp_path, connection(pg.primary, tmp_path))
        finally:
            await admin.execute("ROLLBACK")
    idle_in_transaction = value(
        observation, "pitwatch_postgres_connections", state="idle_in_transaction"
    )
    assert idle_in_transaction is not None and idle_in_transaction >= 1


async def test_sessions_hidden_from_the_role_count_as_unknown(
    pg: PgCluster, tmp_path: Path
) -> None:
    body = connection(pg.primary, tmp_path).replace(PROBE_USER, PLAIN_USER)
    async with pg.primary.admin():
        observation = await pg_probe(tmp_path, body)
    assert observation.result.success, observation.result.message
    unknown = value(observation, "pitwatch_postgres_connections", state="unknown")
    assert unknown is not None and unknown >= 1  # the superuser's session
    assert value(observation, "pitwatch_postgres_connections", state="active") == 1  # its own


async def _deadlock(server: PostgresServer) -> None:
    async with server.admin() as first, server.admin() as second:
        await first.execute("BEGIN")
        await second.execute("BEGIN")
        await first.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
        await second.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 2")
        outcomes = await asyncio.gather(
            first.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 2"),
            second.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1"),
            return_exceptions=True,
        )
        await first.execute("ROLLBACK")
        await second.execute("ROLLBACK")
    victims = [item for item in outcomes if isinstance(item, asyncpg.DeadlockDetectedError)]
    assert len(victims) == 1, outcomes


async def test_transaction_and_deadlock_counters(pg: PgCluster, tmp_path: Path) -> None:
    body = connection(pg.primary, tmp_path)

    async def counters() -> tuple[float, float, float]:
        observation = await pg_probe(tmp_path, body)
        found = [
            value(observation, f"pitwatch_postgres_{name}_total")
            for name in ("transactions_committed", "transactions_rolled_back", "deadlocks")
        ]
        assert None not in found
        return found[0] or 0.0, found[1] or 0.0, found[2] or 0.0

    committed, rolled_back, deadlocks = await counters()
    await _deadlock(pg.primary)

    async def counted() -> bool:
        now = await counters()
        return now[0] > committed and now[1] >= rolled_back + 2 and now[2] == deadlocks + 1

    await eventually(counted, "pg_stat_database to count the deadlock and two rollbacks")


async def test_replica_reports_replication_lag(pg: PgCluster, tmp_path: Path) -> None:
    body = connection(pg.replica, tmp_path)
    async with pg.primary.admin() as primary, pg.replica.admin() as replica:

        async def replayed() -> bool:
            return bool(
                await replica.fetchval(
                    "SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() "
                    "AND pg_last_xact_replay_timestamp() IS NOT NULL"
                )
            )

        await primary.execute("INSERT INTO withdrawals (status) VALUES ('replicated')")
        await eventually(replayed, "the replica to replay a transaction")
        caught_up = await pg_probe(tmp_path, body)
        assert caught_up.result.success, caught_up.result.message
        assert value(caught_up, "pitwatch_postgres_is_replica") == 1
        assert value(caught_up, "pitwatch_postgres_replication_lag_seconds") == 0
        assert value(caught_up, "pitwatch_postgres_wal_receiver_up") == 1

        # Hold replay back while the primary writes: the replica receives WAL it has not
        # applied, and the lag is the age of the last transaction it did apply.
        await replica.execute("SELECT pg_wal_replay_pause()")
        try:
            await primary.execute("DELETE FROM withdrawals")

            async def behind() -> bool:
                return not await replayed()

            await eventually(behind, "WAL the replica has received but not replayed")
            lagging = await pg_probe(tmp_path, body)
            lag = value(lagging, "pitwatch_postgres_replication_lag_seconds")
            assert lag is not None and lag > 0
            later = await pg_probe(tmp_path, body)
            later_lag = value(later, "pitwatch_postgres_replication_lag_seconds")
            assert later_lag is not None and later_lag > lag
        finally:
            await replica.execute("SELECT pg_wal_replay_resume()")
        await eventually(replayed, "the replica to catch up")
    caught_up = await pg_probe(tmp_path, body)
    assert value(caught_up, "pitwatch_postgres_replication_lag_seconds") == 0


async def test_through_pgbouncer_in_transaction_mode(
    pg: PgCluster, pgbouncer: PgBouncer, tmp_path: Path
) -> None:
    # PgBouncer hands its one server connection to each probe in turn: nothing a probe
    # sets may outlive its transactions, and no startup parameter may upset it.
    body = (
        f"probe: postgres\nhost: 127.0.0.1\nport: {pgbouncer.port}\nuser: {PROBE_USER}\n"
        f"database: {DATABASE}\npassword_file: {pg.password_file(tmp_path)}\n"
        "sslmode: disable\n"
    )
    slow = body + checks_yaml(
        {"name": "slow", "query": "SELECT count(*) FROM pg_sleep(30)", "timeout": "300ms"}
    )
    cancelled = await pg_probe(tmp_path, slow)
    assert cancelled.result.reason is Reason.TIMEOUT, cancelled.result.message
    checked = body + checks_yaml(
        {"name": "stuck_withdrawals", "query": STUCK_WITHDRAWALS, "expect": "== 0"}
    )
    for _ in range(2):
        observation = await pg_probe(tmp_path, checked)
        assert observation.result.success, observation.result.message
        assert value(observation, "pitwatch_postgres_max_connections") == MAX_CONNECTIONS
    # The one server connection PgBouncer keeps carries none of the probes' settings.
    client = await asyncpg.connect(
        host="127.0.0.1",
        port=pgbouncer.port,
        user=PROBE_USER,
        password=PROBE_PASSWORD,
        database=DATABASE,
        ssl=False,
        statement_cache_size=0,
    )
    try:
        assert await client.fetchval("SHOW statement_timeout") == "0"
        assert await client.fetchval("SHOW transaction_read_only") == "off"
    finally:
        await client.close()


async def test_stats_false_skips_the_statistics(pg: PgCluster, tmp_path: Path) -> None:
    observation = await pg_probe(tmp_path, connection(pg.primary, tmp_path) + "stats: false")
    assert observation.result.success, observation.result.message
    names = {name for name, _ in samples_of(observation)}
    assert "pitwatch_postgres_server_info" in names  # from the handshake, no query needed
    assert "pitwatch_postgres_max_connections" not in names
    assert value(observation, "pitwatch_postgres_phase_duration_seconds", phase="stats") == 0


class TlsCase(NamedTuple):
    sslmode: str
    host: str
    ca_file: bool
    reason: Reason | None = None
    message: str = ""


TLS_CASES = [
    TlsCase("verify-full", "localhost", ca_file=True),
    TlsCase("verify-ca", "127.0.0.1", ca_file=True),
    TlsCase("require", "127.0.0.1", ca_file=False),
    # The certificate names localhost, not the address.
    TlsCase(
        "verify-full",
        "127.0.0.1",
        ca_file=True,
        reason=Reason.TLS,
        message="TLS handshake with 127.0.0.1:{port} failed: ",
    ),
    # Without ca_file the system store is trusted, and it does not know the test CA.
    TlsCase(
        "verify-ca",
        "127.0.0.1",
        ca_file=False,
        reason=Reason.TLS,
        message="TLS handshake with 127.0.0.1:{port} failed: unable to get local issuer "
        "certificate",
    ),
]


@pytest.mark.parametrize("case", TLS_CASES)
async def test_tls_modes(pg: PgCluster, tmp_path: Path, case: TlsCase) -> None:
    body = connection(pg.primary, tmp_path, host=case.host) + f"sslmode: {case.sslmode}\n"
    if case.ca_file:
        body += f"tls:\n  ca_file: {pg.ca_file}\n"
    observation = await pg_probe(tmp_path, body)
    assert observation.result.reason is case.reason, observation.result.message
    if case.reason is not None:
        assert observation.result.message.startswith(case.message.format(port=pg.primary.port))
    else:
        expiry = value(observation, "pitwatch_tls_cert_expiry_timestamp_seconds")
        assert expiry == CERT_EXPIRY.timestamp()


async def test_tls_required_but_off_is_tls(pg: PgCluster, tmp_path: Path) -> None:
    body = connection(pg.replica, tmp_path) + "sslmode: require\n"
    observation = await pg_probe(tmp_path, body)
    assert observation.result.reason is Reason.TLS
    assert observation.result.message == (
        f"127.0.0.1:{pg.replica.port} does not accept TLS (sslmode require requires it)"
    )


async def test_sslmode_disable_uses_no_tls(pg: PgCluster, tmp_path: Path) -> None:
    body = connection(pg.primary, tmp_path) + "sslmode: disable\n"
    observation = await pg_probe(tmp_path, body)
    assert observation.result.success, observation.result.message
    assert value(observation, "pitwatch_tls_cert_expiry_timestamp_seconds") is None


async def test_dsn_with_sslmode(
    pg: PgCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = pg.primary.port
    monkeypatch.setenv(
        "PITWATCH_TEST_DSN",
        f"postgresql://{PROBE_USER}:{PROBE_PASSWORD}@127.0.0.1:{port}/{DATABASE}?sslmode=disable",
    )
    observation = await pg_probe(tmp_path, "probe: postgres\ndsn: ${PITWATCH_TEST_DSN}")
    assert observation.result.success, observation.result.message
    assert value(observation, "pitwatch_tls_cert_expiry_timestamp_seconds") is None


async def test_refused_port_named_in_message(tmp_path: Path) -> None:
    port = free_port()
    observation = await pg_probe(
        tmp_path, f"probe: postgres\nhost: 127.0.0.1\nport: {port}\nuser: u"
    )
    assert observation.result.message == f"cannot connect to 127.0.0.1:{port}: connection refused"


SECRET = "Zq9x-s3cret-4711"
"""A value that shows up in no legitimate output: the secret-bearing fields carry it."""


def rendered(observation: Observation) -> str:
    lines = LineBuilder('target="t"')
    lines.add_samples(observation.result.samples)
    return b"".join(lines.fragments().values()).decode()


def assert_no_secret(observation: Observation, *secrets: str) -> None:
    result = observation.result
    shown = [result.message, *(value for _, value in result.details), rendered(observation)]
    for secret in secrets:
        for text in shown:
            assert secret not in text, text


def secret_bodies(
    pg: PgCluster, tmp_path: Path, field: str, password: str, port: int
) -> tuple[str, dict[str, str]]:
    """A target whose ``field`` carries ``password``, and the environment it needs."""
    dsn = f"postgresql://{PROBE_USER}:{quote(password, safe='')}@127.0.0.1:{port}/{DATABASE}"
    host_form = (
        f"probe: postgres\nhost: 127.0.0.1\nport: {port}\nuser: {PROBE_USER}\n"
        f"database: {DATABASE}\n"
    )
    secret_file = tmp_path / "secret"
    if field == "dsn":
        return "probe: postgres\ndsn: ${PITWATCH_TEST_SECRET}", {"PITWATCH_TEST_SECRET": dsn}
    if field == "dsn_file":
        secret_file.write_text(dsn + "\n")
        return f"probe: postgres\ndsn_file: {secret_file}", {}
    if field == "password":
        env = {"PITWATCH_TEST_SECRET": password}
        return host_form + "password: ${PITWATCH_TEST_SECRET}", env
    secret_file.write_text(password + "\n")
    return host_form + f"password_file: {secret_file}", {}


@pytest.mark.parametrize("field", ["dsn", "dsn_file", "password", "password_file"])
async def test_secrets_never_leak(
    pg: PgCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    checks = checks_yaml(
        {"name": "fails", "query": "SELECT 1/0"},
        {"name": "asserts", "query": "SELECT 2", "expect": "< 1"},
    )
    cases = [
        # wrong password: auth
        (f"{SECRET}@:/?#%", pg.primary.port, Reason.AUTH),
        # nothing listening: connect
        (SECRET, free_port(), Reason.CONNECT),
    ]
    for password, port, reason in cases:
        body, env = secret_bodies(pg, tmp_path, field, password, port)
        for name, text in env.items():
            monkeypatch.setenv(name, text)
        config = config_from(tmp_path, one_target(body))
        observation = await probe_target(config)
        assert observation.result.reason is reason, observation.result.message
        assert_no_secret(observation, password, quote(password, safe=""), SECRET)
    # The right password, with checks failing on purpose: nothing of it shows either.
    body, env = secret_bodies(pg, tmp_path, field, PROBE_PASSWORD, pg.primary.port)
    for name, text in env.items():
        monkeypatch.setenv(name, text)
    config = config_from(tmp_path, one_target(body + "\n" + checks))
    observation = await probe_target(config)
    assert observation.result.reason is Reason.ASSERTION, observation.result.message
    assert_no_secret(observation, PROBE_PASSWORD)


def test_invalid_dsn_is_reported_without_quoting_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PITWATCH_TEST_SECRET", f"mysql://app:{SECRET}@db:3306/wallet")
    (tmp_path / "dsn").write_text(f"postgresql://app:{SECRET}@db:5432/wallet?sslmode=bogus\n")
    body = (
        "global:\n  interval: 10s\nhost:\n  enabled: false\ntargets:\n"
        "  - {name: a, component: database, probe: postgres, dsn: '${PITWATCH_TEST_SECRET}'}\n"
        "  - {name: b, component: database, probe: postgres, dsn_file: dsn}\n"
    )
    with pytest.raises(ConfigError) as caught:
        config_from(tmp_path, body)
    assert SECRET not in str(caught.value)
    assert [problem.split(": ", 1)[1] for problem in caught.value.problems] == [
        'target "a": dsn: the DSN must start with postgres:// or postgresql://',
        'target "b": dsn_file: the DSN\'s sslmode must be one of disable, allow, prefer, '
        "require, verify-ca, verify-full",
    ]


# -- a real `pitwatch run` -----------------------------------------------------------------


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample of ``name`` whose labels include ``labels``."""
    found = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


def pitwatch_config(pg: PgCluster, tmp_path: Path, interval: str, timeout: str) -> Path:
    password_file = pg_password_file(tmp_path)
    wrong_file = tmp_path / "wrong-password"
    wrong_file.write_text(SECRET + "\n")
    common = f"host: 127.0.0.1\nuser: {PROBE_USER}\ndatabase: {DATABASE}\n"
    targets = [
        "name: wallet-db\ncomponent: database\ntier: 1\nteam: payments\nprobe: postgres\n"
        f"port: {pg.primary.port}\n{common}password_file: {password_file}\n"
        + checks_yaml({"name": "stuck_withdrawals", "query": STUCK_WITHDRAWALS, "expect": "== 0"}),
        "name: wallet-db-replica\ncomponent: database\ntier: 2\nteam: payments\n"
        f"probe: postgres\nport: {pg.replica.port}\n{common}password_file: {password_file}\n",
        "name: reports-db\ncomponent: database\nprobe: postgres\n"
        f"port: {pg.primary.port}\n{common}password_file: {wrong_file}\n",
    ]
    items = "".join(
        "  - " + "\n    ".join(target.strip().splitlines()) + "\n" for target in targets
    )
    path = tmp_path / "pitwatch.yml"
    path.write_text(
        f"global:\n  interval: {interval}\n  timeout: {timeout}\n  labels: {{platform: test}}\n"
        f"host:\n  enabled: false\ntargets:\n{items}"
    )
    return path


@pytest.mark.slow
def test_pitwatch_run_exposes_clean_postgres_metrics(pg: PgCluster, tmp_path: Path) -> None:
    interval, timeout = 1.0, 0.8
    config = pitwatch_config(pg, tmp_path, f"{interval:g}s", f"{timeout * 1000:g}ms")
    with Pitwatch(tmp_path / "run", config) as pitwatch:

        def settled() -> bool:
            text = pitwatch.metrics()
            return (
                metric(text, "pitwatch_probe_success", target="wallet-db") == 1
                and metric(text, "pitwatch_probe_success", target="reports-db") == 0
                and metric(
                    text, "pitwatch_postgres_replication_lag_seconds", target="wallet-db-replica"
                )
                is not None
            )

        wait_until(settled, 30, "every postgres target probed")
        text = pitwatch.metrics()
        assert promtool_check_metrics(text) == ""
        for family in (
            "pitwatch_postgres_server_info",
            "pitwatch_postgres_connections",
            "pitwatch_postgres_max_connections",
            "pitwatch_postgres_connections_used_ratio",
            "pitwatch_postgres_transactions_committed_total",
            "pitwatch_postgres_transactions_rolled_back_total",
            "pitwatch_postgres_deadlocks_total",
            "pitwatch_postgres_database_size_bytes",
            "pitwatch_postgres_is_replica",
            "pitwatch_postgres_check_value",
            "pitwatch_postgres_check_success",
            "pitwatch_postgres_check_duration_seconds",
            "pitwatch_postgres_phase_duration_seconds",
        ):
            assert f"\n{family}{{" in text, family
        assert metric(text, "pitwatch_postgres_is_replica", target="wallet-db-replica") == 1
        assert metric(text, "pitwatch_postgres_wal_receiver_up", target="wallet-db-replica") == 1
        assert (
            metric(text, "pitwatch_postgres_check_success", target="wallet-db", team="payments")
            == 1
        )
        assert (
            metric(text, "pitwatch_probe_errors_total", target="reports-db", reason="auth") or 0
        ) >= 1
        _, page = http_get(f"{pitwatch.url}/")
        for output in (text, page.decode(), pitwatch.log()):
            assert SECRET not in output
            assert PROBE_PASSWORD not in output

        # Stopping the server turns its probe to 0, reason connect, within one interval plus
        # the timeout. The extra second covers this test's polling and the shared CPU.
        pg.primary.stop()
        try:
            stopped = time.monotonic()

            def down() -> bool:
                text = pitwatch.metrics()
                return (
                    metric(text, "pitwatch_probe_success", target="wallet-db") == 0
                    and (
                        metric(
                            text,
                            "pitwatch_probe_errors_total",
                            target="wallet-db",
                            reason="connect",
                        )
                        or 0
                    )
                    >= 1
                )

            wait_until(down, 10, "wallet-db to fail with reason connect", interval=0.05)
            assert time.monotonic() - stopped < interval + timeout + 1.0
        finally:
            pg.primary.start()
        wait_until(
            lambda: metric(pitwatch.metrics(), "pitwatch_probe_success", target="wallet-db") == 1,
            30,
            "wallet-db to recover",
        )


def test_example_config_passes_check_config() -> None:
    example = REPO / "deploy" / "examples" / "postgres.yml"
    result = run_tool(sys.executable, "-m", "pitwatch", "check-config", str(example))
    assert result.stdout.strip().endswith("OK, 4 targets")
