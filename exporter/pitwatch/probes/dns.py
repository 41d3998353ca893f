"""The ``dns`` prober: one query to one DNS server over UDP or TCP, and checks on the answer.

Phases follow blackbox_exporter and are always all exported (0 where one does not apply):
``resolve`` (the server's own name, when it is given as a name), ``connect`` (TCP only) and
``request`` (query sent until the answer is parsed). Over UDP a truncated answer is asked
again over TCP, as a stub resolver would, so ``connect`` then counts too.

Reasons, chosen so that an alert's reason says whose problem it is:

- no answer before the deadline: ``timeout`` (from the scheduler, naming the server);
- the server's own name does not resolve, or the answer's rcode is not in ``valid_rcodes``
  (NXDOMAIN, SERVFAIL, REFUSED, ...): ``dns``, the name did not resolve; this is the DNS
  twin of the http prober's ``http_status``;
- the server refused the connection, reset it, or sent ICMP port unreachable: ``connect``;
- bytes that are not a DNS answer to our query: ``protocol``;
- a well-formed answer with too few records or records failing a configured regex:
  ``assertion``, as body checks are for http.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
from pydantic import AfterValidator, Field, field_validator

from pitwatch.addresses import (
    IpProtocol,
    address_check,
    address_family,
    is_ip,
    join_host_port,
    split_host_port,
)
from pitwatch.config_types import RegexText, TargetBase
from pitwatch.families import Family, register
from pitwatch.probes._kind import ProbeKind
from pitwatch.reasons import ProbeFailure, Reason, os_error_text
from pitwatch.result import Passed, ProbeContext, Sample

PHASES = ("resolve", "connect", "request")
RecordType = Literal["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS"]
DEFAULT_PORT = 53
RESOLV_CONF = Path("/etc/resolv.conf")
EDNS_PAYLOAD = 1232
"""The DNS flag day 2020 size: large enough for most answers, small enough not to fragment."""
_SHOWN_ANSWERS = 240

DNS_PHASE = register(
    Family(
        "pitwatch_dns_phase_duration_seconds",
        "gauge",
        "Time the last probe spent in each phase (resolve, connect, request), in seconds.",
        ("phase",),
    )
)
DNS_ANSWER_RECORDS = register(
    Family(
        "pitwatch_dns_answer_records",
        "gauge",
        "Records of the queried type in the answer section of the last probe's answer.",
    )
)
DNS_RCODE = register(
    Family(
        "pitwatch_dns_response_code",
        "gauge",
        "Numeric rcode of the last probe's answer (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, "
        "5 REFUSED); absent when no answer arrived.",
    )
)


class DnsTarget(TargetBase):
    probe: Literal["dns"]
    query_name: str
    query_type: RecordType = "A"
    server: Annotated[str, AfterValidator(address_check("server", DEFAULT_PORT))] | None = None
    """``host[:port]``; unset: the first nameserver of /etc/resolv.conf."""
    transport: Literal["udp", "tcp"] = "udp"
    recursion_desired: bool = True
    valid_rcodes: tuple[str, ...] = ("NOERROR",)
    min_answers: int | None = Field(default=None, ge=0)
    """Unset: a NOERROR answer needs one record of the queried type, other rcodes none."""
    answers_match_all: RegexText | None = None
    answers_match_any: RegexText | None = None
    answers_match_none: RegexText | None = None
    ip_protocol: IpProtocol = "auto"
    """Address family used to resolve ``server`` when it is a name."""

    @field_validator("query_name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return dns.name.from_text(value).to_text()
        except dns.exception.DNSException as exc:
            raise ValueError(f"invalid query_name {value!r}: {exc}") from None

    @field_validator("query_type", mode="before")
    @classmethod
    def _upper_type(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("valid_rcodes", mode="before")
    @classmethod
    def _rcodes(cls, value: object) -> object:
        if isinstance(value, str):
            value = (value,)
        if not isinstance(value, (list, tuple)):
            return value
        names = []
        for item in value:
            try:
                names.append(dns.rcode.to_text(dns.rcode.from_text(str(item).upper())))
            except dns.rcode.UnknownRcode:
                raise ValueError(
                    f"unknown rcode {item!r} (e.g. NOERROR, NXDOMAIN, SERVFAIL, REFUSED)"
                ) from None
        if not names:
            raise ValueError("valid_rcodes needs at least one rcode")
        return tuple(names)

    def required_answers(self, rcode: int) -> int:
        if self.min_answers is not None:
            return self.min_answers
        return 1 if rcode == dns.rcode.NOERROR else 0


class _Measured:
    """What one probe measured so far (kept when the deadline cuts it short)."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.answers = 0
        self.rcode: int | None = None

    def samples(self) -> tuple[Sample, ...]:
        phases = tuple(
            Sample(DNS_PHASE, value, (("phase", phase),)) for phase, value in self.seconds.items()
        )
        if self.rcode is None:
            return phases
        return (
            *phases,
            Sample(DNS_ANSWER_RECORDS, self.answers),
            Sample(DNS_RCODE, int(self.rcode)),
        )


def system_nameserver(path: Path = RESOLV_CONF) -> str:
    """The first ``nameserver`` of resolv.conf; like glibc, the local machine if none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "127.0.0.1"
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            return parts[1]
    return "127.0.0.1"


async def probe(target: DnsTarget, ctx: ProbeContext) -> Passed:
    measured = _Measured()
    try:
        response, where = await _ask(target, ctx, measured)
        details = _verdict(target, response, measured)
    finally:
        ctx.samples = measured.samples()
    rcode = dns.rcode.to_text(response.rcode())
    found = f"{measured.answers} {target.query_type} record(s)"
    return Passed(f"{rcode}, {found} from {where}", details)


async def _ask(
    target: DnsTarget, ctx: ProbeContext, measured: _Measured
) -> tuple[dns.message.Message, str]:
    """Send the query and return the answer, every failure as a :class:`ProbeFailure`."""
    if target.server is None:
        ctx.step = f"reading {RESOLV_CONF}"
        host = await asyncio.to_thread(system_nameserver)
        port = DEFAULT_PORT
    else:
        host, port = split_host_port(target.server, "server", DEFAULT_PORT)
    address, family = await _resolve(host, port, target, ctx, measured)
    query = dns.message.make_query(
        target.query_name, target.query_type, use_edns=0, payload=EDNS_PAYLOAD
    )
    if not target.recursion_desired:
        query.flags &= ~dns.flags.RD
    exchange = _Exchange(query, address, port, family, ctx, measured, join_host_port(host, port))
    what = f"{target.query_name} {target.query_type}"
    if target.transport == "udp":
        ctx.step = f"asking {exchange.where} over UDP for {what}"
        response = await exchange.over_udp()
        if not response.flags & dns.flags.TC:
            return response, exchange.where
        ctx.step = f"connecting to {exchange.where} over TCP (the UDP answer was truncated)"
    else:
        ctx.step = f"connecting to {exchange.where} over TCP"
    return await exchange.over_tcp(what), exchange.where


async def _resolve(
    host: str, port: int, target: DnsTarget, ctx: ProbeContext, measured: _Measured
) -> tuple[str, int]:
    if is_ip(host):
        return host, socket.AF_INET6 if ":" in host else socket.AF_INET
    ctx.step = f"resolving the server name {host}"
    started = time.perf_counter()
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, family=address_family(target.ip_protocol), type=socket.SOCK_DGRAM
        )
    except socket.gaierror as exc:
        raise ProbeFailure(Reason.DNS, f"cannot resolve server {host}: {exc.strerror}") from exc
    measured.seconds["resolve"] = time.perf_counter() - started
    family, _, _, _, sockaddr = infos[0]
    return str(sockaddr[0]), family


class _FirstDatagram(asyncio.DatagramProtocol):
    def __init__(self, answer: asyncio.Future[bytes]) -> None:
        self.answer = answer

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc or ConnectionError("socket closed"))


@dataclass(slots=True)
class _Exchange:
    """One query to one server address, over UDP or TCP, timed into ``measured``."""

    query: dns.message.Message
    address: str
    port: int
    family: int
    ctx: ProbeContext
    measured: _Measured
    where: str
    """The server as configured (a name stays a name), for messages."""

    async def over_udp(self) -> dns.message.Message:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bytes] = loop.create_future()
        started = time.perf_counter()
        transport: asyncio.DatagramTransport | None = None
        try:
            # A connected socket: only the server can answer, and an ICMP port unreachable
            # comes back as ConnectionRefusedError instead of a silent timeout.
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _FirstDatagram(answer),
                remote_addr=(self.address, self.port),
                family=self.family,
            )
            transport.sendto(self.query.to_wire())
            wire = await answer
        except TimeoutError:
            raise
        except OSError as exc:
            raise ProbeFailure(
                Reason.CONNECT, f"cannot query {self.where} over UDP: {os_error_text(exc)}"
            ) from exc
        finally:
            if transport is not None:
                transport.close()
        response = self._parse(wire)
        self.measured.seconds["request"] = time.perf_counter() - started
        return response

    async def over_tcp(self, what: str) -> dns.message.Message:
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection(
                self.address, self.port, family=self.family
            )
        except TimeoutError:
            raise
        except OSError as exc:
            raise ProbeFailure(
                Reason.CONNECT, f"cannot connect to {self.where}: {os_error_text(exc)}"
            ) from exc
        self.measured.seconds["connect"] = time.perf_counter() - started
        self.ctx.step = f"asking {self.where} over TCP for {what}"
        started = time.perf_counter()
        try:
            wire = self.query.to_wire()
            writer.write(len(wire).to_bytes(2, "big") + wire)
            await writer.drain()
            length = int.from_bytes(await reader.readexactly(2), "big")
            answer = await reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise ProbeFailure(
                Reason.CONNECT, f"{self.where} closed the connection without a complete answer"
            ) from exc
        except TimeoutError:
            raise
        except OSError as exc:
            raise ProbeFailure(
                Reason.CONNECT, f"connection to {self.where} failed: {os_error_text(exc)}"
            ) from exc
        finally:
            writer.close()
        response = self._parse(answer)
        # After a truncated UDP answer the request phase already holds its time: add to it.
        self.measured.seconds["request"] += time.perf_counter() - started
        return response

    def _parse(self, wire: bytes) -> dns.message.Message:
        try:
            response = dns.message.from_wire(wire)
        except dns.exception.DNSException as exc:
            raise ProbeFailure(
                Reason.PROTOCOL, f"{self.where} sent something that is not a DNS message: {exc}"
            ) from exc
        if not self.query.is_response(response):
            raise ProbeFailure(
                Reason.PROTOCOL, f"{self.where} answered a different query (id or question)"
            )
        return response


def answer_text(rdata: dns.rdata.Rdata) -> str:
    """What the regexes see: zone-file form (``10 mx1.example.com.``), except TXT, whose
    strings are joined unquoted (``v=spf1 -all``)."""
    if isinstance(rdata, dns.rdtypes.ANY.TXT.TXT):
        return b"".join(rdata.strings).decode("utf-8", "replace")
    return str(rdata.to_text())


def _verdict(
    target: DnsTarget, response: dns.message.Message, measured: _Measured
) -> tuple[tuple[str, str], ...]:
    """Check the answer against the target; returns status-page details when it passes."""
    rcode = response.rcode()
    wanted = dns.rdatatype.from_text(target.query_type)
    texts = [
        answer_text(rdata)
        for rrset in response.answer
        if rrset.rdtype == wanted and rrset.rdclass == dns.rdataclass.IN
        for rdata in rrset
    ]
    measured.rcode = rcode
    measured.answers = len(texts)
    rcode_text = dns.rcode.to_text(rcode)
    if rcode_text not in target.valid_rcodes:
        raise ProbeFailure(
            Reason.DNS,
            f"{target.query_name} {target.query_type}: {rcode_text} "
            f"(expected {', '.join(target.valid_rcodes)})",
        )
    needed = target.required_answers(rcode)
    if len(texts) < needed:
        raise ProbeFailure(
            Reason.ASSERTION,
            f"{len(texts)} {target.query_type} record(s) in the answer, expected at least {needed}",
        )
    _check_regexes(target, texts)
    return (("answers", _listing(texts)),) if texts else ()


def _check_regexes(target: DnsTarget, texts: Sequence[str]) -> None:
    _each_answer(texts, "answers_match_all", target.answers_match_all, matching=True)
    if target.answers_match_any is not None:
        pattern = re.compile(target.answers_match_any)
        if not any(pattern.search(text) for text in texts):
            raise ProbeFailure(
                Reason.ASSERTION,
                f"no answer matches answers_match_any /{target.answers_match_any}/ "
                f"(got {_listing(texts) or 'none'})",
            )
    _each_answer(texts, "answers_match_none", target.answers_match_none, matching=False)


def _each_answer(texts: Sequence[str], key: str, regex: str | None, *, matching: bool) -> None:
    """Fail on the first answer that does not match ``regex`` (or, not ``matching``, does)."""
    if regex is None:
        return
    pattern = re.compile(regex)
    for text in texts:
        if bool(pattern.search(text)) != matching:
            verb = "does not match" if matching else "matches"
            raise ProbeFailure(Reason.ASSERTION, f"answer {_clip(text)!r} {verb} {key} /{regex}/")


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _listing(texts: Sequence[str]) -> str:
    return _clip(", ".join(texts), _SHOWN_ANSWERS)


KIND = ProbeKind("dns", DnsTarget, probe)
