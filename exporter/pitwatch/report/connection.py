"""Where the Prometheus is and how to log in to it.

Secrets come from files (``--basic-auth-password-file``, ``--bearer-token-file``) or from the
environment (``PITWATCH_PROMETHEUS_PASSWORD``, ``PITWATCH_PROMETHEUS_BEARER_TOKEN``), never from
the command line, where ``ps`` shows them. Credentials written into the URL work too, but
:attr:`Connection.display_url` (the only form that reaches a message, a report or a link)
drops them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from pitwatch.report.errors import ReportError
from pitwatch.secrets import Secret

URL_ENV = "PITWATCH_PROMETHEUS_URL"
USER_ENV = "PITWATCH_PROMETHEUS_USERNAME"
PASSWORD_ENV = "PITWATCH_PROMETHEUS_PASSWORD"
TOKEN_ENV = "PITWATCH_PROMETHEUS_BEARER_TOKEN"


@dataclass(frozen=True, slots=True)
class Connection:
    base_url: str
    """Scheme, host, port and path prefix, without credentials: what requests go to."""
    username: str | None = None
    password: Secret | None = None
    bearer_token: Secret | None = None
    ca_file: Path | None = None
    timeout: float = 30.0

    @property
    def display_url(self) -> str:
        return self.base_url

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s.reveal() for s in (self.password, self.bearer_token) if s and s.reveal())


def _read_secret(path: str, flag: str) -> Secret:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ReportError(f"{flag} {path}: {reason.lower()}") from None
    except UnicodeDecodeError:
        raise ReportError(f"{flag} {path}: not UTF-8 text") from None
    value = text.strip("\r\n")
    if not value:
        raise ReportError(f"{flag} {path}: the file is empty")
    return Secret(value)


def _split_url(url: str) -> tuple[str, str | None, Secret | None]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ReportError("--prometheus: not a URL (expected http://HOST:PORT)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ReportError("--prometheus: expected an http:// or https:// URL with a host")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    user = unquote(parts.username) if parts.username else None
    password = Secret(unquote(parts.password)) if parts.password else None
    return base, user, password


def connection_from(
    url: str | None,
    *,
    username: str | None,
    password_file: str | None,
    bearer_token_file: str | None,
    ca_file: str | None,
    timeout: float,
    environ: Mapping[str, str] = os.environ,
) -> Connection:
    url = url or environ.get(URL_ENV)
    if not url:
        raise ReportError(f"give --prometheus URL or set {URL_ENV}")
    base, url_user, url_password = _split_url(url)
    user = username or environ.get(USER_ENV) or url_user
    password = url_password
    if password_file:
        password = _read_secret(password_file, "--basic-auth-password-file")
    elif environ.get(PASSWORD_ENV):
        password = Secret(environ[PASSWORD_ENV])
    token = None
    if bearer_token_file:
        token = _read_secret(bearer_token_file, "--bearer-token-file")
    elif environ.get(TOKEN_ENV):
        token = Secret(environ[TOKEN_ENV])
    if token is not None and (user or password):
        raise ReportError("use basic auth or a bearer token, not both")
    if password is not None and not user:
        raise ReportError(f"a password needs a user name: --basic-auth-user or {USER_ENV}")
    ca = None
    if ca_file:
        ca = Path(ca_file)
        if not ca.is_file():
            raise ReportError(f"--ca-file {ca_file}: no such file")
    if not timeout > 0:
        raise ReportError("--timeout must be more than 0s")
    return Connection(base, user, password, token, ca, timeout)
