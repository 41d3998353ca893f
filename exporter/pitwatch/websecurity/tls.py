"""The server's TLS: an :class:`ssl.SSLContext` built from ``tls_server_config``, and the
client-certificate SAN allow-list.

Python's ``ssl`` sets one key-exchange group (``set_ecdh_curve``); a list of
``curve_preferences`` is handed to OpenSSL's own groups list, as Go's ``CurvePreferences``
does, through the context's ``SSL_CTX``.
"""

from __future__ import annotations

import ctypes
import os
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pitwatch.websecurity.ciphers import CIPHERS, CURVES, HTTP2_CIPHERS, TLS_VERSIONS
from pitwatch.websecurity.config import WebConfig, WebConfigError, load_web_config

_SSL_CTRL_SET_GROUPS_LIST = 92
_CONTEXT_POINTER_OFFSET = 2 * ctypes.sizeof(ctypes.c_void_p)
"""Where CPython's ``PySSLContext`` keeps its ``SSL_CTX *`` (after the object header)."""


def load_checked(path: Path) -> WebConfig:
    """:func:`load_web_config`, and the TLS files loaded too: what ``check-config`` and
    every (re)load use."""
    config = load_web_config(path)
    problem = check_tls(config)
    if problem is not None:
        raise WebConfigError([f"{path}:{config.tls_line}: tls_server_config: {problem}"])
    return config


def check_tls(config: WebConfig) -> str | None:
    """Why the TLS part cannot be used (files unreadable, not PEM, key not matching), if so."""
    if not config.tls.enabled:
        return None
    if (
        config.http.http2
        and config.tls.cipher_suites
        and not set(config.tls.cipher_suites) & set(HTTP2_CIPHERS)
    ):
        return (
            "cipher_suites is missing an HTTP/2-required AES_128_GCM_SHA256 cipher (need one of "
            f"{' or '.join(HTTP2_CIPHERS)}), or set http_server_config.http2: false"
        )
    try:
        server_context(config)
    except (ssl.SSLError, ValueError) as exc:  # SSLError is an OSError: first
        return f"cannot use the certificate and key: {exc}"
    except OSError as exc:
        return f"cannot read {exc.filename or 'a TLS file'}: {exc.strerror or exc}"
    return None


def server_context(config: WebConfig) -> ssl.SSLContext:
    """A fresh context for the TLS settings of ``config`` (reads the certificate files)."""
    tls = config.tls
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    context.maximum_version = TLS_VERSIONS[tls.max_version]
    with _pem_files(tls.cert_file, tls.cert, tls.key_file, tls.key) as (cert, key):
        context.load_cert_chain(cert, key)
    suites = [CIPHERS[name] for name in tls.cipher_suites if CIPHERS[name]]
    if suites:
        context.set_ciphers(":".join(suites))
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if tls.curve_preferences:
        _set_groups(context, [CURVES[name] for name in tls.curve_preferences])
    if tls.client_auth_type in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert"):
        if tls.client_ca_file:
            context.load_verify_locations(cafile=tls.client_ca_file)
        else:
            context.load_verify_locations(cadata=tls.client_ca)
        context.verify_mode = (
            ssl.CERT_REQUIRED
            if tls.client_auth_type == "RequireAndVerifyClientCert"
            else ssl.CERT_OPTIONAL
        )
    return context


@contextmanager
def _pem_files(cert_file: str, cert: str, key_file: str, key: str) -> Iterator[tuple[str, str]]:
    """Paths of the certificate and key; inline PEM goes to a private temporary file for as
    long as OpenSSL takes to read it."""
    with tempfile.TemporaryDirectory(prefix="pitwatch-tls-") as directory:
        paths = []
        for path, text, name in ((cert_file, cert, "cert.pem"), (key_file, key, "key.pem")):
            if path:
                paths.append(path)
                continue
            inline = os.path.join(directory, name)
            descriptor = os.open(inline, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(text)
            paths.append(inline)
        yield paths[0], paths[1]


def _set_groups(context: ssl.SSLContext, groups: list[str]) -> None:
    if len(groups) == 1:
        context.set_ecdh_curve(
            {"P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1"}.get(
                groups[0], groups[0]
            )
        )
        return
    import _ssl

    control = ctypes.CDLL(_ssl.__file__).SSL_CTX_ctrl
    control.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p]
    control.restype = ctypes.c_long
    pointer = ctypes.c_void_p.from_address(id(context) + _CONTEXT_POINTER_OFFSET).value
    if (
        not pointer
        or control(pointer, _SSL_CTRL_SET_GROUPS_LIST, 0, ":".join(groups).encode()) != 1
    ):
        raise ValueError(f"OpenSSL refused the curves {', '.join(groups)}")


def subject_alt_names(peercert: dict[str, Any] | None) -> list[str]:
    """DNS names, e-mail addresses, IP addresses and URIs of a verified client certificate."""
    if not peercert:
        return []
    return [str(value) for _, value in peercert.get("subjectAltName", ())]


def san_allowed(peercert: dict[str, Any] | None, allowed: tuple[str, ...]) -> bool:
    return any(name in allowed for name in subject_alt_names(peercert))
