"""An in-memory user agent for registrar tests (the h11 ConnectionPair idea): no sockets."""

from __future__ import annotations

import itertools

from core.sip.digest import authorization, parse_auth_params
from core.sip.message import SipResponse, parse, serialize
from core.sip.registrar import Registrar, Source


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
        # Round-trip replies through bytes, as the transport would.
        return [parse(serialize(r)) for r in self.registrar.handle(msg, self.source, now)]  # type: ignore[misc]

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
