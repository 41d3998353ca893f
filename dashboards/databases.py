"""Databases: the PostgreSQL servers pitwatch probes (``probe: postgres``).

A database that does not answer is PitwatchTargetDown like any target (see the target
detail); this dashboard is for one that answers but is in trouble: connections running out,
rollbacks, deadlocks, a lagging or cut-off replica, a named check failing.
"""

from __future__ import annotations

from dashboards.conventions import (
    DATABASES,
    dashboard,
    job_variable,
    platform_variable,
    runbook,
    to_target,
)
from dashboards.grafana import (
    Json,
    Query,
    bad_from_one,
    good_from_one,
    override,
    query_variable,
    row,
    stat,
    state_timeline,
    table,
    thresholds,
    timeseries,
    value_map,
)

D = 'job=~"$job", platform=~"$platform", target=~"$target"'
RATE = "[$__rate_interval]"
COMMITTED = f"pitwatch_postgres_transactions_committed_total{{{D}}}"
ROLLED_BACK = f"pitwatch_postgres_transactions_rolled_back_total{{{D}}}"


def _variables() -> list[Json]:
    return [
        job_variable(),
        platform_variable(),
        query_variable(
            "target",
            "Database",
            'label_values(pitwatch_target_info{job=~"$job", platform=~"$platform", '
            'probe="postgres"}, target)',
            all_value=".+",
            multi=True,
        ),
    ]


def _now() -> list[Json]:
    up = stat(
        "Databases answering",
        "Whether the last probe of each database connected, authenticated, ran its queries "
        "and met every check.",
        [Query(f"max by (target, component) (pitwatch_probe_success{{{D}}})", "{{target}}")],
        unit="none",
        steps=good_from_one(),
        mappings=[value_map({0: ("DOWN", "red"), 1: ("UP", "green")})],
        text_mode="value_and_name",
        links=[runbook("PitwatchTargetDown")],
        data_links=[to_target()],
        size=(8, 5),
    )
    failing = stat(
        "Checks failing",
        "Named checks (the SQL assertions in the pitwatch config) whose last run did not meet "
        "their expectation.",
        [
            Query(
                f"count(max by (target, check) (pitwatch_postgres_check_success{{{D}}}) == 0)"
                " or vector(0)"
            )
        ],
        unit="short",
        steps=bad_from_one(),
        links=[runbook("PitwatchPostgresCheckFailing")],
        size=(4, 5),
    )
    servers = table(
        "Servers",
        "Each database now: server version, primary or replica, database size, "
        "max_connections and the share of it in use.",
        [
            Query(f"max by (target, version) (pitwatch_postgres_server_info{{{D}}})"),
            Query(f"max by (target) (pitwatch_postgres_is_replica{{{D}}})"),
            Query(f"max by (target) (pitwatch_postgres_database_size_bytes{{{D}}})"),
            Query(f"max by (target) (pitwatch_postgres_max_connections{{{D}}})"),
            Query(f"max by (target) (pitwatch_postgres_connections_used_ratio{{{D}}})"),
        ],
        unit="short",
        columns={
            "target": "Database",
            "version": "Version",
            "Value #B": "Role",
            "Value #C": "Size",
            "Value #D": "max_connections",
            "Value #E": "Connections used",
        },
        hide=["Value #A"],
        overrides=[
            override(
                "byName",
                "Role",
                mappings=[value_map({0: ("primary", "green"), 1: ("replica", "blue")})],
            ),
            override("byName", "Size", unit="bytes"),
            override(
                "byName",
                "Connections used",
                unit="percentunit",
                decimals=0,
                thresholds=thresholds(("green", None), ("orange", 0.8), ("red", 0.95)),
                custom__cellOptions={"type": "color-background"},
            ),
        ],
        links=[runbook("PitwatchPostgresConnectionsNearMax")],
        size=(12, 5),
    )
    return [up, failing, servers]


def _load() -> list[Json]:
    by_state = timeseries(
        "Connections by state",
        "Client connections to each server by state (all databases). `unknown`: sessions of "
        "other roles, whose state a role without pg_monitor cannot see.",
        [
            Query(
                f"max by (target, state) (pitwatch_postgres_connections{{{D}}}) > 0",
                "{{target}} {{state}}",
            )
        ],
        unit="short",
        min_value=0,
        stack=True,
        links=[runbook("PitwatchPostgresConnectionsNearMax")],
    )
    used = timeseries(
        "Connections used",
        "Client connections as a share of max_connections; dashed lines at 80% and 95%, "
        "where PitwatchPostgresConnectionsNearMax opens medium and high. At 100% new logins "
        "and bets fail.",
        [
            Query(
                f"max by (target) (pitwatch_postgres_connections_used_ratio{{{D}}})",
                "{{target}}",
            )
        ],
        unit="percentunit",
        min_value=0,
        max_value=1,
        steps=thresholds(("green", None), ("orange", 0.8), ("red", 0.95)),
        links=[runbook("PitwatchPostgresConnectionsNearMax")],
    )
    transactions = timeseries(
        "Transactions",
        "Transactions committed and rolled back per second in the probed database (includes "
        "the probe's own few).",
        [
            Query(f"sum by (target) (rate({COMMITTED}{RATE}))", "{{target}} committed"),
            Query(f"sum by (target) (rate({ROLLED_BACK}{RATE}))", "{{target}} rolled back"),
        ],
        unit="ops",
        min_value=0,
    )
    rollbacks = timeseries(
        "Rollback ratio",
        "Share of transactions rolled back; the dashed line is "
        "PitwatchPostgresRollbackRatioHigh's threshold (over 10m, for 15m).",
        [
            Query(
                f"sum by (target) (rate({ROLLED_BACK}{RATE})) / (sum by (target) "
                f"(rate({COMMITTED}{RATE})) + sum by (target) (rate({ROLLED_BACK}{RATE})))",
                "{{target}}",
            )
        ],
        unit="percentunit",
        min_value=0,
        steps=thresholds(("green", None), ("red", 0.1)),
        links=[runbook("PitwatchPostgresRollbackRatioHigh")],
    )
    deadlocks = timeseries(
        "Deadlocks",
        "Deadlocks detected per Grafana interval; each aborted a transaction.",
        [
            Query(
                f"sum by (target) (increase(pitwatch_postgres_deadlocks_total{{{D}}}{RATE}))",
                "{{target}}",
            )
        ],
        unit="short",
        min_value=0,
        bars=True,
        links=[runbook("PitwatchPostgresDeadlocks")],
    )
    size = timeseries(
        "Database size",
        "Size of each probed database (pg_database_size).",
        [Query(f"max by (target) (pitwatch_postgres_database_size_bytes{{{D}}})", "{{target}}")],
        unit="bytes",
        min_value=0,
    )
    return [by_state, used, transactions, rollbacks, deadlocks, size]


def _replication() -> list[Json]:
    lag = timeseries(
        "Replication lag",
        "How far each replica is behind its primary: 0 when everything received is "
        "replayed. Dashed lines at 30s and 5m, PitwatchPostgresReplicationLag's medium and "
        "high thresholds. After a quiet spell on the primary it jumps up briefly.",
        [
            Query(
                f"max by (target) (pitwatch_postgres_replication_lag_seconds{{{D}}})",
                "{{target}}",
            )
        ],
        unit="s",
        min_value=0,
        steps=thresholds(("green", None), ("orange", 30), ("red", 300)),
        links=[runbook("PitwatchPostgresReplicationLag")],
    )
    receiver = state_timeline(
        "WAL receiver",
        "Whether each replica streams from its primary. A replica cut off from it shows lag 0 "
        "while it falls behind: read this next to the lag.",
        [Query(f"max by (target) (pitwatch_postgres_wal_receiver_up{{{D}}})", "{{target}}")],
        unit="none",
        steps=good_from_one(),
        mappings=[value_map({0: ("CUT OFF", "red"), 1: ("STREAMING", "green")})],
        links=[runbook("PitwatchPostgresReplicationLag")],
        size=(12, 8),
    )
    return [lag, receiver]


def _checks() -> list[Json]:
    checks = table(
        "Checks",
        "Every named check's last run: met its expectation or not, the number it returned, "
        "how long it took.",
        [
            Query(f"max by (target, check) (pitwatch_postgres_check_success{{{D}}})"),
            Query(f"max by (target, check) (pitwatch_postgres_check_value{{{D}}})"),
            Query(f"max by (target, check) (pitwatch_postgres_check_duration_seconds{{{D}}})"),
        ],
        unit="short",
        columns={
            "target": "Database",
            "check": "Check",
            "Value #A": "Result",
            "Value #B": "Value",
            "Value #C": "Duration",
        },
        overrides=[
            override(
                "byName",
                "Result",
                mappings=[value_map({0: ("FAILING", "red"), 1: ("OK", "green")})],
                custom__cellOptions={"type": "color-text"},
            ),
            override("byName", "Duration", unit="s"),
        ],
        links=[runbook("PitwatchPostgresCheckFailing")],
        size=(12, 8),
    )
    phases = timeseries(
        "Probe phases",
        "Where each database's last probe spent its time: connect (TCP, TLS, "
        "authentication), query (SELECT 1), stats, checks.",
        [
            Query(
                f"max by (target, phase) (pitwatch_postgres_phase_duration_seconds{{{D}}})",
                "{{target}} {{phase}}",
            )
        ],
        unit="s",
        min_value=0,
        stack=True,
    )
    return [checks, phases]


def build() -> Json:
    return dashboard(
        DATABASES,
        "pitwatch / Databases",
        "PostgreSQL servers probed by pitwatch: connections, transactions and rollbacks, "
        "deadlocks, replication lag, named checks.",
        variables=_variables(),
        panels=[
            row("Now", *_now()),
            row("Load", *_load()),
            row("Replication", *_replication()),
            row("Checks and probe timing", *_checks()),
        ],
    )
