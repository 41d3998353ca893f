"""The ``tcp`` prober: connect, optionally TLS, optionally send a line and expect an answer."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from pitwatch.addresses import IpProtocol, address_check, address_family, split_host_port
from pitwatch.config_types import RegexText, TargetBase
from pitwatch.families import Family, register
from pitwatch.probes._kind import ProbeKind
from pitwatch.probes._tls import (
    HostTlsOptions,
    earliest_expiry,
    expiry_sample,
    presented_chain,
    ssl_error_text,
)
from pitwatch.reasons import ProbeFailure, Reason, os_error_text
from pitwatch.result import Passed, ProbeContext, Sample

PHASES = ("resolve", "connect", "tls", "exchange")
_READ_LIMIT = 64 * 1024

TCP_PHASE = register(
    Family(
        "pitwatch_tcp_phase_duration_seconds",
        "gauge",
        "Time the last probe spent in each phase (resolve, connect, tls, exchange), in seconds.",
        ("phase",),
    )
)


class TcpTarget(TargetBase):
    probe: Literal["tcp"]
    address: Annotated[str, AfterValidator(address_check("address"))]
    """``host:port``; IPv6 as ``[::1]:port``."""
    tls: bool = False
    tls_config: HostTlsOptions = Field(default_factory=HostTlsOptions)
    send: str | None = None
    """Sent after connecting (YAML escapes like ``\\r\\n`` are yours to add)."""
    expect: RegexText | None = None
    """Regular expression the answer must match (read until it matches, EOF or the deadline)."""
    ip_protocol: IpProtocol = "auto"


class _Phases:
    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.expiry: float | None = None

    def samples(self) -> tuple[Sample, ...]:
        phases = tuple(
            Sample(TCP_PHASE, value, (("phase", phase),)) for phase, value in self.seconds.items()
        )
        return (*phases, *expiry_sample(self.expiry))


async def probe(target: TcpTarget, ctx: ProbeContext) -> Passed:
    phases = _Phases()
    writer: asyncio.StreamWriter | None = None
    try:
        writer = await _exchange(target, ctx, phases)
    finally:
        ctx.samples = phases.samples()
        if writer is not None:
            writer.close()
    return Passed()


async def _exchange(target: TcpTarget, ctx: ProbeContext, phases: _Phases) -> asyncio.StreamWriter:
    host, port = split_host_port(target.address, "address")
    loop = asyncio.get_running_loop()
    ctx.step = f"resolving {host}"
    started = time.perf_counter()
    try:
        infos = await loop.getaddrinfo(
            host, port, family=address_family(target.ip_protocol), type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise ProbeFailure(Reason.DNS, f"cannot resolve {host}: {exc.strerror}") from exc
    phases.seconds["resolve"] = time.perf_counter() - started
    family, _, _, _, sockaddr = infos[0]
    ctx.step = f"connecting to {target.address}"
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection(str(sockaddr[0]), port, family=family)
    except OSError as exc:
        raise ProbeFailure(
            Reason.CONNECT, f"cannot connect to {target.address}: {os_error_text(exc)}"
        ) from exc
    phases.seconds["connect"] = time.perf_counter() - started
    try:
        if target.tls:
            ctx.step = "TLS handshake"
            started = time.perf_counter()
            try:
                await writer.start_tls(
                    target.tls_config.context(),
                    server_hostname=target.tls_config.server_name or host,
                )
            except ssl.SSLError as exc:
                raise ProbeFailure(
                    Reason.TLS, f"TLS handshake failed: {ssl_error_text(exc)}"
                ) from exc
            except OSError as exc:
                raise ProbeFailure(
                    Reason.TLS, f"TLS handshake failed: {os_error_text(exc)}"
                ) from exc
            phases.seconds["tls"] = time.perf_counter() - started
            phases.expiry = earliest_expiry(presented_chain(writer.get_extra_info("ssl_object")))
        if target.send is not None or target.expect is not None:
            started = time.perf_counter()
            await _send_expect(target, ctx, reader, writer)
            phases.seconds["exchange"] = time.perf_counter() - started
    except BaseException:
        writer.close()
        raise
    return writer


async def _send_expect(
    target: TcpTarget,
    ctx: ProbeContext,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    try:
        if target.send is not None:
            ctx.step = "sending"
            writer.write(target.send.encode())
            await writer.drain()
        if target.expect is None:
            return
        ctx.step = "waiting for the expected answer"
        pattern = re.compile(target.expect)
        received = b""
        # Stop reading just before the deadline: an answer that came but did not match is
        # an assertion failure, not a timeout.
        try:
            async with asyncio.timeout_at(ctx.stop_at()):
                while len(received) < _READ_LIMIT:
                    chunk = await reader.read(4096)
                    if not chunk:
                        break
                    received += chunk
                    if pattern.search(received.decode("utf-8", "replace")):
                        return
        except TimeoutError:
            if not received:
                raise
    except TimeoutError:
        raise  # the scheduler reports the deadline (TimeoutError is an OSError)
    except OSError as exc:
        raise ProbeFailure(Reason.CONNECT, f"connection failed: {os_error_text(exc)}") from exc
    snippet = received[:60].decode("utf-8", "replace")
    raise ProbeFailure(
        Reason.ASSERTION, f"answer did not match expect /{target.expect}/ (got {snippet!r})"
    )


KIND = ProbeKind("tcp", TcpTarget, probe)
