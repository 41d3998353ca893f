"""Network addresses, read and written one way everywhere: ``host:port`` and ``[IPv6]:port``,
and the ``ip_protocol`` setting that picks an address family."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Literal

IpProtocol = Literal["auto", "ip4", "ip6"]
"""Which address family a name resolves to: either (``auto``), IPv4 only or IPv6 only."""

_FAMILIES: dict[str, socket.AddressFamily] = {
    "auto": socket.AF_UNSPEC,
    "ip4": socket.AF_INET,
    "ip6": socket.AF_INET6,
}


def address_family(ip_protocol: IpProtocol) -> socket.AddressFamily:
    """The ``family`` argument of ``getaddrinfo`` and friends for an ``ip_protocol``."""
    return _FAMILIES[ip_protocol]


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def split_host_port(
    text: str, what: str, default_port: int | None = None, *, listen: bool = False
) -> tuple[str, int]:
    """``host:port`` or ``[IPv6]:port`` -> (host, port); with a ``default_port`` also
    ``host``, a bare IPv6 address or ``[IPv6]``. ``listen``: an address to listen on, whose
    host may be empty (every interface) and port 0 (any free one). Raises ValueError with a
    message that names ``what`` (``address``, ``server``)."""
    forms = "host:port" if default_port is None else "host, host:port or [IPv6]:port"
    shape = ValueError(f"{what} must be {forms}, got {text!r}")
    host = text.strip()
    if default_port is not None and is_ip(host):
        return host, default_port
    port_text = ""
    if host.startswith("["):
        inside, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")) or not is_ip(inside):
            raise shape
        host, port_text = inside, rest[1:]
    elif ":" in host:
        host, _, port_text = host.rpartition(":")
        if ":" in host:
            raise ValueError(
                f"write an IPv6 {what} with a port in brackets, e.g. [2001:db8::53]:53"
            )
    if not host and not listen:
        raise shape
    if not port_text:
        if default_port is None:
            raise shape
        return host, default_port
    lowest = 0 if listen else 1
    if not port_text.isdigit() or not lowest <= int(port_text) <= 65535:
        raise ValueError(f"{what} port must be {lowest}-65535, got {port_text!r}")
    return host, int(port_text)


def address_check(what: str, default_port: int | None = None) -> Callable[[str], str]:
    """A validator (for ``AfterValidator``) that lets through what :func:`split_host_port`
    accepts."""

    def check(value: str) -> str:
        split_host_port(value, what, default_port)
        return value

    return check


def join_host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
