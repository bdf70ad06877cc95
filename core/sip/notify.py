"""NOTIFY client transaction (reboot/resync "check-sync" and friends), sans-I/O.

`start` gives the bytes to send; feed responses to `on_response` and ticks to `on_timer`; both may
return bytes to send (an authenticated retry or a UDP retransmission). `outcome` is set once done:
("ok" | "failed" | "timeout", text). A 401/407 from the phone is answered once with the line's
credentials (RFC 3261 §22.2); a second challenge means they were refused.
"""

from __future__ import annotations

import secrets

from core.settings import Settings, override
from core.sip.digest import authorization, parse_auth_params
from core.sip.message import SipRequest, SipResponse, serialize
from core.sip.registrar import Binding

T1 = 0.5  # RFC 3261 timer T1; UDP retransmits after T1, 2T1, 4T1... (timer E), each gap capped at T2
T2 = 4.0
NOTIFY_TIMEOUT = 8.0  # seconds a phone has to answer a reboot/resync NOTIFY, whichever switch sends it


def notify_timeout(settings: Settings) -> float:
    """VOIPADMIN_SIP_NOTIFY_TIMEOUT, else NOTIFY_TIMEOUT (core.sip.service and core.switch.commands)."""
    return override(settings.sip_notify_timeout, NOTIFY_TIMEOUT)


class NotifyTransaction:
    def __init__(
        self,
        binding: Binding,
        event: str,
        username: str,
        password: str,
        via_host: str,
        via_port: int,
        timeout: float = NOTIFY_TIMEOUT,
    ) -> None:
        self.binding = binding
        self.event = event
        self._username, self._password = username, password
        self.via_host, self.via_port = via_host, via_port
        self.timeout = timeout
        self.call_id = f"{secrets.token_hex(10)}@voipadmin"
        self._tag = secrets.token_hex(4)
        self._cseq = 1
        self._auth_header: tuple[str, str] | None = None
        self._wire = b""
        self._deadline = 0.0
        self._next = 0.0
        self._interval = T1
        self.outcome: tuple[str, str] | None = None

    @property
    def udp(self) -> bool:
        return self.binding.source.transport == "udp"

    @property
    def next_timer(self) -> float:
        return min(self._next, self._deadline) if self.udp else self._deadline

    def _request(self) -> SipRequest:
        b = self.binding
        proto = "UDP" if self.udp else "TCP"
        headers = [
            ("Via", f"SIP/2.0/{proto} {self.via_host}:{self.via_port};branch=z9hG4bK{secrets.token_hex(8)};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{b.aor}>;tag={self._tag}"),
            ("To", f"<sip:{b.aor}>"),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self._cseq} NOTIFY"),
            ("Contact", f"<sip:{self.via_host}:{self.via_port}>"),
            ("Event", self.event),
            ("Subscription-State", "terminated"),
        ]
        if self._auth_header:
            headers.append(self._auth_header)
        return SipRequest("NOTIFY", b.contact, headers)

    def start(self, now: float) -> bytes:
        self._wire = serialize(self._request())
        self._deadline = now + self.timeout
        self._interval = T1
        self._next = now + T1
        return self._wire

    def on_response(self, resp: SipResponse, now: float) -> bytes | None:
        if self.outcome is not None or resp.cseq != (self._cseq, "NOTIFY"):
            return None  # late or for an earlier attempt
        if resp.status < 200:
            # Provisional (RFC 3261 §17.1.2.2, "Proceeding"): the phone has it, but a UDP request is still
            # sent again, every T2 from the next firing of the timer, until a final answer or the deadline.
            self._interval = T2
            return None
        peer = f"{self.binding.source.ip}:{self.binding.source.port}/{self.binding.source.transport}"
        if resp.status in (401, 407) and self._auth_header is None:
            header = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
            challenge = parse_auth_params(resp.get(header) or "")
            if challenge is None:
                self.outcome = ("failed", f"{resp.status} {resp.reason} from {peer} (no digest challenge)")
                return None
            name = "Authorization" if resp.status == 401 else "Proxy-Authorization"
            value = authorization(
                challenge, self._username, self._password, "NOTIFY", self.binding.contact, secrets.token_hex(8)
            )
            self._auth_header = (name, value)
            self._cseq += 1
            return self.start(now)
        if 200 <= resp.status < 300:
            self.outcome = ("ok", f"{resp.status} {resp.reason} from {peer}")
        else:
            self.outcome = ("failed", f"{resp.status} {resp.reason} from {peer}")
        return None

    def on_timer(self, now: float) -> bytes | None:
        if self.outcome is not None:
            return None
        if now >= self._deadline:
            self.outcome = ("timeout", f"no answer within {self.timeout:g} s")
            return None
        if self.udp and now >= self._next:
            self._interval = min(self._interval * 2, T2)
            self._next = now + self._interval  # from when it fired: a late tick delays, never bunches, copies
            return self._wire
        return None
