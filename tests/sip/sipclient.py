"""A small real-socket SIP client for live tests: digest REGISTER over UDP or TCP from a chosen source
address (on Linux any 127.0.0.0/8 address can be bound without privileges, so a test can speak as
several hosts: a victim, an attacker, a phone)."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

from core.sip.digest import authorization, parse_auth_params
from core.sip.message import NEED_DATA, SipResponse, StreamParser, parse

DOMAIN = "pbx.test"


def register_request(
    user: str,
    local: tuple[str, int],
    transport: str = "UDP",
    call_id: str = "",
    cseq: int = 1,
    auth: str | None = None,
    ua: str = "LiveTest/1.0",
    contact: str | None = None,
    expires: int = 600,
    via_port: int | None = None,
    rport: bool = True,
) -> bytes:
    ip, port = local
    via = f"SIP/2.0/{transport} {ip}:{via_port or port};branch=z9hG4bK{secrets.token_hex(6)}{';rport' if rport else ''}"
    lines = [
        f"REGISTER sip:{DOMAIN} SIP/2.0",
        f"Via: {via}",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{DOMAIN}>;tag={secrets.token_hex(4)}",
        f"To: <sip:{user}@{DOMAIN}>",
        f"Call-ID: {call_id or secrets.token_hex(8)}",
        f"CSeq: {cseq} REGISTER",
        f"Contact: {contact or f'<sip:{user}@{ip}:{port};transport={transport.lower()}>'}",
        f"Expires: {expires}",
        f"User-Agent: {ua}",
    ]
    if auth:
        lines.append(f"Authorization: {auth}")
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def answer(challenge: SipResponse, user: str, password: str) -> str:
    params = parse_auth_params(challenge.get("WWW-Authenticate") or "")
    assert params is not None, challenge
    return authorization(params, user, password, "REGISTER", f"sip:{DOMAIN}", secrets.token_hex(4))


class UdpPhone:
    """One UDP socket bound to (ip, port): sends requests and reads the replies addressed to it."""

    def __init__(self, server_port: int, bind_ip: str = "127.0.0.1", timeout: float = 3.0) -> None:
        self.server = ("127.0.0.1", server_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind_ip, 0))
        self.sock.settimeout(timeout)
        self.local: tuple[str, int] = self.sock.getsockname()[:2]

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def recv(self) -> SipResponse | None:
        try:
            msg = parse(self.sock.recv(65535))
        except TimeoutError:
            return None
        assert isinstance(msg, SipResponse)
        return msg

    def close(self) -> None:
        self.sock.close()


def register_udp(server_port: int, user: str, password: str, bind_ip: str = "127.0.0.1", **kw: object) -> SipResponse:
    """REGISTER, answer the 401, return the final reply (a 408-like stand-in when nothing came back)."""
    phone = UdpPhone(server_port, bind_ip)
    try:
        call_id = secrets.token_hex(8)
        phone.send(register_request(user, phone.local, call_id=call_id, **kw))  # type: ignore[arg-type]
        first = phone.recv()
        if first is None or first.status != 401:
            return first or SipResponse(408, "no answer over UDP", [])
        auth = answer(first, user, password)
        phone.send(register_request(user, phone.local, call_id=call_id, cseq=2, auth=auth, **kw))  # type: ignore[arg-type]
        return phone.recv() or SipResponse(408, "no answer over UDP", [])
    finally:
        phone.close()


class TcpPhone:
    def __init__(self, server_port: int, bind_ip: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server_port), timeout=timeout, source_address=(bind_ip, 0))
        self.local: tuple[str, int] = self.sock.getsockname()[:2]
        self.parser = StreamParser()

    def exchange(self, data: bytes) -> SipResponse | None:
        self.sock.sendall(data)
        while True:
            event = self.parser.next_event()
            if isinstance(event, SipResponse):
                return event
            if event is not NEED_DATA:
                continue
            try:
                chunk = self.sock.recv(65535)
            except (TimeoutError, ConnectionResetError):
                return None
            if not chunk:
                return None
            self.parser.receive_data(chunk)

    def close(self) -> None:
        self.sock.close()


def register_tcp(
    server_port: int, user: str, password: str, bind_ip: str = "127.0.0.1", contact: str | None = None
) -> SipResponse:
    try:
        phone = TcpPhone(server_port, bind_ip)
    except OSError as exc:
        return SipResponse(503, f"TCP connect failed: {exc}", [])
    try:
        call_id = secrets.token_hex(8)
        first = phone.exchange(register_request(user, phone.local, "TCP", call_id, contact=contact))
        if first is None or first.status != 401:
            return first or SipResponse(408, "no answer over TCP", [])
        auth = answer(first, user, password)
        final = phone.exchange(register_request(user, phone.local, "TCP", call_id, 2, auth, contact=contact))
        return final or SipResponse(408, "no answer over TCP", [])
    except OSError as exc:
        return SipResponse(503, f"TCP failed: {exc}", [])
    finally:
        phone.close()


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))
