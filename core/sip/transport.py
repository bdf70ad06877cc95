"""The only I/O of the SIP side: asyncio UDP and TCP on one port.

Bytes in -> core.sip.message -> the registrar (requests) or the NOTIFY manager (responses);
replies go back from the socket the request arrived on (UDP) or on its connection (TCP).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable

from core.sip.errors import SipParseError
from core.sip.message import KEEPALIVE, NEED_DATA, SipRequest, SipResponse, StreamParser, parse, serialize
from core.sip.registrar import Source

log = logging.getLogger("core.sip.transport")

RequestHandler = Callable[[SipRequest, Source, float], list[SipResponse]]
ResponseHandler = Callable[[SipResponse, Source], None]


class Endpoint:
    """What both transports share: the handlers, open TCP connections and a way to send."""

    def __init__(self, on_request: RequestHandler, on_response: ResponseHandler, clock: Callable[[], float]) -> None:
        self.on_request = on_request
        self.on_response = on_response
        self.clock = clock
        self.udp: asyncio.DatagramTransport | None = None
        self.local = ""
        self.connections: dict[int, asyncio.Transport] = {}
        self._ids = itertools.count(1)

    def new_conn_id(self) -> int:
        return next(self._ids)

    def send(self, dest: Source, data: bytes) -> bool:
        """To a binding's recorded source: the UDP socket, or the TCP connection it came on."""
        if dest.transport == "udp":
            if self.udp is None:
                return False
            self.udp.sendto(data, (dest.ip, dest.port))
            return True
        conn = self.connections.get(dest.conn_id or -1)
        if conn is None or conn.is_closing():
            return False
        conn.write(data)
        return True


def udp_reply_addr(req: SipRequest, source: Source) -> tuple[str, int]:
    """RFC 3581: with rport, answer the source address; else the source IP and the Via port."""
    via = req.get("Via") or ""
    if ";rport" in via:
        return source.ip, source.port
    hostport = via.split(";", 1)[0].split()[-1] if via.split() else ""
    port = hostport.rsplit(":", 1)[1] if ":" in hostport and not hostport.endswith("]") else "5060"
    return source.ip, int(port) if port.isdigit() else 5060


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.endpoint.udp = self.transport
        host, port = transport.get_extra_info("sockname")[:2]
        self.endpoint.local = f"udp:{host}:{port}"

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 16:
            return  # keep-alive CRLFs, STUN-ish noise
        try:
            msg = parse(data)
        except SipParseError:
            return  # unparseable: no trustworthy Via to answer, stay silent
        source = Source(addr[0], addr[1], "udp", None, self.endpoint.local)
        if isinstance(msg, SipResponse):
            self.endpoint.on_response(msg, source)
            return
        replies = self.endpoint.on_request(msg, source, self.endpoint.clock())
        if replies and self.transport is not None:
            dest = udp_reply_addr(msg, source)
            for r in replies:
                self.transport.sendto(serialize(r), dest)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp error: %s", exc)  # ICMP unreachable for a gone phone: nothing to do


class TcpProtocol(asyncio.Protocol):
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.parser = StreamParser()
        self.transport: asyncio.Transport | None = None
        self.conn_id = endpoint.new_conn_id()
        self.peer: tuple[str, int] = ("", 0)
        self.local = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")[:2]
        host, port = transport.get_extra_info("sockname")[:2]
        self.local = f"tcp:{host}:{port}"
        self.endpoint.connections[self.conn_id] = self.transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.endpoint.connections.pop(self.conn_id, None)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        try:
            self.parser.receive_data(data)
            while True:
                event = self.parser.next_event()
                if event is NEED_DATA:
                    return
                if event is KEEPALIVE:
                    self.transport.write(b"\r\n")  # RFC 5626 pong
                    continue
                source = Source(self.peer[0], self.peer[1], "tcp", self.conn_id, self.local)
                if isinstance(event, SipResponse):
                    self.endpoint.on_response(event, source)
                elif isinstance(event, SipRequest):
                    for r in self.endpoint.on_request(event, source, self.endpoint.clock()):
                        self.transport.write(serialize(r))
        except SipParseError:
            self.transport.close()  # framing is lost on a stream: drop the connection


async def open_transports(endpoint: Endpoint, host: str, port: int) -> tuple[asyncio.DatagramTransport, asyncio.Server]:
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(lambda: UdpProtocol(endpoint), local_addr=(host, port))
    try:
        tcp = await loop.create_server(lambda: TcpProtocol(endpoint), host, port, reuse_address=True)
    except OSError:
        udp.close()
        raise
    return udp, tcp


def wall_clock() -> float:
    return time.time()
