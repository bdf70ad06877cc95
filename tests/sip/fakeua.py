"""Fake phones for registrar tests: `FakeUA` in memory (the h11 ConnectionPair idea: no sockets), and
`NotifyPhone` over real sockets against the registrar subprocess, answering NOTIFYs as scripted."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.sip.digest import authorization, ha1, make_challenge, parse_auth_params, verify
from core.sip.message import SipRequest, SipResponse, StreamParser, make_response, parse, serialize
from core.sip.registrar import Registrar, Source
from tests.sip.sipclient import TcpPhone, UdpPhone, answer, register_request


class FakeUA:
    def __init__(
        self,
        registrar: Registrar,
        user: str,
        domain: str,
        password: str,
        ip: str = "127.0.0.1",
        port: int = 5090,
        ua: str = "FakePhone/1.0 00041345c9bf",
    ) -> None:
        self.registrar, self.user, self.domain, self.password = registrar, user, domain, password
        self.source = Source(ip, port, "udp")
        self.ua = ua
        self.call_id = f"call-{user}-{port}@fake"
        self.cseq = itertools.count(1)
        self.branch = itertools.count(1)

    def request(
        self,
        contact: str | None = None,
        expires: str | None = "3600",
        auth: str | None = None,
        extra: str = "",
        method: str = "REGISTER",
        cseq: int | None = None,
    ) -> bytes:
        contact = contact if contact is not None else f"<sip:{self.user}@{self.source.ip}:{self.source.port}>"
        lines = [
            f"{method} sip:{self.domain} SIP/2.0",
            f"Via: SIP/2.0/UDP 192.168.1.10:{self.source.port};branch=z9hG4bKfake{next(self.branch)};rport",
            f"From: <sip:{self.user}@{self.domain}>;tag=fromtag",
            f"To: <sip:{self.user}@{self.domain}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq if cseq is not None else next(self.cseq)} {method}",
            "Max-Forwards: 70",
            f"User-Agent: {self.ua}",
        ]
        if contact:
            lines.append(f"Contact: {contact}")
        if expires is not None:
            lines.append(f"Expires: {expires}")
        if auth:
            lines.append(f"Authorization: {auth}")
        if extra:
            lines.append(extra)
        return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()

    def send(self, data: bytes, now: float) -> list[SipResponse]:
        msg = parse(data)
        replies = self.registrar.handle(msg, self.source, now)
        for held in self.registrar.drain_deferred():  # as the service does when the database has no such line
            replies += self.registrar.resume(held, now)
        # Round-trip replies through bytes, as the transport would.
        return [parse(serialize(r)) for r in replies]  # type: ignore[misc]

    def register(self, now: float, password: str | None = None, **kw: str | None) -> SipResponse:
        """REGISTER, answer the 401 with our credentials, return the final reply."""
        first = self.send(self.request(**kw), now)
        assert first and first[0].status == 401, first
        challenge = parse_auth_params(first[0].get("WWW-Authenticate") or "")
        assert challenge is not None
        auth = authorization(challenge, self.user, password or self.password, "REGISTER", f"sip:{self.domain}", "abc")
        replies = self.send(self.request(auth=auth, **kw), now)
        assert replies, "no answer"
        return replies[0]


@dataclass
class Seen:
    at: float  # time.monotonic() when the NOTIFY arrived
    request: SipRequest


@dataclass
class PhoneScript:
    """How a `NotifyPhone` answers NOTIFYs: ignore the first `drop` copies (lost on the way, as far as the
    registrar can tell), challenge with `challenge` (401 or 407) and check the retry's digest against the
    line's password (403 if wrong); `challenge_always` challenges every try (credentials refused)."""

    drop: int = 0
    challenge: int | None = None
    challenge_always: bool = False
    realm: str = "phone.test"


class NotifyPhone:
    """A phone over a real socket: REGISTERs with digest to the registrar subprocess (UDP, or TCP on one
    connection it keeps), then answers the NOTIFYs that come back to that address as its script says,
    noting when each arrived. Answers on a thread, so a test waits on the CLI while the phone works."""

    def __init__(self, server_port: int, user: str, password: str, transport: str, script: PhoneScript) -> None:
        self.user, self.password, self.transport, self.script = user, password, transport, script
        self.seen: list[Seen] = []
        self.answers: list[int] = []  # the status of each response sent, in order
        self.auth_values: list[str] = []  # the (Proxy-)Authorization values the registrar sent
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if transport == "udp":
            self._udp: UdpPhone | None = UdpPhone(server_port)
            self._tcp: TcpPhone | None = None
            self.local = self._udp.local
        else:
            self._udp, self._tcp = None, TcpPhone(server_port)
            self.local = self._tcp.local
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def register(self) -> SipResponse:
        """REGISTER, answer the 401, and start answering NOTIFYs: the final reply to the REGISTER."""
        proto = self.transport.upper()
        call_id = secrets.token_hex(8)
        first = self._exchange(register_request(self.user, self.local, proto, call_id))
        assert first is not None and first.status == 401, first
        auth = answer(first, self.user, self.password)
        final = self._exchange(register_request(self.user, self.local, proto, call_id, 2, auth))
        assert final is not None, "no answer to the REGISTER"
        self._thread.start()
        return final

    def _exchange(self, data: bytes) -> SipResponse | None:
        if self._udp is not None:
            self._udp.send(data)
            return self._udp.recv()
        assert self._tcp is not None
        return self._tcp.exchange(data)

    def notify_times(self) -> list[float]:
        with self._lock:
            return [s.at for s in self.seen]

    def _serve(self) -> None:
        parser = StreamParser()
        while not self._stop.is_set():
            for msg, reply in self._receive(parser):
                if isinstance(msg, SipRequest) and msg.method == "NOTIFY":
                    response = self._answer(msg)
                    if response is not None:
                        reply(serialize(response))

    def _receive(self, parser: StreamParser) -> list[tuple[SipRequest | SipResponse, Callable[[bytes], None]]]:
        """What arrived within 0.2 s (so `close` is noticed), each with how to reply to it."""
        if self._udp is not None:
            sock = self._udp.sock
            sock.settimeout(0.2)
            try:
                data, addr = sock.recvfrom(65535)
            except (TimeoutError, OSError):
                return []
            at = time.monotonic()
            msg = parse(data)
            self._arrived(msg, at)
            return [(msg, lambda b: sock.sendto(b, addr))]
        assert self._tcp is not None
        conn = self._tcp.sock
        conn.settimeout(0.2)
        try:
            chunk = conn.recv(65535)
        except (TimeoutError, OSError):
            return []
        at = time.monotonic()
        if not chunk:
            self._stop.set()
            return []
        parser.receive_data(chunk)
        out: list[tuple[SipRequest | SipResponse, Callable[[bytes], None]]] = []
        while isinstance(event := parser.next_event(), SipRequest | SipResponse):
            self._arrived(event, at)
            out.append((event, conn.sendall))
        return out

    def _arrived(self, msg: SipRequest | SipResponse, at: float) -> None:
        if isinstance(msg, SipRequest) and msg.method == "NOTIFY":
            with self._lock:
                self.seen.append(Seen(at, msg))

    def _answer(self, req: SipRequest) -> SipResponse | None:
        s = self.script
        with self._lock:
            n = len(self.seen)
        if n <= s.drop:
            return None
        status = 200
        if s.challenge is not None:
            auth_name = "Authorization" if s.challenge == 401 else "Proxy-Authorization"
            given = req.get(auth_name)
            if given is not None:
                self.auth_values.append(given)
            params = parse_auth_params(given or "")
            if given is None or s.challenge_always:
                status = s.challenge
            elif params is None or not verify(params, ha1("MD5", self.user, s.realm, self.password), "NOTIFY"):
                status = 403
        extra: list[tuple[str, str]] = []
        if status in (401, 407):
            header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
            extra.append((header, make_challenge(s.realm, secrets.token_hex(8))))
        self.answers.append(status)
        return make_response(req, status, extra, to_tag="phone")

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for phone in (self._udp, self._tcp):
            if phone is not None:
                phone.close()
