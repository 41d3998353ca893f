"""The ``icmp`` prober: a few echo requests to one host; round-trip time and packet loss.

**Sockets.** An unprivileged datagram ICMP socket (a "ping socket") when the kernel allows
the process's group (sysctl ``net.ipv4.ping_group_range``, which covers IPv6 too), else a
raw socket when the process has ``CAP_NET_RAW`` (root). Datagram comes first even for root:
the kernel then delivers only this socket's replies, where every raw socket sees every ICMP
packet the host receives (with many targets, each probe would wake for all the others'
replies). Without either, :func:`check` rejects the config with what to change.

**Timing.** Requests go out ``packet_interval`` apart; replies are collected until all are
in or until just before the probe's deadline, so a lost packet shows as loss, not as a
probe that timed out half-way. Round trips come from kernel receive timestamps
(``SO_TIMESTAMPNS``), so a busy event loop does not inflate them.

**Reasons.** The name does not resolve: ``dns``. A request cannot be sent (no route, the
interface is down): ``connect``. No reply at all: ``timeout``. Some replies, but more loss
than ``max_packet_loss``: ``assertion``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import secrets
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from pitwatch.addresses import IpProtocol, address_family
from pitwatch.config_types import Duration, TargetBase, fraction_or_percent
from pitwatch.durations import format_duration
from pitwatch.families import Family, register
from pitwatch.probes._kind import ProbeKind
from pitwatch.reasons import ProbeFailure, Reason, os_error_text
from pitwatch.result import Passed, ProbeContext, Sample

PAYLOAD_SIZE = 56
"""Bytes after the ICMP header, as ping(8) sends: 64-byte packets."""
PING_GROUP_RANGE = Path("/proc/sys/net/ipv4/ping_group_range")
_SO_TIMESTAMPNS = 35  # Linux asm-generic value; Python's socket module does not name it
_TIMESPEC = struct.Struct("@ll")
_HEADER = struct.Struct("!BBHHH")
_ECHO_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
_ECHO_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
_PROTOCOL: dict[int, int] = {
    socket.AF_INET: socket.IPPROTO_ICMP,
    socket.AF_INET6: socket.IPPROTO_ICMPV6,
}
_CLOCK_SLACK = 0.001

ICMP_RTT = register(
    Family(
        "pitwatch_icmp_rtt_seconds",
        "gauge",
        "Average round-trip time of the echo replies of the last probe, in seconds; absent "
        "when no reply came back.",
    )
)
ICMP_LOSS = register(
    Family(
        "pitwatch_icmp_packet_loss_ratio",
        "gauge",
        "Share of the last probe's echo requests that got no reply, 0..1.",
    )
)
ICMP_SENT = register(
    Family(
        "pitwatch_icmp_packets_sent_total",
        "counter",
        "Echo requests sent to the target since the exporter started or the target changed.",
    )
)
ICMP_RECEIVED = register(
    Family(
        "pitwatch_icmp_packets_received_total",
        "counter",
        "Echo replies received from the target since the exporter started or the target changed.",
    )
)


LossRatio = Annotated[float, BeforeValidator(fraction_or_percent), Field(ge=0, lt=1)]
"""A share of packets in [0, 1), written as ``0.5`` or ``50%``."""


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class IcmpTarget(TargetBase):
    probe: Literal["icmp"]
    host: str
    """A name or an IPv4/IPv6 address (no port, no brackets)."""
    ip_protocol: IpProtocol = "auto"
    packets: int = Field(default=3, ge=1, le=100)
    packet_interval: Duration = 0.2
    max_packet_loss: LossRatio | None = None
    """Unset: one reply is enough. Set: the probe also fails when more are lost."""

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if (
            not value
            or any(char in value for char in " /[]")
            or (":" in value and _literal(value) is None)
        ):
            raise ValueError(f"host must be a name or an IP address, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> IcmpTarget:
        address = _literal(self.host)
        if address is not None and self.ip_protocol != "auto":
            wanted = 4 if self.ip_protocol == "ip4" else 6
            if address.version != wanted:
                raise ValueError(
                    f"host {self.host} is IPv{address.version} but ip_protocol is "
                    f"{self.ip_protocol}"
                )
        spread = (self.packets - 1) * self.packet_interval
        if self.timeout is not None and spread >= self.timeout:
            raise ValueError(
                f"{self.packets} packets {format_duration(self.packet_interval)} apart take "
                f"{format_duration(spread)} to send, not less than the "
                f"{format_duration(self.timeout)} timeout: send fewer, closer or allow longer"
            )
        return self

    def config_family(self) -> int:
        """The address family known before resolving (IPv4 unless IPv6 is certain)."""
        address = _literal(self.host)
        if address is not None:
            return socket.AF_INET6 if address.version == 6 else socket.AF_INET
        return socket.AF_INET6 if self.ip_protocol == "ip6" else socket.AF_INET


class IcmpNotPermitted(Exception):
    """Neither a datagram nor a raw ICMP socket may be opened by this process."""


def permission_problem() -> str:
    try:
        current = " ".join(PING_GROUP_RANGE.read_text().split())
    except OSError:
        current = "unknown"
    return (
        f"ICMP is not permitted for this process (uid {os.geteuid()}, gid {os.getegid()}): "
        f'add its group to sysctl net.ipv4.ping_group_range (now "{current}") '
        "or give it CAP_NET_RAW"
    )


def open_socket(family: int) -> tuple[socket.socket, str]:
    """A non-blocking ICMP socket for ``family`` and its kind, ``datagram`` or ``raw``."""
    proto = _PROTOCOL[family]
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM, proto)
        kind = "datagram"
    except OSError as datagram_error:
        # EACCES: the group is outside ping_group_range; EPROTONOSUPPORT: a kernel without
        # ping sockets. Both leave the raw socket to try; no IPv6 at all leaves nothing.
        if datagram_error.errno == errno.EAFNOSUPPORT:
            raise
        try:
            sock = socket.socket(family, socket.SOCK_RAW, proto)
        except PermissionError:
            raise IcmpNotPermitted(permission_problem()) from datagram_error
        kind = "raw"
    sock.setblocking(False)
    # Without kernel timestamps round trips are timed when the loop sees the reply.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    return sock, kind


def check(target: IcmpTarget) -> list[tuple[str, str]]:
    """Config time: can this process open the ICMP socket the target needs?"""
    family = target.config_family()
    try:
        sock, _ = open_socket(family)
    except IcmpNotPermitted as exc:
        return [("probe", str(exc))]
    except OSError as exc:
        version = "IPv6" if family == socket.AF_INET6 else "IPv4"
        return [("host", f"cannot open an {version} ICMP socket: {os_error_text(exc)}")]
    sock.close()
    return []


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def echo_request(family: int, ident: int, sequence: int, cookie: bytes) -> bytes:
    payload = cookie + bytes(PAYLOAD_SIZE - len(cookie))
    header = _HEADER.pack(_ECHO_REQUEST[family], 0, 0, ident, sequence)
    if family == socket.AF_INET6:
        return header + payload  # the kernel fills in the ICMPv6 checksum (RFC 3542)
    packet = header + payload
    return _HEADER.pack(8, 0, checksum(packet), ident, sequence) + payload


def parse_reply(family: int, data: bytes) -> tuple[int, bytes] | None:
    """(sequence, payload) of an echo reply, or None for any other packet."""
    if family == socket.AF_INET and data and data[0] >> 4 == 4:
        data = data[(data[0] & 0x0F) * 4 :]  # raw IPv4 sockets include the IP header
    if len(data) < _HEADER.size:
        return None
    kind, code, _, _, sequence = _HEADER.unpack_from(data)
    if kind != _ECHO_REPLY[family] or code != 0:
        return None
    return sequence, data[_HEADER.size :]


def _kernel_time_ns(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return int(seconds) * 1_000_000_000 + int(nanoseconds)
    return None


@dataclass(slots=True)
class _Echoes:
    """Requests sent and replies matched during one probe."""

    sock: socket.socket
    family: int
    cookie: bytes
    state: dict[str, Any]
    sent_at: dict[int, tuple[float, int]] = field(default_factory=dict)
    rtts: dict[int, float] = field(default_factory=dict)
    wanted: int = 0
    error: OSError | None = None
    all_in: asyncio.Event = field(default_factory=asyncio.Event)

    def sent(self, sequence: int, monotonic: float, wall_ns: int) -> None:
        self.sent_at[sequence] = (monotonic, wall_ns)
        self.state["sent"] = self.state.get("sent", 0) + 1

    def on_readable(self) -> None:
        while True:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(2048, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error the kernel queued on a datagram socket
                self.error = exc
                return
            self._match(data, ancillary, time.perf_counter())

    def _match(self, data: bytes, ancillary: list[tuple[int, int, bytes]], now: float) -> None:
        reply = parse_reply(self.family, data)
        if reply is None:
            return
        sequence, payload = reply
        if not payload.startswith(self.cookie) or sequence not in self.sent_at:
            return  # someone else's echo (a raw socket sees them all), or a duplicate
        if sequence in self.rtts:
            return
        sent_monotonic, sent_wall_ns = self.sent_at[sequence]
        measured = now - sent_monotonic
        kernel_ns = _kernel_time_ns(ancillary)
        if kernel_ns is not None:
            # The kernel stamped the reply on arrival; trust it unless the wall clock
            # stepped between send and receive.
            stamped = (kernel_ns - sent_wall_ns) / 1e9
            if 0 <= stamped <= measured + _CLOCK_SLACK:
                measured = stamped
        self.rtts[sequence] = max(0.0, measured)
        self.state["received"] = self.state.get("received", 0) + 1
        if len(self.rtts) == self.wanted:
            self.all_in.set()

    def loss(self) -> float:
        return 1 - len(self.rtts) / len(self.sent_at) if self.sent_at else 1.0

    def samples(self) -> tuple[Sample, ...]:
        # The loss of nothing sent is undefined (as after a dns failure): no sample, not 1.
        loss = (Sample(ICMP_LOSS, self.loss()),) if self.sent_at else ()
        rtt = (Sample(ICMP_RTT, sum(self.rtts.values()) / len(self.rtts)),) if self.rtts else ()
        return (*rtt, *loss, *_counters(self.state))


def _counters(state: dict[str, Any]) -> tuple[Sample, ...]:
    return (
        Sample(ICMP_SENT, state.get("sent", 0)),
        Sample(ICMP_RECEIVED, state.get("received", 0)),
    )


async def _resolve(target: IcmpTarget, ctx: ProbeContext) -> tuple[int, Any]:
    ctx.step = f"resolving {target.host}"
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            target.host, None, family=address_family(target.ip_protocol), type=socket.SOCK_DGRAM
        )
    except socket.gaierror as exc:
        raise ProbeFailure(Reason.DNS, f"cannot resolve {target.host}: {exc.strerror}") from exc
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


async def probe(target: IcmpTarget, ctx: ProbeContext) -> Passed:
    echoes: _Echoes | None = None
    try:
        family, sockaddr = await _resolve(target, ctx)
        try:
            sock, kind = open_socket(family)
        except IcmpNotPermitted as exc:
            raise ProbeFailure(Reason.CONNECT, str(exc)) from exc
        except OSError as exc:
            raise ProbeFailure(
                Reason.CONNECT, f"cannot open an ICMP socket: {os_error_text(exc)}"
            ) from exc
        echoes = _Echoes(sock, family, secrets.token_bytes(8), ctx.state)
        try:
            await _exchange(target, ctx, echoes, sockaddr)
        finally:
            sock.close()
    finally:
        ctx.samples = echoes.samples() if echoes is not None else _counters(ctx.state)
    return _verdict(target, echoes, str(sockaddr[0]), kind)


async def _exchange(target: IcmpTarget, ctx: ProbeContext, echoes: _Echoes, sockaddr: Any) -> None:
    loop = asyncio.get_running_loop()
    address = str(sockaddr[0])
    ident = secrets.randbelow(0x10000)  # a datagram socket's kernel replaces it
    echoes.wanted = target.packets
    # Stop just before the deadline: unanswered requests are then loss, not a timeout.
    stop_at = ctx.stop_at()
    started = loop.time()
    loop.add_reader(echoes.sock.fileno(), echoes.on_readable)
    try:
        async with asyncio.timeout_at(stop_at):
            for sequence in range(target.packets):
                await asyncio.sleep(
                    max(0.0, started + sequence * target.packet_interval - loop.time())
                )
                ctx.step = f"sending echo request {sequence + 1} of {target.packets} to {address}"
                packet = echo_request(echoes.family, ident, sequence, echoes.cookie)
                wall_ns, monotonic = time.time_ns(), time.perf_counter()
                try:
                    await loop.sock_sendto(echoes.sock, packet, sockaddr)
                except OSError as exc:
                    raise ProbeFailure(
                        Reason.CONNECT,
                        f"cannot send an echo request to {address}: {os_error_text(exc)}",
                    ) from exc
                echoes.sent(sequence, monotonic, wall_ns)
            ctx.step = f"waiting for echo replies from {address}"
            await echoes.all_in.wait()
    except TimeoutError:
        pass  # our own stop time, before the deadline: what did not come back is lost
    finally:
        loop.remove_reader(echoes.sock.fileno())


def _verdict(target: IcmpTarget, echoes: _Echoes, address: str, kind: str) -> Passed:
    sent, received = len(echoes.sent_at), len(echoes.rtts)
    details: tuple[tuple[str, str], ...] = (("address", address), ("socket", kind))
    if sent < target.packets:
        details += (("packets", f"only {sent} of {target.packets} sent before the timeout"),)
    if sent == 0:  # resolving used up the time
        message = f"timed out before the first echo request to {address}"
        raise ProbeFailure(Reason.TIMEOUT, message, details)
    if received == 0:
        if echoes.error is not None:
            message = f"no echo reply from {address}: {os_error_text(echoes.error)}"
            raise ProbeFailure(Reason.CONNECT, message, details)
        message = f"no echo reply from {address} to {sent} request(s)"
        raise ProbeFailure(Reason.TIMEOUT, message, details)
    rtts = sorted(echoes.rtts.values())
    details += (
        (
            "rtt",
            f"min {rtts[0] * 1000:.3f} ms, avg {sum(rtts) / len(rtts) * 1000:.3f} ms, "
            f"max {rtts[-1] * 1000:.3f} ms",
        ),
    )
    loss = echoes.loss()
    if target.max_packet_loss is not None and loss > target.max_packet_loss:
        message = (
            f"lost {sent - received} of {sent} packets ({loss:.0%}), "
            f"more than max_packet_loss {target.max_packet_loss:.0%}"
        )
        raise ProbeFailure(Reason.ASSERTION, message, details)
    return Passed(f"{received} of {sent} echo replies from {address}", details)


KIND = ProbeKind("icmp", IcmpTarget, probe, check)
