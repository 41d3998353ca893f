"""Where asyncpg, ``ssl`` and socket errors become the postgres probe's :class:`ProbeFailure`.

Three moments, three functions, one reason table::

    connect_failure   establishing the connection
      28xxx (invalid password, no pg_hba entry, unknown role)   -> auth
      other server refusals (no such database, too many
        connections, starting up, shutting down)                -> connect
      ssl.SSLError                                              -> tls
      TLS upgrade refused, and sslmode asks for TLS             -> tls
      TLS upgrade answered with something else                  -> protocol
      name does not resolve                                     -> dns
      refused, unreachable, reset                               -> connect
      garbage instead of the protocol                           -> protocol
    query_failure     SELECT 1 and the statistics query
      connection lost, server shut down or crashed              -> connect
      cancelled by statement_timeout                            -> timeout
      any other SQL error                                       -> protocol
    check_failure     a configured check
      connection lost                                           -> connect
      cancelled by statement_timeout                            -> timeout
      a write refused by the read-only transaction, any other
        SQL error                                               -> assertion

Server messages are kept (they name the user or database, never a password) after the
probe's redactor has taken out every secret of the target (the DSN, the password in it, the
password), in case a DSN echoes back.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

import asyncpg

from pitwatch.probes._postgres_config import TLS_MODES, PostgresTarget, where
from pitwatch.probes._tls import ssl_error_text
from pitwatch.reasons import ProbeFailure, Reason, os_error_text

_LOST = ("08", "57P01", "57P02", "57P03")
"""SQLSTATEs (classes and codes) meaning the connection is gone: connection exceptions,
admin shutdown, crash shutdown, cannot connect now."""
_STATEMENT_TIMEOUT = "57014"
_READ_ONLY = "25006"
_TEXT_LIMIT = 200


Redact = Callable[[str], str]
"""The probe's redactor (``ctx.redact``): applied to foreign text before it is cut short,
so a secret never shows even in part."""


def _text(exc: BaseException, redact: Redact) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return redact(str(text).splitlines()[0])[:_TEXT_LIMIT]


def _sqlstate(exc: BaseException) -> str:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else ""


def _lost(exc: BaseException) -> bool:
    state = _sqlstate(exc)
    if isinstance(exc, TimeoutError):
        return False  # the deadline, which the scheduler reports
    return isinstance(exc, OSError) or state.startswith(_LOST[0]) or state in _LOST[1:]


def connect_failure(
    exc: BaseException, target: PostgresTarget, redact: Redact
) -> ProbeFailure | None:
    """The verdict on an error while connecting, or ``None`` for a pitwatch bug."""
    place = where(target)
    if isinstance(exc, asyncpg.PostgresError):
        if _sqlstate(exc).startswith("28"):
            return ProbeFailure(Reason.AUTH, f"authentication failed: {_text(exc, redact)}")
        if isinstance(exc, asyncpg.ConnectionDoesNotExistError):
            return ProbeFailure(
                Reason.CONNECT, f"{place} closed the connection during the handshake"
            )
        return ProbeFailure(Reason.CONNECT, f"{place} refused the connection: {_text(exc, redact)}")
    if isinstance(exc, asyncpg.ClientConfigurationError):
        return ProbeFailure(Reason.CONNECT, f"invalid connection settings: {_text(exc, redact)}")
    if isinstance(exc, ssl.SSLError):
        return ProbeFailure(Reason.TLS, f"TLS handshake with {place} failed: {ssl_error_text(exc)}")
    if isinstance(exc, socket.gaierror):
        host = target.host if target.host is not None else place
        return ProbeFailure(Reason.DNS, f"cannot resolve {host}: {str(exc.strerror).lower()}")
    if type(exc) is ConnectionError and "SSL" in str(exc):
        # asyncpg's answer when the reply to the TLS request is neither yes nor no.
        mode = target.effective_sslmode()
        if mode in TLS_MODES:
            return ProbeFailure(
                Reason.TLS, f"{place} does not accept TLS (sslmode {mode} requires it)"
            )
        return ProbeFailure(
            Reason.PROTOCOL, f"{place} does not speak PostgreSQL (odd answer to the TLS request)"
        )
    if isinstance(exc, OSError):
        return ProbeFailure(Reason.CONNECT, f"cannot connect to {place}: {os_error_text(exc)}")
    if isinstance(exc, (asyncpg.InterfaceError, asyncpg.ProtocolError)):
        return ProbeFailure(
            Reason.PROTOCOL, f"{place} does not speak PostgreSQL: {_text(exc, redact)}"
        )
    return None


def query_failure(exc: BaseException, what: str, redact: Redact) -> ProbeFailure | None:
    """The verdict on an error in ``SELECT 1`` or the statistics query, or ``None`` for a
    pitwatch bug."""
    if _lost(exc):
        return ProbeFailure(
            Reason.CONNECT, f"connection lost during {what}: {_lost_text(exc, redact)}"
        )
    if _sqlstate(exc) == _STATEMENT_TIMEOUT:
        return ProbeFailure(Reason.TIMEOUT, f"{what} was cancelled by statement_timeout")
    if isinstance(exc, asyncpg.PostgresError):
        return ProbeFailure(
            Reason.PROTOCOL,
            f"{what} failed: {_text(exc, redact)} (pitwatch needs PostgreSQL 10 or newer; "
            "stats: false skips the statistics)",
        )
    return None


def check_failure(exc: BaseException, redact: Redact) -> ProbeFailure | None:
    """The verdict on an error in a check's query (message without the check's name), or
    ``None`` for a pitwatch bug."""
    if _lost(exc):
        return ProbeFailure(Reason.CONNECT, f"connection lost: {_lost_text(exc, redact)}")
    state = _sqlstate(exc)
    if state == _STATEMENT_TIMEOUT:
        return ProbeFailure(Reason.TIMEOUT, "cancelled by statement_timeout")
    if state == _READ_ONLY:
        return ProbeFailure(
            Reason.ASSERTION, f"tried to write, but checks run read-only: {_text(exc, redact)}"
        )
    if isinstance(exc, asyncpg.PostgresError):
        return ProbeFailure(Reason.ASSERTION, f"query failed: {_text(exc, redact)}")
    return None


def _lost_text(exc: BaseException, redact: Redact) -> str:
    return os_error_text(exc) if isinstance(exc, OSError) else _text(exc, redact)
