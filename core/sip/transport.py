"""The only I/O of the SIP side: asyncio UDP and TCP on one port.

Bytes in -> core.sip.message -> the registrar (requests) or the NOTIFY manager (responses);
replies go back from the socket the request arrived on (UDP) or on its connection (TCP).

What one message cannot do (docs/SIP.md "Hardening"):
- take a listening socket down: every message is handled inside a net that drops it and logs once per
  source per window (core.sip.ratelog); a reply address is checked before `sendto`, whose non-OSError
  failures make asyncio close the UDP socket;
- exhaust the file limit: TCP connections are capped per source and globally (below RLIMIT_NOFILE);
  a connection that has not authenticated must send a whole message every `handshake_timeout` seconds,
  one that has gets `idle_timeout`; when full, the least recently active unauthenticated one makes room.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import resource
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from core.sip.errors import SipParseError
from core.sip.message import KEEPALIVE, MAX_MESSAGE, NEED_DATA, SipRequest, SipResponse, StreamParser, parse, serialize
from core.sip.ratelog import RateLimitedLog
from core.sip.registrar import Source

log = logging.getLogger(__name__)

MAX_TCP_BACKLOG = 256 * 1024  # bytes of replies a peer has not read: past it, it is not a phone
MAX_UDP_BACKLOG = 4 * 1024 * 1024  # bytes queued while the socket would block: past it, replies are dropped
# The kernel's queue of datagrams not yet read (the default, ~208 KiB, is ~350 REGISTERs: 0.2 s at 2,000/s).
# Under load the process is off the CPU longer than that: every REGISTER past it was dropped by the kernel,
# sipp retransmitted, and the registrar collapsed (issue 13, docs/PERFORMANCE.md). The kernel caps it at
# net.core.rmem_max.
UDP_RECEIVE_BUFFER = 4 * 1024 * 1024

RequestHandler = Callable[[SipRequest, Source, float], list[SipResponse]]
ResponseHandler = Callable[[SipResponse, Source], None]


@dataclass(frozen=True, slots=True)
class TcpLimits:
    max_connections: int = 0  # 0: as many as the file limit allows (see connection_cap)
    max_per_source: int = 64  # an office NAT with many TCP phones; more from one address is abuse
    handshake_timeout: float = 30.0  # seconds between whole messages before a REGISTER got a 200
    idle_timeout: float = 3660.0  # ... after: above the longest registration (3600 s), as Kamailio's 3605


def connection_cap(requested: int = 0) -> int:
    """The global TCP cap: what was asked (0 = 65,536), kept below the soft RLIMIT_NOFILE with room for
    the database, logs and worker threads, so accept() never fails for want of a descriptor."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    ceiling = max(16, soft - max(64, soft // 8))
    return min(requested or 65536, ceiling)


def valid_port(port: object) -> bool:
    return isinstance(port, int) and 0 < port <= 65535


class Endpoint:
    """What both transports share: the handlers, open TCP connections, limits and a way to send."""

    def __init__(
        self,
        on_request: RequestHandler,
        on_response: ResponseHandler,
        clock: Callable[[], float],
        limits: TcpLimits | None = None,
    ) -> None:
        self.on_request = on_request
        self.on_response = on_response
        self.clock = clock
        self.limits = limits or TcpLimits()
        self.max_connections = connection_cap(self.limits.max_connections)
        self.udp: asyncio.DatagramTransport | None = None
        self.tcp: asyncio.Server | None = None
        self.host, self.port = "", 0
        self.local = ""
        self.connections: dict[int, TcpProtocol] = {}
        self.per_source: dict[str, int] = {}
        # Least recently active first: the sweep and the eviction read from the front.
        self.unproven: OrderedDict[int, TcpProtocol] = OrderedDict()
        self.proven: OrderedDict[int, TcpProtocol] = OrderedDict()
        self.errors = RateLimitedLog(log)
        self._ids = itertools.count(1)

    def new_conn_id(self) -> int:
        return next(self._ids)

    # -- sockets --

    async def open(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        await self.open_udp()
        loop = asyncio.get_running_loop()
        try:
            self.tcp = await loop.create_server(lambda: TcpProtocol(self), host, port, reuse_address=True)
        except OSError:
            self.close()
            raise

    async def open_udp(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: UdpProtocol(self), local_addr=(self.host, self.port))

    def udp_open(self) -> bool:
        return self.udp is not None and not self.udp.is_closing()

    def listening(self) -> list[str]:
        """What really listens now (the heartbeat reports this, not what was opened at start)."""
        out = ["udp"] if self.udp_open() else []
        if self.tcp is not None and self.tcp.is_serving():
            out.append("tcp")
        return out

    def close(self) -> None:
        if self.udp is not None:
            self.udp.close()
        if self.tcp is not None:
            self.tcp.close()
        for conn in list(self.connections.values()):
            conn.close()

    # -- sending --

    def send(self, dest: Source, data: bytes) -> bool:
        """To a binding's recorded source: the UDP socket, or the TCP connection it came on."""
        if dest.transport == "udp":
            return self.sendto(data, (dest.ip, dest.port))
        conn = self.connections.get(dest.conn_id or -1)
        return conn is not None and conn.write(data)

    def answer(self, req: SipRequest, source: Source, replies: list[SipResponse]) -> None:
        """Replies to a request: over UDP to its reply address, over TCP down its connection (a 200 to a
        REGISTER proves the connection); also for a REGISTER the registrar held and answers later."""
        if source.transport == "udp":
            if replies:
                dest = udp_reply_addr(req, source)
                for r in replies:
                    self.sendto(serialize(r), dest)
            return
        conn = self.connections.get(source.conn_id or -1)
        if conn is None:
            return  # closed or evicted meanwhile
        for r in replies:
            conn.write(serialize(r))
        self.active(conn, req.method == "REGISTER" and any(r.status == 200 for r in replies))

    def sendto(self, data: bytes, addr: tuple[str, int]) -> bool:
        if not self.udp_open() or not valid_port(addr[1]):
            return False
        udp = self.udp
        assert udp is not None  # udp_open() said so
        if udp.get_write_buffer_size() > MAX_UDP_BACKLOG:  # type: ignore[attr-defined]  # asyncio and uvloop have it; typeshed not
            self.errors.warning("udp-backlog", "SIP/UDP send queue full: reply to %s:%s dropped", *addr)
            return False
        try:
            udp.sendto(data, addr)
        except (OSError, ValueError, OverflowError) as exc:  # uvloop raises some of these itself
            self.errors.warning(f"send:{addr[0]}", "SIP/UDP reply to %s:%s not sent: %s", addr[0], addr[1], exc)
            return False
        return True

    # -- TCP admission and idle connections --

    def admit(self, conn: TcpProtocol) -> bool:
        ip = conn.peer[0]
        if self.per_source.get(ip, 0) >= self.limits.max_per_source:
            self.errors.warning(f"cap:{ip}", "SIP/TCP from %s refused: %d connections from it", ip,
                                self.limits.max_per_source)  # fmt: skip
            return False
        if len(self.connections) >= self.max_connections:
            if not self.unproven:
                n = len(self.connections)
                self.errors.warning("cap:all", "SIP/TCP from %s refused: %d connections open", ip, n)
                return False
            _, oldest = self.unproven.popitem(last=False)
            self.errors.warning("evict", "SIP/TCP %d connections open: closed the least active unauthenticated one "
                                "(from %s)", len(self.connections), oldest.peer[0])  # fmt: skip
            oldest.close()
        self.connections[conn.conn_id] = conn
        self.per_source[ip] = self.per_source.get(ip, 0) + 1
        self.unproven[conn.conn_id] = conn
        return True

    def forget(self, conn: TcpProtocol) -> None:
        if self.connections.pop(conn.conn_id, None) is None:
            return
        ip = conn.peer[0]
        left = self.per_source.get(ip, 1) - 1
        if left > 0:
            self.per_source[ip] = left
        else:
            self.per_source.pop(ip, None)
        self.unproven.pop(conn.conn_id, None)
        self.proven.pop(conn.conn_id, None)

    def active(self, conn: TcpProtocol, authenticated: bool) -> None:
        if conn.conn_id not in self.connections:
            return  # evicted or closed meanwhile
        conn.last_active = time.monotonic()
        if authenticated and conn.conn_id in self.unproven:
            del self.unproven[conn.conn_id]
        table = self.proven if authenticated or conn.conn_id in self.proven else self.unproven
        table[conn.conn_id] = conn
        table.move_to_end(conn.conn_id)

    def sweep(self, now: float | None = None) -> int:
        """Close connections idle past their timeout; returns how many."""
        now = time.monotonic() if now is None else now
        closed = 0
        for table, timeout in ((self.unproven, self.limits.handshake_timeout), (self.proven, self.limits.idle_timeout)):
            while table:
                conn = next(iter(table.values()))
                if now - conn.last_active < timeout:
                    break
                table.popitem(last=False)
                conn.close()
                closed += 1
        return closed


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # a datagram endpoint's transport
        self.endpoint.udp = self.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        host, port = transport.get_extra_info("sockname")[:2]
        self.endpoint.local = f"udp:{host}:{port}"

    def connection_lost(self, exc: Exception | None) -> None:
        if self.endpoint.udp is self.transport:
            self.endpoint.udp = None
            if exc is not None:
                log.error("SIP/UDP socket closed: %s", exc)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self._handle(data, addr)
        except Exception:
            self.endpoint.errors.error(
                f"udp:{addr[0]}", "SIP/UDP message from %s:%s dropped: internal error", addr[0], addr[1], exc_info=True
            )

    def _handle(self, data: bytes, addr: tuple[str, int]) -> None:
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
        self.endpoint.answer(msg, source, self.endpoint.on_request(msg, source, self.endpoint.clock()))

    def error_received(self, exc: Exception) -> None:
        log.debug("udp error: %s", exc)  # ICMP unreachable for a gone phone: nothing to do


def udp_reply_addr(req: SipRequest, source: Source) -> tuple[str, int]:
    """RFC 3581: with rport, answer the source address; else the source IP and the Via port
    (a port that is not one, which the registrar already refuses, falls back to the source's)."""
    via = req.get("Via") or ""
    if ";rport" in via:
        return source.ip, source.port
    hostport = via.split(";", 1)[0].split()[-1] if via.split() else ""
    port = hostport.rsplit(":", 1)[1] if ":" in hostport and not hostport.endswith("]") else "5060"
    number = int(port) if port.isascii() and port.isdigit() and len(port) <= 5 else 5060
    return source.ip, number if valid_port(number) else source.port


class TcpProtocol(asyncio.Protocol):
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.parser = StreamParser()
        self.transport: asyncio.Transport | None = None
        self.conn_id = endpoint.new_conn_id()
        self.peer: tuple[str, int] = ("", 0)
        self.local = ""
        self.last_active = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream server's transport
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1]) if peer else ("?", 0)
        host, port = transport.get_extra_info("sockname")[:2]
        self.local = f"tcp:{host}:{port}"
        if not self.endpoint.admit(self):
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.endpoint.forget(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # no lingering: the descriptor is what we are short of

    def write(self, data: bytes) -> bool:
        """Queue bytes for the peer; a peer that stopped reading our replies is disconnected."""
        if self.transport is None or self.transport.is_closing():
            return False
        if self.transport.get_write_buffer_size() > MAX_TCP_BACKLOG:
            self.endpoint.errors.warning(f"backlog:{self.peer[0]}", "SIP/TCP from %s:%s closed: it does not read "
                                         "its replies", self.peer[0], self.peer[1])  # fmt: skip
            self.close()
            return False
        self.transport.write(data)
        return True

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        try:
            # Fed in slices the parser's buffer limit allows: one read may carry many pipelined messages.
            for at in range(0, len(data), MAX_MESSAGE):
                self.parser.receive_data(data[at : at + MAX_MESSAGE])
                while self.transport is not None and not self.transport.is_closing():
                    event = self.parser.next_event()
                    if event is NEED_DATA:
                        break
                    self._handle(event)
        except SipParseError:
            self.close()  # framing is lost on a stream: drop the connection
        except Exception:
            self.endpoint.errors.error(f"tcp:{self.peer[0]}", "SIP/TCP connection from %s:%s closed: internal error",
                                       self.peer[0], self.peer[1], exc_info=True)  # fmt: skip
            self.close()

    def _handle(self, event: object) -> None:
        assert self.transport is not None
        if event is KEEPALIVE:
            self.write(b"\r\n")  # RFC 5626 pong
            self.endpoint.active(self, False)
            return
        source = Source(self.peer[0], self.peer[1], "tcp", self.conn_id, self.local)
        try:
            if isinstance(event, SipResponse):
                self.endpoint.on_response(event, source)
                self.endpoint.active(self, False)
            elif isinstance(event, SipRequest):
                self.endpoint.answer(event, source, self.endpoint.on_request(event, source, self.endpoint.clock()))
        except Exception:  # this message is dropped; the stream's framing is intact, so carry on
            self.endpoint.errors.error(f"tcp:{self.peer[0]}", "SIP/TCP message from %s:%s dropped: internal error",
                                       self.peer[0], self.peer[1], exc_info=True)  # fmt: skip


def wall_clock() -> float:
    return time.time()
