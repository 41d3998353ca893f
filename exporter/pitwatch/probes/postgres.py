"""The ``postgres`` prober: a fresh connection, a round trip, server statistics, named checks.

Every probe opens a new connection (a cached pool would report health it no longer has),
runs ``SELECT 1``, reads the server's statistics in one query and runs the configured
checks, each in its own ``READ ONLY`` transaction under a ``statement_timeout`` that never
outlives the probe. Only ``application_name`` goes into the startup packet and every other
setting is transaction-local, so the probe also works through PgBouncer in transaction mode.

Foreign errors become a :class:`ProbeFailure` in :mod:`pitwatch.probes._postgres_errors`;
the configuration model lives in :mod:`pitwatch.probes._postgres_config`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import asyncpg

from pitwatch.durations import format_duration
from pitwatch.exposition import format_value
from pitwatch.families import Family, register
from pitwatch.probes._kind import ProbeKind
from pitwatch.probes._postgres_config import Check, PostgresTarget, connect_arguments, where
from pitwatch.probes._postgres_errors import (
    Redact,
    check_failure,
    connect_failure,
    query_failure,
)
from pitwatch.probes._tls import earliest_expiry, expiry_sample, presented_chain
from pitwatch.reasons import ProbeFailure, Reason
from pitwatch.result import Passed, ProbeContext, Sample

PHASES = ("connect", "query", "stats", "checks")
STATES = (
    "active",
    "idle",
    "idle_in_transaction",
    "idle_in_transaction_aborted",
    "fastpath_function_call",
    "disabled",
    "unknown",
)
_STATE_LABELS = {
    "active": "active",
    "idle": "idle",
    "idle in transaction": "idle_in_transaction",
    "idle in transaction (aborted)": "idle_in_transaction_aborted",
    "fastpath function call": "fastpath_function_call",
    "disabled": "disabled",
}


def _gauge(name: str, help_: str, *labels: str) -> Family:
    return register(Family(name, "gauge", help_, labels))


def _counter(name: str, help_: str) -> Family:
    return register(Family(name, "counter", help_))


PG_PHASE = _gauge(
    "pitwatch_postgres_phase_duration_seconds",
    "Time the last probe spent in each phase (connect, query, stats, checks), in seconds.",
    "phase",
)
PG_SERVER_INFO = _gauge(
    "pitwatch_postgres_server_info",
    "PostgreSQL server version seen by the last probe; value 1.",
    "version",
)
PG_CONNECTIONS = _gauge(
    "pitwatch_postgres_connections",
    "Client connections to the server (all databases) by state, at the last probe.",
    "state",
)
PG_MAX_CONNECTIONS = _gauge(
    "pitwatch_postgres_max_connections",
    "The server's max_connections setting, at the last probe.",
)
PG_USED_RATIO = _gauge(
    "pitwatch_postgres_connections_used_ratio",
    "Client connections divided by max_connections, at the last probe, 0..1.",
)
PG_COMMITTED = _counter(
    "pitwatch_postgres_transactions_committed_total",
    "Transactions committed in the probed database (pg_stat_database.xact_commit).",
)
PG_ROLLED_BACK = _counter(
    "pitwatch_postgres_transactions_rolled_back_total",
    "Transactions rolled back in the probed database (pg_stat_database.xact_rollback).",
)
PG_DEADLOCKS = _counter(
    "pitwatch_postgres_deadlocks_total",
    "Deadlocks detected in the probed database (pg_stat_database.deadlocks).",
)
PG_SIZE = _gauge(
    "pitwatch_postgres_database_size_bytes",
    "Size of the probed database on disk at the last probe, in bytes.",
)
PG_IS_REPLICA = _gauge(
    "pitwatch_postgres_is_replica",
    "1 if the server was in recovery (a replica) at the last probe, else 0.",
)
PG_LAG = _gauge(
    "pitwatch_postgres_replication_lag_seconds",
    "Replicas only: seconds since the last replayed transaction's commit while WAL is "
    "waiting to be replayed, 0 when all received WAL is replayed; at the last probe.",
)
PG_WAL_RECEIVER = _gauge(
    "pitwatch_postgres_wal_receiver_up",
    "Replicas only: 1 if a WAL receiver was streaming from the primary at the last probe.",
)
PG_CHECK_VALUE = _gauge(
    "pitwatch_postgres_check_value",
    "The number a configured check query returned in the last probe.",
    "check",
)
PG_CHECK_SUCCESS = _gauge(
    "pitwatch_postgres_check_success",
    "1 if a configured check ran and met its expectation in the last probe, else 0.",
    "check",
)
PG_CHECK_DURATION = _gauge(
    "pitwatch_postgres_check_duration_seconds",
    "How long a configured check took in the last probe, in seconds.",
    "check",
)

_STATS_QUERY = """
SELECT
    current_setting('max_connections')::float8 AS max_connections,
    pg_is_in_recovery() AS is_replica,
    pg_database_size(current_database())::float8 AS size_bytes,
    d.xact_commit::float8 AS committed,
    d.xact_rollback::float8 AS rolled_back,
    d.deadlocks::float8 AS deadlocks,
    (SELECT coalesce(json_object_agg(s.state, s.n), '{}')::text
       FROM (SELECT coalesce(a.state, '') AS state, count(*) AS n
               FROM pg_stat_activity AS a
              WHERE a.backend_type = 'client backend'
                 -- A role without pg_monitor sees other roles' sessions with their type and
                 -- state hidden; a user and a database still tell a client from a worker.
                 OR (a.backend_type IS NULL AND a.usesysid IS NOT NULL AND a.datid IS NOT NULL)
              GROUP BY 1) AS s) AS connections,
    CASE WHEN pg_is_in_recovery() THEN
        CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
             ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
        END
    END AS replication_lag,
    CASE WHEN pg_is_in_recovery() THEN
        -- Without pg_read_all_stats the status reads NULL, but the row still shows that a
        -- receiver runs.
        (SELECT count(*) FROM pg_stat_wal_receiver AS r
          WHERE r.status IS NULL OR r.status = 'streaming')::float8
    END AS wal_receivers
FROM pg_stat_database AS d
WHERE d.datname = current_database()
"""


@dataclass(slots=True)
class _CheckOutcome:
    check: Check
    seconds: float = 0.0
    value: float | None = None
    failure: ProbeFailure | None = None
    error: str = ""
    """The failure without the check's name, for the status page's details."""


@dataclass(slots=True)
class _Measured:
    """Everything one probe learnt, filled in as it goes (kept if the deadline cuts it)."""

    phases: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    version: str = ""
    stats: tuple[Sample, ...] = ()
    checks: list[_CheckOutcome] = field(default_factory=list)
    cert_expiry: float | None = None

    def samples(self) -> tuple[Sample, ...]:
        phases = tuple(
            Sample(PG_PHASE, seconds, (("phase", phase),)) for phase, seconds in self.phases.items()
        )
        info = (Sample(PG_SERVER_INFO, 1.0, (("version", self.version),)),) if self.version else ()
        checks: list[Sample] = []
        for outcome in self.checks:
            labels = (("check", outcome.check.name),)
            if outcome.value is not None:
                checks.append(Sample(PG_CHECK_VALUE, outcome.value, labels))
            # A check the deadline interrupted has neither a value nor a failure yet.
            passed = outcome.failure is None and outcome.value is not None
            checks.append(Sample(PG_CHECK_SUCCESS, float(passed), labels))
            checks.append(Sample(PG_CHECK_DURATION, outcome.seconds, labels))
        return (*phases, *info, *self.stats, *checks, *expiry_sample(self.cert_expiry))


async def probe(target: PostgresTarget, ctx: ProbeContext) -> Passed:
    measured = _Measured()
    try:
        conn = await _connect(target, ctx, measured)
        try:
            await _ping(conn, ctx, measured)
            if target.stats:
                await _read_stats(conn, ctx, measured)
            if target.checks:
                await _run_checks(conn, target, ctx, measured)
        except BaseException:
            conn.terminate()  # it may be mid-query: do not wait on it
            raise
        await _close(conn, ctx)
    finally:
        ctx.samples = measured.samples()
    failed = [outcome for outcome in measured.checks if outcome.failure is not None]
    if failed:
        raise _checks_failed(failed)
    return Passed(f"PostgreSQL {measured.version}")


async def _connect(
    target: PostgresTarget, ctx: ProbeContext, measured: _Measured
) -> asyncpg.Connection:
    place = where(target)
    ctx.step = f"connecting to {place}"
    budget = ctx.budget(target.connect_timeout)
    started = time.perf_counter()
    try:
        conn: asyncpg.Connection = await asyncpg.connect(
            timeout=budget, **connect_arguments(target)
        )
    except TimeoutError as exc:
        # Refused and unreachable are both "connect": a connection that never completes
        # (dropped packets, a wedged server) is reported as that, not as a generic timeout.
        raise ProbeFailure(
            Reason.CONNECT, f"no connection to {place} within {format_duration(budget)}"
        ) from exc
    except Exception as exc:
        failure = connect_failure(exc, target, ctx.redact)
        if failure is None:
            raise
        raise failure from exc
    finally:
        measured.phases["connect"] = time.perf_counter() - started
    # The server announces its version in the handshake: known even with stats off.
    announced = getattr(conn.get_settings(), "server_version", "")
    measured.version = str(announced).split(" ")[0]
    transport = getattr(conn, "_transport", None)  # asyncpg offers no public handle on TLS
    if transport is not None:
        chain = presented_chain(transport.get_extra_info("ssl_object"))
        measured.cert_expiry = earliest_expiry(chain)
    return conn


async def _ping(conn: asyncpg.Connection, ctx: ProbeContext, measured: _Measured) -> None:
    ctx.step = "running SELECT 1"
    started = time.perf_counter()
    try:
        await conn.fetchval("SELECT 1")
    except Exception as exc:
        raise _query_failure(exc, "SELECT 1", ctx.redact) from exc
    finally:
        measured.phases["query"] = time.perf_counter() - started


async def _read_stats(conn: asyncpg.Connection, ctx: ProbeContext, measured: _Measured) -> None:
    ctx.step = "reading server statistics"
    started = time.perf_counter()
    try:
        rows = await _read_only(conn, _STATS_QUERY, ctx.budget())
    except Exception as exc:
        raise _query_failure(exc, "the statistics query", ctx.redact) from exc
    finally:
        measured.phases["stats"] = time.perf_counter() - started
    if not rows:
        raise ProbeFailure(Reason.PROTOCOL, "pg_stat_database has no row for this database")
    measured.stats = _stats_samples(rows[0])


def _query_failure(exc: Exception, what: str, redact: Redact) -> Exception:
    failure = query_failure(exc, what, redact)
    return exc if failure is None else failure


def _stats_samples(row: asyncpg.Record) -> tuple[Sample, ...]:
    counts = dict.fromkeys(STATES, 0.0)
    for state, count in json.loads(row["connections"]).items():
        counts[_STATE_LABELS.get(state, "unknown")] += float(count)
    max_connections = float(row["max_connections"])
    samples = [
        *(Sample(PG_CONNECTIONS, count, (("state", state),)) for state, count in counts.items()),
        Sample(PG_MAX_CONNECTIONS, max_connections),
        Sample(PG_USED_RATIO, sum(counts.values()) / max_connections),
        Sample(PG_COMMITTED, float(row["committed"])),
        Sample(PG_ROLLED_BACK, float(row["rolled_back"])),
        Sample(PG_DEADLOCKS, float(row["deadlocks"])),
        Sample(PG_SIZE, float(row["size_bytes"])),
        Sample(PG_IS_REPLICA, float(bool(row["is_replica"]))),
    ]
    if row["is_replica"]:
        if row["replication_lag"] is not None:  # None: nothing replayed since it started
            samples.append(Sample(PG_LAG, max(0.0, float(row["replication_lag"]))))
        samples.append(Sample(PG_WAL_RECEIVER, float(row["wal_receivers"] > 0)))
    return tuple(samples)


async def _run_checks(
    conn: asyncpg.Connection,
    target: PostgresTarget,
    ctx: ProbeContext,
    measured: _Measured,
) -> None:
    started = time.perf_counter()
    try:
        for check in target.checks:
            ctx.step = f"running check {check.name}"
            outcome = _CheckOutcome(check)
            measured.checks.append(outcome)
            await _run_check(conn, outcome, ctx.budget(check.timeout), ctx.redact)
    finally:
        measured.phases["checks"] = time.perf_counter() - started


async def _run_check(
    conn: asyncpg.Connection, outcome: _CheckOutcome, budget: float, redact: Redact
) -> None:
    check = outcome.check
    started = time.perf_counter()
    failure: ProbeFailure | None = None
    try:
        outcome.value = _one_number(await _read_only(conn, check.query, budget))
    except ProbeFailure as shape:
        failure = shape
    except Exception as exc:
        failure = check_failure(exc, redact)
        if failure is None:
            raise
    finally:
        outcome.seconds = time.perf_counter() - started
    if outcome.value is not None and not check.holds(outcome.value):
        # Worded like the http probe's conditions: the condition, then what was found.
        got = format_value(outcome.value)
        outcome.failure = ProbeFailure(
            Reason.ASSERTION, f"check {check.name} {check.expect} (got {got})"
        )
        return
    if failure is None:
        return
    outcome.error = failure.message
    if failure.reason is Reason.TIMEOUT:
        outcome.error += f" after {format_duration(_milliseconds(budget) / 1000)}"
    outcome.failure = ProbeFailure(failure.reason, f"check {check.name}: {outcome.error}")
    if failure.reason is Reason.CONNECT:
        raise outcome.failure  # the connection is gone: no later check can run


async def _read_only(conn: asyncpg.Connection, query: str, budget: float) -> list[asyncpg.Record]:
    """``query``'s rows, read in a READ ONLY transaction under a ``budget`` statement_timeout."""
    milliseconds = _milliseconds(budget)
    # One round trip for both; the query itself then goes through the extended protocol,
    # which takes exactly one statement, so it cannot COMMIT its way out.
    await conn.execute(f"BEGIN READ ONLY; SET LOCAL statement_timeout = {milliseconds}")
    try:
        rows = await conn.fetch(query)
    except asyncpg.PostgresError:
        # The server answered: end the failed transaction so the next check can run.
        if not conn.is_closed():
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")
    return rows


def _one_number(rows: Sequence[asyncpg.Record]) -> float:
    """The one number a check returned; an assertion failure for any other shape."""
    if len(rows) != 1 or len(rows[0]) != 1:
        shape = f"{len(rows)} rows" if len(rows) != 1 else f"{len(rows[0])} columns"
        raise ProbeFailure(Reason.ASSERTION, f"returned {shape}, expected one number")
    value = number(rows[0][0])
    if value is None:
        kind = "NULL" if rows[0][0] is None else f"a {type(rows[0][0]).__name__}"
        raise ProbeFailure(Reason.ASSERTION, f"returned {kind}, expected one number")
    return value


def number(value: object) -> float | None:
    """A check's result as a float: numbers, booleans (0/1), intervals (seconds) and numeric
    text; ``None`` for anything else."""
    if isinstance(value, (bool, int, float, Decimal)):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _checks_failed(failed: list[_CheckOutcome]) -> ProbeFailure:
    first = failed[0].failure
    assert first is not None
    message = first.message
    if len(failed) > 1:
        more = len(failed) - 1
        message += f" (and {more} more failed check{'s' if more > 1 else ''})"
    details: list[tuple[str, str]] = []
    for outcome in failed:
        assert outcome.failure is not None
        details.append(("check", outcome.check.name))
        if outcome.value is not None and outcome.check.expect is not None:
            details += [("value", format_value(outcome.value)), ("expected", outcome.check.expect)]
        else:
            details.append(("error", outcome.error))
    return ProbeFailure(first.reason, message, tuple(details))


async def _close(conn: asyncpg.Connection, ctx: ProbeContext) -> None:
    """Say goodbye properly (servers log abrupt disconnects), within the deadline."""
    ctx.step = "closing the connection"
    try:
        await conn.close(timeout=ctx.budget())
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        conn.terminate()  # the verdict is in; a slow goodbye does not change it


def _milliseconds(budget: float) -> int:
    return max(1, math.floor(budget * 1000))  # 0 would switch statement_timeout off


KIND = ProbeKind("postgres", PostgresTarget, probe)
