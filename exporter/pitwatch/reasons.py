"""Why a probe failed: the closed set of ``reason`` values, and the exception probers raise.

The hierarchy is flat on purpose: every foreign error a prober meets (aiohttp, ``ssl``,
``OSError``, asyncpg, DNS libraries) is translated once, where the prober talks to the network,
into a :class:`ProbeFailure` carrying exactly one :class:`Reason`::

    ProbeFailure(reason, message)
      Reason.TIMEOUT      the deadline passed (the scheduler also raises this one)
      Reason.DNS          the name did not resolve
      Reason.CONNECT      refused, unreachable, reset, or closed before an answer
      Reason.TLS          handshake or certificate verification failed
      Reason.HTTP_STATUS  an HTTP status outside the allow-list (or endless redirects)
      Reason.ASSERTION    the answer arrived but a configured check on it failed
      Reason.PROTOCOL     the peer spoke, but not the protocol (garbage, oversized body)
      Reason.AUTH         credentials were rejected
      Reason.OTHER        a bug in pitwatch; logged with a traceback

Messages are short, never carry secrets, and are shown on the status page.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import StrEnum


class Reason(StrEnum):
    TIMEOUT = "timeout"
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    HTTP_STATUS = "http_status"
    ASSERTION = "assertion"
    PROTOCOL = "protocol"
    AUTH = "auth"
    OTHER = "other"


def os_error_text(exc: BaseException) -> str:
    """``connection refused``-style text for socket errors (no paths, no addresses)."""
    if isinstance(exc, OSError) and exc.errno:
        # asyncio's strerror reads "connect call failed ('10.0.0.1', 443)"; the errno is the news
        return os.strerror(exc.errno).lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


class ProbeFailure(Exception):
    """A probe's negative verdict; raised inside probers, turned into a result by the
    scheduler. ``details`` are extra facts for the status page (never labels)."""

    def __init__(
        self, reason: Reason, message: str, details: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = details


def file_failure(exc: OSError, path: str, what: str = "file") -> ProbeFailure:
    """The one place file-system errors become a reason: a missing ``what`` and other I/O
    errors (``EIO``, ``ESTALE`` from a dead mount) are ``connect``, permission denied is
    ``auth``, a directory where a file should be is ``protocol``."""
    if isinstance(exc, FileNotFoundError):
        return ProbeFailure(Reason.CONNECT, f"{what} {path} does not exist")
    if isinstance(exc, PermissionError):
        return ProbeFailure(Reason.AUTH, f"permission denied reading {path}")
    if isinstance(exc, (IsADirectoryError, NotADirectoryError)):
        return ProbeFailure(Reason.PROTOCOL, f"cannot read {path}: {os_error_text(exc)}")
    return ProbeFailure(Reason.CONNECT, f"cannot read {path}: {os_error_text(exc)}")


class translated:
    """Raises what ``translate`` makes of an exception leaving the block; one it returns
    ``None`` for (a bug in pitwatch) goes on as it is."""

    def __init__(self, translate: Callable[[Exception], ProbeFailure | None]) -> None:
        self.translate = translate

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _: object
    ) -> None:
        if isinstance(exc, Exception) and not isinstance(exc, ProbeFailure):
            failure = self.translate(exc)
            if failure is not None:
                raise failure from exc
