"""TLS shared by the probers: the one options model, client contexts from it, and
certificate expiry.

Expiry is read from the DER of each presented certificate with a small ASN.1 walk, so it
works with verification off too, and needs no crypto library at run time.
"""

from __future__ import annotations

import functools
import os
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, ValidationInfo, model_validator

from pitwatch.config_types import StrictModel, resolve_path
from pitwatch.families import Family, register
from pitwatch.result import Sample

TLS_CERT_EXPIRY = register(
    Family(
        "pitwatch_tls_cert_expiry_timestamp_seconds",
        "gauge",
        "Unix time the earliest-expiring certificate presented in the last probe's TLS "
        "handshakes expires.",
    )
)


def _readable_file(value: object, info: ValidationInfo) -> object:
    if not isinstance(value, str):
        return value
    path = resolve_path(value, info)
    if not path.is_file():
        raise ValueError(f"file {path} does not exist")
    if not os.access(path, os.R_OK):
        raise ValueError(f"file {path} is not readable")
    return path


ReadableFile = Annotated[Path, BeforeValidator(_readable_file)]


class TlsOptions(StrictModel):
    """The TLS options every prober's connections take (http, tcp, flow, OAuth2 token
    requests, postgres): one model, so every prober reads and checks them alike."""

    ca_file: ReadableFile | None = None
    """PEM bundle to trust instead of the system store."""
    cert_file: ReadableFile | None = None
    """Client certificate (PEM) for mutual TLS; needs key_file."""
    key_file: ReadableFile | None = None
    min_version: Literal["TLS1.2", "TLS1.3"] | None = None

    @model_validator(mode="after")
    def _usable(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        # Load the files now: a broken PEM is a config error with its line, not a probe
        # failing at every interval.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            if self.ca_file is not None:
                context.load_verify_locations(cafile=str(self.ca_file))
            if self.cert_file is not None and self.key_file is not None:
                context.load_cert_chain(str(self.cert_file), str(self.key_file))
        except ssl.SSLError as exc:
            raise ValueError(f"cannot use the TLS files: {ssl_error_text(exc)}") from None
        return self


class HostTlsOptions(TlsOptions):
    """TLS towards a host whose certificate pitwatch checks itself (http, tcp, flow,
    OAuth2); postgres leaves what is checked to ``sslmode``."""

    server_name: str | None = None
    """Name sent in SNI and checked against the certificate (default: the URL's host)."""
    insecure_skip_verify: bool = False

    def context(self) -> ssl.SSLContext:
        verify = not self.insecure_skip_verify
        return client_context(self, verify=verify, check_hostname=verify)


def client_context(options: TlsOptions, *, verify: bool, check_hostname: bool) -> ssl.SSLContext:
    """The SSL context for ``options``: ``verify`` the peer's chain (against ``ca_file`` or
    the system store), and with ``check_hostname`` its name too. Built once per option set
    and file version (loading a CA store costs milliseconds; a probe must not pay that
    each time)."""
    stamps = tuple(_mtime(path) for path in (options.ca_file, options.cert_file, options.key_file))
    return _cached_context(options, verify, check_hostname, stamps)


def _mtime(path: Path | None) -> float:
    if path is None:
        return 0.0
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


@functools.lru_cache(maxsize=1024)
def _cached_context(
    options: TlsOptions, verify: bool, check_hostname: bool, stamps: tuple[float, ...]
) -> ssl.SSLContext:
    del stamps  # part of the cache key only: a renewed certificate file is read again
    if verify:
        cafile = str(options.ca_file) if options.ca_file is not None else None
        context = ssl.create_default_context(cafile=cafile)
        context.check_hostname = check_hostname
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if options.cert_file is not None and options.key_file is not None:
        context.load_cert_chain(str(options.cert_file), str(options.key_file))
    context.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if options.min_version == "TLS1.3" else ssl.TLSVersion.TLSv1_2
    )
    return context


def ssl_error_text(exc: BaseException) -> str:
    """A short reason for a failed handshake: ``certificate has expired``, ``hostname
    mismatch, ...``, ``wrong version number``."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        text = exc.verify_message.rstrip(".")
        # "Hostname mismatch" reads better mid-sentence as "hostname mismatch"; "IP address
        # mismatch" keeps its capitals
        return text[:1].lower() + text[1:] if text[1:2].islower() else text
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]


def presented_chain(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> list[bytes]:
    """DER of every certificate the peer presented (leaf first); just the leaf where the
    Python version offers no chain."""
    if ssl_object is None:
        return []
    chain_getter = getattr(ssl_object, "get_unverified_chain", None)  # Python 3.13+
    if chain_getter is None:
        chain_getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if chain_getter is not None:
        try:
            certificates = chain_getter() or []
            return [cert.public_bytes(ssl.Encoding.DER) for cert in certificates]  # type: ignore[attr-defined]
        except (ssl.SSLError, ValueError, AttributeError):
            pass
    leaf = ssl_object.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def earliest_expiry(chain: list[bytes]) -> float | None:
    stamps = [stamp for stamp in (not_after(der) for der in chain) if stamp is not None]
    return min(stamps) if stamps else None


def expiry_sample(expiry: float | None) -> tuple[Sample, ...]:
    return () if expiry is None else (Sample(TLS_CERT_EXPIRY, expiry),)


def not_after(der: bytes) -> float | None:
    """The notAfter time of an X.509 certificate in DER, as a Unix timestamp."""
    try:
        _, cert_start, _ = _tlv(der, 0)
        _, tbs_start, tbs_end = _tlv(der, cert_start)
        position = tbs_start
        tag, start, end = _tlv(der, position)
        if tag == 0xA0:  # explicit version
            position = end
        for _ in range(3):  # serialNumber, signature, issuer
            _, _, position = _tlv(der, position)
        _, validity_start, _ = _tlv(der, position)
        _, _, after_start = _tlv(der, validity_start)  # skip notBefore
        tag, start, end = _tlv(der, after_start)
        if end > tbs_end:
            return None
        return _asn1_time(tag, der[start:end].decode("ascii"))
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


def _tlv(data: bytes, position: int) -> tuple[int, int, int]:
    """Tag, content start and content end of the DER element at ``position``."""
    tag = data[position]
    length = data[position + 1]
    start = position + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, start, end


_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18


def _asn1_time(tag: int, text: str) -> float:
    if tag == _UTC_TIME:
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != _GENERALIZED_TIME:
        raise ValueError("not a time")
    stamp = datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return stamp.timestamp()
