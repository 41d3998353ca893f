"""Configuration of the ``postgres`` probe: where to connect, how to authenticate, TLS, and
the named checks; plus turning it into asyncpg's connection arguments.

The connection is either a whole DSN (``dsn: ${ENV}`` or ``dsn_file``, a secret since it
carries the password) or ``host``/``port``/``user``/``database`` with ``password`` or
``password_file``. DSNs are checked here, at load, with messages that never quote them.
"""

from __future__ import annotations

import operator
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args
from urllib.parse import parse_qs, quote, unquote, urlsplit

from pydantic import AfterValidator, Field, model_validator

from pitwatch.config_types import TARGET_NAME, Duration, StrictModel, TargetBase
from pitwatch.probes._tls import TlsOptions, client_context
from pitwatch.secrets import EnvSecret, FileSecret, Secret, either

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
SSL_MODES: tuple[SslMode, ...] = get_args(SslMode)
TLS_MODES = ("require", "verify-ca", "verify-full")
"""The modes in which pitwatch builds the TLS context itself (and ``tls:`` applies)."""
DEFAULT_PORT = 5432
APPLICATION_NAME = "pitwatch"

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_EXPECT = re.compile(r"\s*(==|!=|<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*")


def _expectation(text: str) -> str:
    match = _EXPECT.fullmatch(text)
    if match is None:
        raise ValueError(
            f"expect must be a comparison with a number, e.g. '== 0', '< 100', '>= 5'; got {text!r}"
        )
    return f"{match.group(1)} {match.group(2)}"


def _check_name(name: str) -> str:
    if not TARGET_NAME.fullmatch(name):
        raise ValueError(f"check name {name!r} may only contain A-Z a-z 0-9 _ . -")
    return name


def _query(text: str) -> str:
    if not text.strip():
        raise ValueError("query is empty")
    return text


class Check(StrictModel):
    """A read-only query that returns one number, with an optional expectation on it."""

    name: Annotated[str, AfterValidator(_check_name)]
    query: Annotated[str, AfterValidator(_query)]
    expect: Annotated[str, AfterValidator(_expectation)] | None = None
    """``== 0``, ``!= 0``, ``< 100``, ``<= 100``, ``> 5``, ``>= 5``."""
    timeout: Duration | None = None
    """The query's statement_timeout (always capped by what is left of the probe's time)."""

    def holds(self, value: float) -> bool:
        if self.expect is None:
            return True
        comparison, number = self.expect.split(" ")
        return _COMPARISONS[comparison](value, float(number))


@dataclass(frozen=True, slots=True)
class DsnParts:
    """What pitwatch itself needs from a DSN; asyncpg parses it again to connect."""

    hosts: str
    """The host list as written (``db1:5432,db2``), without user and password."""
    password: str | None
    params: dict[str, str]


def parse_dsn(text: str) -> DsnParts:
    """A ``postgres://`` DSN's parts; the ValueError messages never quote the DSN."""
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        raise ValueError("the DSN is not a valid URL") from None
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("the DSN must start with postgres:// or postgresql://")
    auth, _, hosts = parts.netloc.rpartition("@")
    if "@" in auth:
        raise ValueError("the DSN's user or password contains '@': write it as %40")
    password = unquote(auth.partition(":")[2]) if ":" in auth else None
    params: dict[str, str] = {}
    if parts.query:
        try:
            parsed = parse_qs(parts.query, strict_parsing=True)
        except ValueError:
            raise ValueError("the DSN's query string (after ?) is malformed") from None
        params = {key: values[-1] for key, values in parsed.items()}
    for host in filter(None, hosts.split(",")):
        port = host.rpartition("]")[2] if host.startswith("[") else host
        if ":" in port and not port.rpartition(":")[2].isdigit():
            raise ValueError("the DSN has a port that is not a number")
    mode = params.get("sslmode")
    if mode is not None and mode not in SSL_MODES:
        raise ValueError(f"the DSN's sslmode must be one of {', '.join(SSL_MODES)}")
    return DsnParts(hosts, password or params.get("password"), params)


def _dsn(secret: Secret | None) -> Secret | None:
    """The DSN checked, with its password (as written and percent-encoded) as parts a
    redactor masks on their own: a server may echo the password without the DSN."""
    if secret is None:
        return None
    password = parse_dsn(secret.reveal()).password
    parts = (password, quote(password, safe="")) if password else ()
    return Secret(secret.reveal(), parts)


class PostgresTarget(TargetBase):
    probe: Literal["postgres"]
    dsn: Annotated[EnvSecret, AfterValidator(_dsn)] | None = None
    """``${ENV_VAR}`` holding ``postgresql://user:password@host:5432/db?sslmode=...``."""
    dsn_file: Annotated[FileSecret, AfterValidator(_dsn)] | None = None
    host: str | None = None
    """Name, IP address, or a Unix socket directory (``/var/run/postgresql``)."""
    port: int | None = Field(default=None, ge=1, le=65535)
    user: str | None = None
    database: str | None = None
    """Default: the user name, as libpq does."""
    password: EnvSecret | None = None
    password_file: FileSecret | None = None
    sslmode: SslMode | None = None
    """libpq's modes; default: the DSN's sslmode, else ``prefer``."""
    tls: TlsOptions = Field(default_factory=TlsOptions)
    """libpq's sslrootcert, sslcert, sslkey and ssl_min_protocol_version, for sslmode
    require, verify-ca and verify-full."""
    connect_timeout: Duration | None = None
    """A connection not ready by then fails with reason connect (default: the whole timeout)."""
    stats: bool = True
    """Read the server statistics (connections, transactions, size, replication)."""
    checks: tuple[Check, ...] = ()

    @model_validator(mode="after")
    def _connection(self) -> PostgresTarget:
        ways = [key for key in ("dsn", "dsn_file", "host") if getattr(self, key) is not None]
        if len(ways) != 1:
            raise ValueError(
                "set exactly one of dsn, dsn_file or host"
                + (f" (got {' and '.join(ways)})" if ways else "")
            )
        if self.host is None:
            extra = [key for key in ("port", "user", "database") if getattr(self, key) is not None]
            if extra:
                raise ValueError(f"with a DSN, put {', '.join(extra)} in the DSN itself")
        elif self.user is None:
            raise ValueError("user is required with host")
        either(self, "password", required=False)
        if self.tls.model_dump(exclude_none=True) and self.sslmode not in TLS_MODES:
            raise ValueError("tls needs sslmode: require, verify-ca or verify-full")
        names = [check.name for check in self.checks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"check names must be unique: {', '.join(duplicates)}")
        return self

    # -- derived ---------------------------------------------------------------------------
    @property
    def dsn_secret(self) -> Secret | None:
        return either(self, "dsn", required=False)

    @property
    def password_secret(self) -> Secret | None:
        return either(self, "password", required=False)

    def dsn_parts(self) -> DsnParts | None:
        secret = self.dsn_secret
        return parse_dsn(secret.reveal()) if secret is not None else None

    def effective_sslmode(self) -> str:
        parts = self.dsn_parts()
        return self.sslmode or (parts.params.get("sslmode") if parts else None) or "prefer"


def where(target: PostgresTarget) -> str:
    """``host:port`` for messages: never the user, password or database."""
    if target.host is not None:
        return f"{target.host}:{target.port or DEFAULT_PORT}"
    parts = target.dsn_parts()
    assert parts is not None
    if parts.hosts:
        return parts.hosts
    host = parts.params.get("host")
    if host:
        return f"{host}:{parts.params.get('port', DEFAULT_PORT)}"
    return "the default host"


def connect_arguments(target: PostgresTarget) -> dict[str, Any]:
    """Keyword arguments for ``asyncpg.connect`` (without the timeout)."""
    arguments: dict[str, Any] = {
        # Nothing else in the startup packet: PgBouncer rejects unknown startup parameters.
        "server_settings": {"application_name": APPLICATION_NAME},
        # One statement per check and a fresh connection every time: nothing to reuse.
        "statement_cache_size": 0,
    }
    dsn = target.dsn_secret
    if dsn is not None:
        arguments["dsn"] = dsn.reveal()
    else:
        arguments.update(
            host=target.host,
            port=target.port or DEFAULT_PORT,
            user=target.user,
            database=target.database,
        )
    password = target.password_secret
    if password is not None:
        arguments["password"] = password.reveal()
    if target.sslmode in TLS_MODES:
        arguments["ssl"] = tls_context(target.sslmode, target.tls)
    elif target.sslmode is not None:
        arguments["ssl"] = target.sslmode
    return arguments


def tls_context(mode: str, options: TlsOptions) -> ssl.SSLContext:
    """The context for require/verify-ca/verify-full, in libpq's meanings: ``require``
    encrypts without checking the certificate (unless a CA file is given, then it acts as
    verify-ca); ``verify-ca`` checks the chain; ``verify-full`` also the host name. Without
    ``ca_file`` the system store is trusted (libpq would look for ``~/.postgresql/root.crt``).
    """
    verify = mode != "require" or options.ca_file is not None
    return client_context(options, verify=verify, check_hostname=mode == "verify-full")
