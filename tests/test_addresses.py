"""``host:port`` as the tcp and dns probes and ``--listen`` read it, and the address family
``ip_protocol`` picks."""

from __future__ import annotations

import re
import socket

import pytest

from pitwatch.addresses import address_family, join_host_port, split_host_port


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("10.0.0.53", ("10.0.0.53", 53)),
        ("10.0.0.53:5353", ("10.0.0.53", 5353)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
        ("[2001:db8::53]", ("2001:db8::53", 53)),
        ("ns1.example.com", ("ns1.example.com", 53)),
        ("ns1.example.com:8053", ("ns1.example.com", 8053)),
    ],
)
def test_a_default_port_allows_a_host_alone(server: str, expected: tuple[str, int]) -> None:
    assert split_host_port(server, "server", 53) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("db:5432", ("db", 5432)),
        ("10.0.0.5:1", ("10.0.0.5", 1)),
        ("[::1]:65535", ("::1", 65535)),
    ],
)
def test_without_a_default_the_port_is_required(address: str, expected: tuple[str, int]) -> None:
    assert split_host_port(address, "address") == expected


@pytest.mark.parametrize(
    ("text", "default", "message"),
    [
        ("db", None, "address must be host:port, got 'db'"),
        (":5432", None, "address must be host:port, got ':5432'"),
        ("[db]:5432", None, "address must be host:port, got '[db]:5432'"),
        ("db:0", None, "address port must be 1-65535, got '0'"),
        ("db:http", None, "address port must be 1-65535, got 'http'"),
        ("::1:5432", None, "write an IPv6 address with a port in brackets, e.g. [2001:db8::53]:53"),
        ("ns1:99999", 53, "address port must be 1-65535, got '99999'"),
        (
            "[2001:db8::53",
            53,
            "address must be host, host:port or [IPv6]:port, got '[2001:db8::53'",
        ),
    ],
)
def test_mistakes_are_named(text: str, default: int | None, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        split_host_port(text, "address", default)


def test_a_listen_address_may_leave_host_and_port_open() -> None:
    assert split_host_port(":9469", "listen", listen=True) == ("", 9469)
    assert split_host_port("127.0.0.1:0", "listen", listen=True) == ("127.0.0.1", 0)
    assert split_host_port("[::1]:9469", "listen", listen=True) == ("::1", 9469)
    with pytest.raises(ValueError, match="listen must be host:port"):
        split_host_port("9469", "listen", listen=True)


def test_joined_back() -> None:
    assert join_host_port("db", 5432) == "db:5432"
    assert join_host_port("::1", 53) == "[::1]:53"


def test_ip_protocol_families() -> None:
    assert address_family("auto") == socket.AF_UNSPEC
    assert address_family("ip4") == socket.AF_INET
    assert address_family("ip6") == socket.AF_INET6
