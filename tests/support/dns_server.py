"""A small authoritative DNS server for tests, written with dnspython: UDP and TCP on one
port of 127.0.0.1, in a background thread with its own event loop (so in-process probes, a
``pitwatch run`` subprocess and a sandboxed probe can all use it).

It serves the zone ``pitwatch.test.`` (see :data:`RECORDS`) and misbehaves on purpose for
some names: ``servfail.`` answers SERVFAIL, ``slow.`` answers after :attr:`DnsServer.delay`,
``silent.`` never answers, ``garbage.`` answers bytes that are no DNS message, ``wrongid.``
answers with another id, ``hangup.`` closes a TCP connection without answering (and is
silent over UDP; ``silent.`` keeps a TCP connection open), ``big.`` is too large for one UDP datagram (answered truncated over UDP,
in full over TCP). Names outside the zone are REFUSED, unknown names in it NXDOMAIN.
Every query is logged in :attr:`DnsServer.seen` as ``(transport, name, type, RD flag)``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any, Self, cast

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

ZONE = "pitwatch.test."
TTL = 300
RECORDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("lobby.pitwatch.test.", "A"): ("192.0.2.10", "192.0.2.11"),
    ("lobby.pitwatch.test.", "AAAA"): ("2001:db8::10",),
    ("www.pitwatch.test.", "CNAME"): ("lobby.pitwatch.test.",),
    ("pitwatch.test.", "MX"): ("10 mx1.pitwatch.test.", "20 mx2.pitwatch.test."),
    ("pitwatch.test.", "NS"): ("ns1.pitwatch.test.", "ns2.pitwatch.test."),
    ("pitwatch.test.", "TXT"): ('"v=spf1 " "-all"', '"site-verification=abc123"'),
    ("_sip._tcp.pitwatch.test.", "SRV"): ("0 5 5060 sip.pitwatch.test.",),
    ("ns1.pitwatch.test.", "A"): ("127.0.0.1",),
    ("nodata.pitwatch.test.", "TXT"): ('"only text here"',),
    ("slow.pitwatch.test.", "A"): ("192.0.2.20",),
    ("big.pitwatch.test.", "TXT"): tuple(f'"{n:02d}{"x" * 198}"' for n in range(12)),
}
UDP_LIMIT_WITHOUT_EDNS = 512


def _bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same port (retrying when port 0 picks a TCP-busy one)."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((host, port))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            if port:
                raise
            continue
        tcp.listen(16)
        udp.setblocking(False)
        tcp.setblocking(False)
        return udp, tcp
    raise RuntimeError("no free port for both UDP and TCP")


class DnsServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, delay: float = 0.3) -> None:
        self.host = host
        self.delay = delay
        self.seen: list[tuple[str, str, str, bool]] = []
        self._udp, self._tcp = _bind_pair(host, port)
        self.port: int = self._udp.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._transport: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def transports_for(self, name: str) -> list[str]:
        return [transport for transport, seen, _, _ in self.seen if seen == name]

    def __enter__(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=self._udp)
        self._server = await asyncio.start_server(self._serve_tcp, sock=self._tcp)

    async def _stop(self) -> None:
        # Every task of this loop, TCP connection handlers included: a handler left pending
        # when the loop closes never closes its transport.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        if self._transport is not None:
            self._transport.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def answer(self, wire: bytes, transport: str) -> bytes | None:
        """The bytes to send back for a query; None to stay silent, b"" to hang up."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        question = query.question[0]
        name = question.name.to_text().lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.seen.append((transport, name, rdtype, bool(query.flags & dns.flags.RD)))
        label = name.split(".", 1)[0]
        if label == "silent":
            return None
        if label == "hangup":
            return b""
        if label == "garbage":
            return b"\x13\x37 this is not DNS"
        if label == "slow":
            await asyncio.sleep(self.delay)
        response = self._response(query, name, label, rdtype)
        if transport == "tcp":
            return response.to_wire(max_size=65535)
        limit = query.payload if query.edns >= 0 else UDP_LIMIT_WITHOUT_EDNS
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC | dns.flags.AA
            return truncated.to_wire()

    def _response(
        self, query: dns.message.Message, name: str, label: str, rdtype: str
    ) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if not name.endswith(ZONE):
            response.set_rcode(dns.rcode.REFUSED)
        elif label == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
        elif label == "wrongid":
            response.id = (query.id + 1) % 65536
        elif (name, "CNAME") in RECORDS and rdtype != "CNAME":
            target = RECORDS[(name, "CNAME")][0]
            response.answer.append(_rrset(name, "CNAME", RECORDS[(name, "CNAME")]))
            if (target, rdtype) in RECORDS:
                response.answer.append(_rrset(target, rdtype, RECORDS[(target, rdtype)]))
        elif (name, rdtype) in RECORDS:
            response.answer.append(_rrset(name, rdtype, RECORDS[(name, rdtype)]))
        elif not any(known == name for known, _ in RECORDS):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response  # else NOERROR without records: NODATA

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                length = int.from_bytes(await reader.readexactly(2), "big")
                reply = await self.answer(await reader.readexactly(length), "tcp")
                if reply == b"":
                    break
                if reply is None:
                    continue  # read on: the client gives up first
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _rrset(name: str, rdtype: str, values: tuple[str, ...]) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(name, TTL, dns.rdataclass.IN, rdtype, list(values))


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server.spawn(self._reply(data, addr))

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self.server.answer(data, "udp")
        if reply and self.transport is not None:
            self.transport.sendto(reply, addr)
