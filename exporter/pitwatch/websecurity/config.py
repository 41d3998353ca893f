"""The ``--web.config.file`` format of the Prometheus exporter-toolkit, so that the file that
secures node_exporter secures pitwatch, validated with every problem as ``FILE:LINE: message``.

Same keys, defaults and checks as the toolkit: unknown keys are errors, TLS needs a
certificate and a key (inline or from files, not both), file paths are relative to the web
config's directory, client CAs need a client auth policy, passwords are bcrypt hashes, only
the toolkit's allow-listed response headers may be set. One key is pitwatch's own:
``unauthenticated_paths`` (``/-/healthy``, ``/-/ready``) opens those endpoints without
credentials for liveness and readiness checks; the toolkit does not know it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from pitwatch.config_types import StrictModel, resolve_path
from pitwatch.durations import parse_duration
from pitwatch.websecurity.ciphers import CIPHERS, CURVES, TLS_VERSIONS
from pitwatch.yaml_source import MAX_DOCUMENT_BYTES, LocatedData, YamlError, decode, load_located

CLIENT_AUTH_TYPES = (
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "RequireClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
_UNVERIFIED = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")
HEADER_VALUES: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
"""The headers the toolkit lets a web config set, and their allowed values (() = any)."""
OPEN_PATHS = ("/-/healthy", "/-/ready")
_BCRYPT = re.compile(r"\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}")


class WebConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class TlsServerConfig(StrictModel):
    cert: str = ""
    key: str = ""
    cert_file: str = ""
    key_file: str = ""
    client_ca: str = ""
    client_ca_file: str = ""
    client_auth_type: str = ""
    client_allowed_sans: tuple[str, ...] | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    cipher_suites: tuple[str, ...] = ()
    prefer_server_cipher_suites: bool = True
    curve_preferences: tuple[str, ...] = ()

    @field_validator("cert_file", "key_file", "client_ca_file")
    @classmethod
    def _readable(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            return ""
        path = resolve_path(value, info)
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise ValueError(f"cannot read {str(path)[:300]}: {exc.strerror or exc}") from None
        return str(path)

    @field_validator("min_version", "max_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value not in TLS_VERSIONS:
            raise ValueError(f"unknown TLS version: {value} (one of {', '.join(TLS_VERSIONS)})")
        return value

    @field_validator("cipher_suites")
    @classmethod
    def _ciphers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in CIPHERS:
                raise ValueError(f"unknown cipher: {name}")
        return value

    @field_validator("curve_preferences")
    @classmethod
    def _curves(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in CURVES:
                raise ValueError(f"unknown curve: {name} (one of {', '.join(CURVES)})")
        return value

    @property
    def enabled(self) -> bool:
        """The toolkit's rule: any of these keys turns TLS on (and then needs cert and key)."""
        return any(
            (
                self.cert,
                self.cert_file,
                self.key,
                self.key_file,
                self.client_ca,
                self.client_ca_file,
                self.client_auth_type,
            )
        )

    @model_validator(mode="after")
    def _complete(self) -> TlsServerConfig:
        if not self.enabled:
            return self
        if not (self.cert or self.cert_file):
            raise ValueError("missing one of cert or cert_file")
        if not (self.key or self.key_file):
            raise ValueError("missing one of key or key_file")
        if self.cert and self.cert_file:
            raise ValueError("at most one of cert and cert_file must be configured")
        if self.key and self.key_file:
            raise ValueError("at most one of key and key_file must be configured")
        auth = self.client_auth_type
        if auth and auth not in CLIENT_AUTH_TYPES:
            raise ValueError(f"invalid ClientAuth: {auth} (one of {', '.join(CLIENT_AUTH_TYPES)})")
        if auth in _UNVERIFIED:
            raise ValueError(
                f"{auth} accepts client certificates without verifying them, which pitwatch "
                "does not do: use RequireAndVerifyClientCert (or VerifyClientCertIfGiven) "
                "with client_ca_file"
            )
        verified = self.client_auth_type in (
            "VerifyClientCertIfGiven",
            "RequireAndVerifyClientCert",
        )
        has_ca = bool(self.client_ca or self.client_ca_file)
        if has_ca and not verified:
            raise ValueError("client CA's have been configured without a Client Auth Policy")
        if verified and not has_ca:
            raise ValueError(f"client_auth_type {self.client_auth_type} needs client_ca_file")
        if TLS_VERSIONS[self.min_version] > TLS_VERSIONS[self.max_version]:
            raise ValueError(f"min_version {self.min_version} is above max_version")
        return self


class HttpServerConfig(StrictModel):
    http2: bool = True
    """Accepted for compatibility; pitwatch serves HTTP/1.1 only."""
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _allowed(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if name not in HEADER_VALUES:
                raise ValueError(
                    f'HTTP header "{name}" can not be configured (allowed: '
                    f"{', '.join(HEADER_VALUES)})"
                )
            allowed = HEADER_VALUES[name]
            if allowed and text not in allowed:
                raise ValueError(
                    f"invalid value for {name}: expected one of {', '.join(allowed)}, got {text!r}"
                )
        return value


def _duration(value: object) -> float:
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f"duration {value} needs a unit, e.g. {value}s")


def _not_negative(value: float) -> float:
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _interval(value: object) -> object:
    """``0`` (or ``0s``) turns the limit off, as in the toolkit; anything else is a duration."""
    if value in (0, "0", "0s"):
        return 0.0
    return _duration(value)


class RateLimit(StrictModel):
    interval: Annotated[float, BeforeValidator(_interval), AfterValidator(_not_negative)] = 0
    """One request per interval on average (``0``: no limit)."""
    burst: int = Field(default=0, ge=0)
    """Requests allowed at once; as in the toolkit, ``0`` with an interval admits none."""


class _Document(StrictModel):
    tls_server_config: TlsServerConfig = Field(default_factory=TlsServerConfig)
    http_server_config: HttpServerConfig = Field(default_factory=HttpServerConfig)
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    basic_auth_users: dict[str, str] = Field(default_factory=dict)
    unauthenticated_paths: tuple[Literal["/-/healthy", "/-/ready"], ...] = ()

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt(cls, value: dict[str, str]) -> dict[str, str]:
        for user, hashed in value.items():
            if not _BCRYPT.fullmatch(str(hashed)):
                raise ValueError(
                    f"the password of user {user!r} is not a bcrypt hash (make one with "
                    "`htpasswd -nBC 10 USER`, or python -c 'import bcrypt; "
                    'print(bcrypt.hashpw(b"PASSWORD", bcrypt.gensalt()).decode())\')'
                )
        return value


@dataclass(frozen=True, slots=True)
class WebConfig:
    """A loaded web config; ``files`` are the paths it depends on (re-read when they change)."""

    source: Path
    tls: TlsServerConfig
    http: HttpServerConfig
    rate_limit: RateLimit
    users: dict[str, bytes]
    open_paths: frozenset[str]
    tls_line: int = 1
    """Where ``tls_server_config`` is, for problems found when its files are loaded."""

    @property
    def files(self) -> tuple[Path, ...]:
        paths = [self.source]
        for name in (self.tls.cert_file, self.tls.key_file, self.tls.client_ca_file):
            if name:
                paths.append(Path(name))
        return tuple(paths)


def load_web_config(path: Path) -> WebConfig:
    """Read and check ``path`` (its TLS files are loaded by
    :func:`pitwatch.websecurity.tls.load_checked`); :class:`WebConfigError` lists every
    problem."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
        text = decode(data, "web config")
        located = load_located(text)
    except OSError as exc:
        raise WebConfigError([f"{path}: cannot read web config: {exc.strerror or exc}"]) from None
    except YamlError as exc:
        raise WebConfigError([f"{path}:{exc.line or 1}: {exc.message}"]) from None
    problems = [f"{path}:{problem.line or 1}: {problem.message}" for problem in located.problems]
    raw = located.data if located.data is not None else {}
    if not isinstance(raw, dict):
        raise WebConfigError(
            [f"{path}:1: the web config must be a mapping (tls_server_config, ...)"]
        )
    try:
        document = _Document.model_validate(raw, context={"base_dir": path.parent.resolve()})
    except ValidationError as exc:
        problems += [_located(path, located, error) for error in exc.errors()]
        raise WebConfigError(problems) from None
    if problems:
        raise WebConfigError(problems)
    config = WebConfig(
        path,
        document.tls_server_config,
        document.http_server_config,
        document.rate_limit,
        {user: hashed.encode() for user, hashed in document.basic_auth_users.items()},
        frozenset(document.unauthenticated_paths),
        located.line_of(("tls_server_config",)),
    )
    return config


def _located(path: Path, located: LocatedData, error: ErrorDetails) -> str:
    loc = tuple(part for part in error["loc"] if isinstance(part, (str, int)))
    kind = error["type"]
    shown = _dotted(loc)
    if kind == "extra_forbidden" and loc:
        where = _dotted(loc[:-1])
        text = f'unknown key "{loc[-1]}"'
        return f"{path}:{located.line_of(loc)}: {where + ': ' if where else ''}{text}"
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind in ("value_error", "assertion_error"):
        message = str(ctx.get("error", error["msg"]))
    elif kind == "literal_error":
        message = f"must be {ctx.get('expected')}, got {error['input']!r}"
    else:
        message = str(error["msg"]).replace("Input should", "should")
    return f"{path}:{located.line_of(loc)}: {shown + ': ' if shown else ''}{message}"


def _dotted(loc: tuple[str | int, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
