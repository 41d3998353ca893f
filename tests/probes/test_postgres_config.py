"""The postgres probe's configuration: what loads, what is refused and with which message."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import trustme

from pitwatch.config import ConfigError
from pitwatch.probes import postgres
from pitwatch.probes._postgres_config import (
    Check,
    PostgresTarget,
    connect_arguments,
    parse_dsn,
    tls_context,
    where,
)
from pitwatch.probes.postgres import number
from tests.support.targets import config_from, one_target


def problems(tmp_path: Path, body: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_from(tmp_path, one_target(body))
    return [problem.split(": ", 1)[1] for problem in caught.value.problems]


def spec(tmp_path: Path, body: str) -> PostgresTarget:
    target = config_from(tmp_path, one_target(body)).targets[0].spec
    assert isinstance(target, PostgresTarget)
    return target


INVALID = [
    (
        "dsn: postgresql://app:pw@db/wallet",
        'target "t": dsn: write secrets as ${ENV_VAR} or put them in the matching *_file key',
    ),
    (
        "dsn: ${PITWATCH_TEST_DSN}",  # set to a DSN with an unescaped @ in the password
        "target \"t\": dsn: the DSN's user or password contains '@': write it as %40",
    ),
    ("", 'target "t": set exactly one of dsn, dsn_file or host'),
    (
        "host: db\nuser: app\ndsn_file: dsn",
        'target "t": set exactly one of dsn, dsn_file or host (got dsn_file and host)',
    ),
    (
        "dsn_file: dsn\nuser: app\nport: 6432",
        'target "t": with a DSN, put port, user in the DSN itself',
    ),
    ("host: db", 'target "t": user is required with host'),
    (
        "host: db\nuser: app\npassword: ${PITWATCH_TEST_PASSWORD}\npassword_file: dsn",
        'target "t": use password or password_file, not both',
    ),
    (
        "host: db\nuser: app\ntls:\n  min_version: TLS1.3",
        'target "t": tls needs sslmode: require, verify-ca or verify-full',
    ),
    (
        "host: db\nuser: app\nsslmode: strict",
        "target \"t\": sslmode: must be 'disable', 'allow', 'prefer', 'require', 'verify-ca' or "
        "'verify-full', got 'strict'",
    ),
    (
        "host: db\nuser: app\nchecks:\n  - {name: a, query: SELECT 1, expect: '=0'}",
        'target "t": checks[0].expect: expect must be a comparison with a number, '
        "e.g. '== 0', '< 100', '>= 5'; got '=0'",
    ),
    (
        "host: db\nuser: app\nchecks:\n  - {name: 'b c', query: SELECT 1}",
        "target \"t\": checks[0].name: check name 'b c' may only contain A-Z a-z 0-9 _ . -",
    ),
    (
        "host: db\nuser: app\nchecks:\n  - {name: a, query: ' '}",
        'target "t": checks[0].query: query is empty',
    ),
    (
        "host: db\nuser: app\nchecks:\n  - {name: a, query: SELECT 1}\n"
        "  - {name: a, query: SELECT 2}",
        'target "t": check names must be unique: a',
    ),
]


@pytest.mark.parametrize(("body", "message"), INVALID)
def test_invalid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, message: str) -> None:
    monkeypatch.setenv("PITWATCH_TEST_DSN", "postgresql://app:p@ss@db/wallet")
    monkeypatch.setenv("PITWATCH_TEST_PASSWORD", "pw")
    (tmp_path / "dsn").write_text("postgresql://app@db/wallet\n")
    assert problems(tmp_path, "probe: postgres\n" + body) == [message]


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("mysql://app@db/wallet", "the DSN must start with postgres:// or postgresql://"),
        ("postgresql://app@db:54x2/wallet", "the DSN has a port that is not a number"),
        ("postgresql://app@db/wallet?sslmode", "the DSN's query string (after ?) is malformed"),
        (
            "postgresql://app@db/wallet?sslmode=on",
            "the DSN's sslmode must be one of disable, allow, prefer, require, verify-ca, "
            "verify-full",
        ),
        ("postgresql://[::1/wallet", "the DSN is not a valid URL"),
    ],
)
def test_invalid_dsn(dsn: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_dsn(dsn)
    assert str(caught.value) == message


def test_dsn_parts() -> None:
    parts = parse_dsn("postgres://app:p%40ss%3Aw@db1:5432,db2:6432/wallet?sslmode=verify-full")
    assert parts.hosts == "db1:5432,db2:6432"
    assert parts.password == "p@ss:w"
    assert parts.params == {"sslmode": "verify-full"}
    # (Several hosts with a bracketed IPv6 one among them parse on some Python 3.11 patch
    # releases only, in asyncpg too; one is fine everywhere.)
    assert parse_dsn("postgresql://app@[::1]:6432/wallet").hosts == "[::1]:6432"
    assert parse_dsn("postgresql:///wallet?host=/run/postgresql&password=x").password == "x"


def test_where_never_shows_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PITWATCH_TEST_DSN", "postgresql://app:hunter2@db.internal:6432/wallet")
    assert where(spec(tmp_path, "probe: postgres\ndsn: ${PITWATCH_TEST_DSN}")) == (
        "db.internal:6432"
    )
    monkeypatch.setenv("PITWATCH_TEST_DSN", "postgresql:///wallet?host=/run/postgresql")
    assert where(spec(tmp_path, "probe: postgres\ndsn: ${PITWATCH_TEST_DSN}")) == (
        "/run/postgresql:5432"
    )
    assert where(spec(tmp_path, "probe: postgres\nhost: db\nuser: app")) == "db:5432"


def test_connect_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PITWATCH_TEST_PASSWORD", "hunter2")
    arguments = connect_arguments(
        spec(
            tmp_path,
            "probe: postgres\nhost: db\nport: 6432\nuser: app\ndatabase: wallet\n"
            "password: ${PITWATCH_TEST_PASSWORD}\nsslmode: disable",
        )
    )
    assert arguments == {
        "server_settings": {"application_name": "pitwatch"},
        "statement_cache_size": 0,
        "host": "db",
        "port": 6432,
        "user": "app",
        "database": "wallet",
        "password": "hunter2",
        "ssl": "disable",
    }


def test_dsn_sslmode_is_kept_unless_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PITWATCH_TEST_DSN", "postgresql://app@db/wallet?sslmode=verify-full")
    target = spec(tmp_path, "probe: postgres\ndsn: ${PITWATCH_TEST_DSN}")
    assert "ssl" not in connect_arguments(target)  # asyncpg reads it from the DSN
    assert target.effective_sslmode() == "verify-full"
    overridden = spec(tmp_path, "probe: postgres\ndsn: ${PITWATCH_TEST_DSN}\nsslmode: require")
    assert overridden.effective_sslmode() == "require"


def test_a_ca_file_that_is_not_pem_is_a_config_error(tmp_path: Path) -> None:
    # The same options model as http and tcp: the files are loaded when the config is,
    # rather than failing every probe as a handshake error.
    (tmp_path / "not.pem").write_text("not a certificate\n")
    body = "probe: postgres\nhost: db\nuser: app\nsslmode: verify-full\ntls:\n  ca_file: not.pem"
    with pytest.raises(ConfigError) as caught:
        config_from(tmp_path, one_target(body))
    assert caught.value.problems == [
        f'{tmp_path / "pitwatch.yml"}:13: target "t": tls: cannot use the TLS files: '
        "no certificate or crl found"
    ]


def test_tls_contexts_follow_libpq(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    base = "probe: postgres\nhost: db\nuser: app\n"
    require = spec(tmp_path, base + "sslmode: require")
    context = tls_context("require", require.tls)
    assert (context.verify_mode.name, context.check_hostname) == ("CERT_NONE", False)
    # require with a CA file verifies the chain, as libpq does.
    pinned = spec(tmp_path, base + f"sslmode: require\ntls:\n  ca_file: {ca}")
    context = tls_context("require", pinned.tls)
    assert (context.verify_mode.name, context.check_hostname) == ("CERT_REQUIRED", False)
    context = tls_context("verify-ca", pinned.tls)
    assert (context.verify_mode.name, context.check_hostname) == ("CERT_REQUIRED", False)
    context = tls_context("verify-full", pinned.tls)
    assert (context.verify_mode.name, context.check_hostname) == ("CERT_REQUIRED", True)
    assert context.minimum_version.name == "TLSv1_2"


@pytest.mark.parametrize(
    ("expect", "value", "holds"),
    [
        ("== 0", 0.0, True),
        ("== 0", 1.0, False),
        ("!= 0", 1.0, True),
        ("< 100", 99.5, True),
        ("< 100", 100.0, False),
        ("<= 100", 100.0, True),
        ("> 5", 5.0, False),
        (">= 5", 5.0, True),
        (">= -1.5e3", -1500.0, True),
        ("< 0.25", float("nan"), False),
    ],
)
def test_expectations(tmp_path: Path, expect: str, value: float, holds: bool) -> None:
    target = spec(
        tmp_path,
        f"probe: postgres\nhost: db\nuser: app\nchecks:\n"
        f"  - {{name: c, query: SELECT 1, expect: '{expect.replace(' ', '')}'}}",
    )
    check = target.checks[0]
    assert check.expect == expect  # normalised: one space after the operator
    assert check.holds(value) is holds


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (3, 3.0),
        (2.5, 2.5),
        (Decimal("0.125"), 0.125),
        (True, 1.0),
        (timedelta(minutes=2), 120.0),
        ("42", 42.0),
        ("ok", None),
        (None, None),
        (b"1", None),
    ],
)
def test_number(raw: object, expected: float | None) -> None:
    assert number(raw) == expected


def test_a_check_the_deadline_interrupted_is_not_a_success() -> None:
    # What the result keeps (ctx.samples) when the deadline cuts a check short.
    measured = postgres._Measured()
    measured.checks.append(postgres._CheckOutcome(Check(name="c", query="SELECT 1")))
    samples = {(s.family.name, s.labels): s.value for s in measured.samples()}
    assert samples[("pitwatch_postgres_check_success", (("check", "c"),))] == 0
    assert ("pitwatch_postgres_check_value", (("check", "c"),)) not in samples
