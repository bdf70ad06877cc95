"""The registrar as a pure state machine (RFC 3261 §10.3): `handle(msg, source, now) -> replies`.

No I/O and no clock reads: the transport passes the time in and sends what comes back. Binding
changes collect in `changes` (latest state per (aor, contact) wins) for the write-behind, and the
registration history (issue 12: starts, refreshes from another address or User-Agent, unregisters,
expiries, failed digests of a line's user name) in `history`, drained by the service's flush into
`registration_event` rows. A refresh that changes nothing records nothing: 10,000 phones refresh.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate

from core import event_kinds
from core.sip.credentials import Credential, CredentialTable
from core.sip.digest import NonceFactory, make_challenge, parse_auth_params, verify
from core.sip.grammar import format_params, parse_name_addr, parse_uri, parse_via
from core.sip.message import SipRequest, SipResponse, make_response
from core.sip.policy import Policy, scanner_tell

log = logging.getLogger(__name__)

ALLOW = "REGISTER, OPTIONS, NOTIFY"
SUPPORTED: frozenset[str] = frozenset()  # no extensions: any Require gets 420
HISTORY_CONTACT_MAX = 512  # registration_event.contact
# Stand-in HA1s: an unknown user's digest is checked against one, so it costs what a known user's does.
_DUMMY_HA1 = {"MD5": os.urandom(16).hex(), "SHA-256": os.urandom(32).hex()}


@dataclass(frozen=True, slots=True)
class Source:
    ip: str
    port: int
    transport: str = "udp"  # udp | tcp
    conn_id: int | None = None  # the TCP connection to reuse for replies and NOTIFY
    local: str = ""  # local socket "udp:127.0.0.1:5060"


@dataclass(frozen=True, slots=True)
class RegistrarConfig:
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    max_contacts: int = 16  # per AOR, against memory abuse
    max_history: int = 100_000  # pending history events; past it the oldest go (a flood must not grow memory)


@dataclass(frozen=True, slots=True)
class Binding:
    aor: str
    contact: str  # the Contact URI
    line_id: int
    source: Source
    user_agent: str
    call_id: str
    cseq: int
    expires_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One row of a line's registration history (core.models.RegistrationEvent), queued for the flush."""

    at: float
    line_id: int
    event: str  # core.event_kinds.REGISTRATION_EVENTS
    contact: str = ""
    source_ip: str = ""
    source_port: int | None = None
    transport: str = ""
    user_agent: str = ""

    @classmethod
    def of(cls, event: str, at: float, line_id: int, contact: str, source: Source, ua: str) -> HistoryEvent:
        return cls(at, line_id, event, contact[:HISTORY_CONTACT_MAX], source.ip, source.port, source.transport, ua)


@dataclass(frozen=True, slots=True)
class Deferred:
    """A REGISTER held while the service reads its user, unknown to the table, from the database."""

    user: str
    msg: SipRequest
    source: Source
    via: list[str]


class Lookups:
    """Which unknown users may be read from the database before their REGISTER is refused: a global token
    bucket (made-up names cannot hammer the database) and each name at most once per `window` (a name not
    found is not asked again at once). Only a digest over a nonce we sent to that source gets here, so an
    off-path spoofer cannot spend the budget."""

    def __init__(self, rate: float = 5.0, burst: float = 20.0, window: float = 5.0) -> None:
        self.rate, self.burst, self.window = rate, burst, window
        self.tokens, self.at = burst, 0.0
        self.asked: dict[str, float] = {}  # name -> when; bounded by the bucket (pruned past `window`)

    def allow(self, user: str, now: float) -> bool:
        if now - self.asked.get(user, -self.window) < self.window:
            return False
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        if len(self.asked) > 2 * (self.burst + self.rate * self.window):
            self.asked = {u: t for u, t in self.asked.items() if now - t < self.window}
        self.asked[user] = now
        return True


class Registrar:
    def __init__(
        self,
        credentials: CredentialTable,
        nonces: NonceFactory,
        policy: Policy | None = None,
        config: RegistrarConfig | None = None,
    ) -> None:
        self.credentials = credentials
        self.nonces = nonces
        self.policy = policy or Policy()
        self.config = config or RegistrarConfig()
        self.bindings: dict[str, dict[str, Binding]] = {}  # aor -> contact -> binding
        self.changes: dict[tuple[str, str], Binding | None] = {}  # write-behind queue; None = delete
        self.misses: set[str] = set()  # usernames not in the table: the store refreshes on miss
        self.lookups = Lookups()
        self.deferred: list[Deferred] = []  # the service reads each one's user, then calls `resume`
        self.history: deque[HistoryEvent] = deque(maxlen=self.config.max_history)  # for the flush
        self.history_dropped = 0  # events the cap dropped, until the service has logged them

    # -- entry point --

    def handle(self, msg: SipRequest, source: Source, now: float) -> list[SipResponse]:
        if not self.policy.admit(source.ip, now):
            return []  # banned or over its rate: no answer at all
        if msg.method == "ACK":
            return []
        via = self._via(msg, source)
        if via is None:
            return []  # no usable Via: nowhere to answer
        if msg.method not in ("REGISTER", "OPTIONS"):
            return [make_response(msg, 405, [("Allow", ALLOW)], to_tag=_tag(msg), via=via)]
        unsupported = [o for r in msg.get_all("Require") for o in r.split(",") if o.strip() not in SUPPORTED]
        if unsupported:
            extra = [("Unsupported", ", ".join(o.strip() for o in unsupported))]
            return [make_response(msg, 420, extra, to_tag=_tag(msg), via=via)]
        if msg.method == "OPTIONS":
            return [make_response(msg, 200, [("Allow", ALLOW), ("Accept", "application/sdp")], _tag(msg), via)]
        reply = self._register(msg, source, now, via)
        return [reply] if reply is not None else []

    # -- REGISTER --

    def _register(
        self, msg: SipRequest, source: Source, now: float, via: list[str], may_defer: bool = True
    ) -> SipResponse | None:
        tag = _tag(msg)
        to = parse_name_addr(msg.get("To") or "")
        to_uri = parse_uri(to.uri) if to else None
        if to_uri is None or not to_uri.user:
            return make_response(msg, 400, to_tag=tag, via=via)
        user, domain = to_uri.user, to_uri.host
        cred = self.credentials.lookup(user, domain)
        auth = msg.get("Authorization")
        params = parse_auth_params(auth) if auth else None
        unknown = cred is None and user not in self.credentials.by_user
        if unknown and may_defer and self._defer(msg, source, now, via, user, params):
            return None  # answered by `resume`, once the service has read this user from the database
        ua = (msg.get("User-Agent") or "")[:255]
        why = scanner_tell(msg)
        if why:
            self.policy.scanner_seen(source.ip, source.port, ua, why, now)
        if unknown:
            self.misses.add(user[:64])
        if params is None or not params.get("response") or not params.get("nonce"):
            self.policy.challenged(source.ip, source.port, user, ua, now)
            return self._challenge(msg, user, domain, now, tag, via, source.ip)
        nonce_state = self.nonces.check(params["nonce"], now, source.ip)
        if nonce_state == "invalid":  # not ours, or sent to another address: proves nothing, counts for nothing
            return self._challenge(msg, user, domain, now, tag, via, source.ip)
        algorithm = params.get("algorithm", "MD5").upper()
        ha1 = cred.ha1_for(algorithm, domain) if cred else None
        ok = verify(params, ha1 or _DUMMY_HA1.get(algorithm, _DUMMY_HA1["MD5"]), "REGISTER")
        ok = ok and cred is not None and ha1 is not None and params.get("username") == user
        if not ok:
            line = cred or self.credentials.by_user.get(user)  # a wrong domain is this line's failure too
            if line is not None:
                self._record(HistoryEvent.of(event_kinds.REG_AUTH_FAILED, now, line.line_id, "", source, ua))
            banned = self.policy.auth_failed(
                source.ip, source.port, user[:100], ua, cred.line_id if cred else None, now, "bad digest response",
                scanner=why is not None,
            )  # fmt: skip
            return None if banned else make_response(msg, 403, to_tag=tag, via=via)
        if nonce_state == "stale":
            return self._challenge(msg, user, domain, now, tag, via, source.ip, stale=True)
        if params.get("uri") != msg.uri and log.isEnabledFor(logging.DEBUG):
            log.debug("digest uri %r differs from Request-URI %r (user %s)", params.get("uri"), msg.uri, user)
        assert cred is not None
        return self._update(msg, cred, source, ua, now, tag, via)

    def _defer(
        self, msg: SipRequest, source: Source, now: float, via: list[str], user: str, params: dict[str, str] | None
    ) -> bool:
        """A digest for a user the table does not have may be for a line added since the last reload: hold it
        (the phone's first REGISTER would otherwise be refused until the reload). Only a digest over a nonce
        sent to this source, within the lookup budget."""
        if params is None or not params.get("response") or not params.get("nonce") or len(user) > 64:
            return False
        if self.nonces.check(params["nonce"], now, source.ip) == "invalid":
            return False
        if not self.lookups.allow(user, now):
            return False
        self.deferred.append(Deferred(user, msg, source, via))
        return True

    def resume(self, held: Deferred, now: float) -> list[SipResponse]:
        """Answer a deferred REGISTER with the table as it now is (its user added if found): never held again."""
        reply = self._register(held.msg, held.source, now, held.via, may_defer=False)
        return [reply] if reply is not None else []

    def drain_deferred(self) -> list[Deferred]:
        held, self.deferred = self.deferred, []
        return held

    def _challenge(
        self,
        msg: SipRequest,
        user: str,
        domain: str,
        now: float,
        tag: str,
        via: list[str],
        source_ip: str,
        stale: bool = False,
    ) -> SipResponse:
        nonce = self.nonces.make(now, source_ip)
        extra = [
            ("WWW-Authenticate", make_challenge(domain, nonce, alg, stale))
            for alg in self.credentials.algorithms_for(user, domain)
        ]
        return make_response(msg, 401, extra, to_tag=tag, via=via)

    def _update(
        self, msg: SipRequest, cred: Credential, source: Source, ua: str, now: float, tag: str, via: list[str]
    ) -> SipResponse:
        aor = cred.aor
        current = self.bindings.get(aor, {})
        call_id, (cseq, _) = msg.call_id, msg.cseq
        header_expires = msg.get("Expires")
        contacts = msg.get_all("Contact")
        new: dict[str, Binding | None] = {}
        if contacts == ["*"]:
            if (header_expires or "").strip() != "0":
                return make_response(msg, 400, to_tag=tag, via=via)
            new = {c: None for c in current}
        else:
            for raw in contacts:
                na = parse_name_addr(raw)
                if na is None or na.uri == "*" or parse_uri(na.uri) is None:
                    return make_response(msg, 400, to_tag=tag, via=via)
                expires = _expires(na.params.get("expires"), header_expires, self.config.default_expires)
                if expires is None:
                    return make_response(msg, 400, to_tag=tag, via=via)
                if 0 < expires < self.config.min_expires:
                    extra = [("Min-Expires", str(self.config.min_expires))]
                    return make_response(msg, 423, extra, to_tag=tag, via=via)
                expires = min(expires, self.config.max_expires)
                new[na.uri] = (
                    Binding(aor, na.uri, cred.line_id, source, ua, call_id, cseq, now + expires, now)
                    if expires
                    else None
                )
        for contact in new:  # §10.3 step 7: same Call-ID must not go backwards (equal = retransmission)
            old = current.get(contact)
            if old is not None and old.call_id == call_id and cseq < old.cseq:
                resp = make_response(msg, 400, to_tag=tag, via=via)
                resp.reason = "CSeq Out Of Order"
                return resp
        live = {c: b for c, b in current.items() if b.expires_at > now}
        for contact, binding in new.items():
            if binding is None:
                live.pop(contact, None)
            else:
                live[contact] = binding
        if len(live) > self.config.max_contacts:
            return make_response(msg, 403, to_tag=tag, via=via)  # refused: nothing of it is queued or kept
        for contact, binding in new.items():  # atomic: every check passed, queue all
            if binding is not None or contact in current:
                self.changes[(aor, contact)] = binding
        self._record_update(current, new, source, ua, now)
        if contacts == ["*"]:
            self.changes[(aor, "*")] = None  # and every row of the AOR in the DB, whatever memory holds
        if live:
            self.bindings[aor] = live
        else:
            self.bindings.pop(aor, None)
        extra = [("Contact", f"<{b.contact}>;expires={max(0, int(b.expires_at - now))}") for b in live.values()]
        extra.append(("Date", formatdate(now, usegmt=True)))
        return make_response(msg, 200, extra, to_tag=tag, via=via)

    # -- registration history --

    def _record_update(
        self, current: dict[str, Binding], new: dict[str, Binding | None], source: Source, ua: str, now: float
    ) -> None:
        """The history of one accepted REGISTER. Bindings of the AOR found expired are dropped from memory
        here (not only by `purge`), so each gets its REG_EXPIRED now, before what replaces it."""
        for b in current.values():
            if b.expires_at <= now:
                self._expired(b)
        for contact, binding in new.items():
            old = current.get(contact)
            if old is not None and old.expires_at <= now:
                old = None  # expired (recorded above): what comes now starts again
            if binding is None:
                if old is not None:  # expires=0 or `Contact: *` of a bound contact
                    self._record(HistoryEvent.of(event_kinds.REG_UNREGISTER, now, old.line_id, contact, source, ua))
            elif old is None:
                self._record(HistoryEvent.of(event_kinds.REG_START, now, binding.line_id, contact, source, ua))
            elif (old.source.ip, old.source.port, old.source.transport, old.user_agent) != (
                source.ip, source.port, source.transport, ua
            ):  # fmt: skip
                self._record(HistoryEvent.of(event_kinds.REG_CHANGE, now, binding.line_id, contact, source, ua))

    def _expired(self, b: Binding) -> None:
        # At the moment it expired, not when a purge noticed: the timeline shows when the phone was lost.
        event = HistoryEvent.of(event_kinds.REG_EXPIRED, b.expires_at, b.line_id, b.contact, b.source, b.user_agent)
        self._record(event)

    def _record(self, event: HistoryEvent) -> None:
        if len(self.history) == self.history.maxlen:
            self.history_dropped += 1  # the append below drops the oldest
        self.history.append(event)

    def drain_history(self) -> list[HistoryEvent]:
        """The pending history, oldest first (`history_dropped` says how many the cap dropped)."""
        events, self.history = list(self.history), deque(maxlen=self.config.max_history)
        return events

    def requeue_history(self, events: list[HistoryEvent]) -> None:
        """A flush that failed gives its events back, ahead of newer ones, within the cap."""
        merged = events + list(self.history)
        self.history_dropped += max(0, len(merged) - self.config.max_history)
        self.history = deque(merged, maxlen=self.config.max_history)  # keeps the newest

    # -- helpers for the service --

    def _via(self, msg: SipRequest, source: Source) -> list[str] | None:
        """Top Via with received/rport (RFC 3261 §18.2.1, RFC 3581 §4); the rest copied."""
        vias = msg.get_all("Via")
        top = parse_via(vias[0]) if vias else None
        if top is None:
            return None
        params = dict(top.params)
        if "rport" in params:
            params["rport"] = str(source.port)
            params["received"] = source.ip
        elif top.host != source.ip:
            params["received"] = source.ip
        sent_by = f"{top.host}:{top.port}" if top.port else top.host
        return [f"SIP/2.0/{top.transport} {sent_by}{format_params(params)}", *vias[1:]]

    def bindings_for_line(self, line_id: int, now: float) -> list[Binding]:
        cred = self.credentials.by_line(line_id)
        if cred is None:
            return []
        return [b for b in self.bindings.get(cred.aor, {}).values() if b.expires_at > now]

    def load(self, bindings: list[Binding]) -> None:
        """Bindings read back from the DB at start, so a restart keeps phones reachable."""
        for b in bindings:
            self.bindings.setdefault(b.aor, {})[b.contact] = b

    def purge(self, now: float) -> int:
        """Drop expired bindings, each with its REG_EXPIRED. Memory owns the expiry history of every binding
        it held (those read back at start included); core.sip.store.purge_expired writes it only for rows
        that had expired before the start, which memory never held."""
        removed = 0
        for aor in list(self.bindings):
            live = {c: b for c, b in self.bindings[aor].items() if b.expires_at > now}
            removed += len(self.bindings[aor]) - len(live)
            for b in self.bindings[aor].values():
                if b.expires_at <= now:
                    self._expired(b)
            if live:
                self.bindings[aor] = live
            else:
                del self.bindings[aor]
        return removed

    def drain_changes(self) -> dict[tuple[str, str], Binding | None]:
        changes, self.changes = self.changes, {}
        return changes


def _tag(msg: SipRequest) -> str:
    # Stable per dialog-less request so a retransmission gets the same To-tag.
    return format(hash((msg.call_id, msg.get("From"))) & 0xFFFFFFFF, "08x")


def _expires(param: str | None, header: str | None, default: int) -> int | None:
    raw = param if param is not None else header
    if raw is None:
        return default
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit():
        return None
    return min(int(raw), 2**31 - 1) if len(raw) <= 10 else 2**31 - 1  # int() refuses > 4,300 digits
