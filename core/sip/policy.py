"""Who gets an answer: per-source rate limit, bans, failed-auth counting, scanner tells.

Pure and clock-free like the registrar (time is passed in). Decisions land in `events` and
`new_bans`, which the service writes behind to SecurityEvent and Ban rows. The Ban table is the truth
for bans: each reload replaces the ban list with its rows (a ban lifted there ends here), keeping only
the bans decided here and not yet written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core import event_kinds
from core.sip.grammar import parse_via
from core.sip.message import SipRequest

# Scanner User-Agents: the defaults of sipvicious (friendly-scanner), sipcli, sipsak, smap and the other
# tools honeypot lists name (lowercase, matched as substrings), and short names matched exactly because
# as substrings they would over-match. svcrack's first From tag is always 3206210844, and sipvicious
# sends `branch=z9hG4bK-<decimal>` (its libs/svhelper.py makeRequest).
SCANNER_UA_PARTS = (
    "friendly-scanner",
    "friendly-request",
    "sipcli",
    "sipvicious",
    "sip-scan",
    "sipscan",
    "sipsak",
    "siparmyknife",
    "smap",
    "sivus",
    "iwar",
    "pplsip",
    "sundayaddr",
    "vaxsipuseragent",
    "vaxipuseragent",
    "portsip voip sdk",
    "ozeki voip sip sdk",
    "asterix pbx",
)
SCANNER_UA_EXACT = frozenset({"sipv", "gulp", "test agent", "voip sip", "voip", "z 3", "x", "sip call"})
SVCRACK_FIRST_TAG = "3206210844"
_SV_BRANCH = re.compile(r"z9hG4bK-\d+")  # sipvicious's branch; the Via itself is read by grammar.parse_via


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    rate: float = 100.0  # requests per second per source; 0 = no limit (benchmarks)
    burst: float = 400.0
    fail_threshold: int = 5  # failed digests per source within fail_window before a ban
    scanner_fail_threshold: int = 2  # ... when the source also showed a scanner tell
    fail_window: float = 600.0
    ban_seconds: float = 3600.0
    max_sources: int = 100_000  # tracked sources before the oldest state is dropped


@dataclass(slots=True)
class SecEvent:
    kind: str  # event_kinds.SIP_AUTH_FAILED, SIP_SCANNER, SIP_USER_SCAN or SIP_BANNED
    at: float
    source_ip: str
    source_port: int | None = None
    username: str = ""
    user_agent: str = ""
    line_id: int | None = None
    detail: str = ""


@dataclass(slots=True)
class _SourceState:
    tokens: float
    seen: float
    failures: list[float] = field(default_factory=list)
    users: set[str] = field(default_factory=set)
    scanner: bool = False  # a tell was seen (an event; anyone can forge one from any address)
    scanner_verified: bool = False  # ... on a failed digest over a nonce issued to this address
    user_scan_reported: bool = False


def scanner_tell(msg: SipRequest) -> str | None:
    """Why this request looks like a scanner (sipvicious & co.), or None."""
    ua = (msg.get("User-Agent") or "").strip().lower()
    if ua and (ua in SCANNER_UA_EXACT or any(p in ua for p in SCANNER_UA_PARTS)):
        return f"user-agent {ua[:60]!r}"
    frm = msg.get("From") or ""
    if "sipvicious" in frm.lower() or "@1.1.1.1" in frm:
        return "sipvicious From"
    if f"tag={SVCRACK_FIRST_TAG}" in frm:
        return "svcrack From tag"
    via = parse_via(msg.get("Via") or "")
    if via is not None and _SV_BRANCH.fullmatch(via.branch or ""):
        return "sipvicious Via branch"
    return None


class Policy:
    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()
        self._sources: dict[str, _SourceState] = {}
        self._bans: dict[str, float] = {}  # ip -> expires (epoch seconds)
        self._unwritten: dict[str, float] = {}  # ip -> until: our bans not yet in the Ban table (kept over a reload)
        self.events: list[SecEvent] = []
        self.new_bans: list[tuple[str, float, float, str]] = []  # ip, created, expires, reason

    # -- admission (before any parsing of credentials, hashing or DB work) --

    def admit(self, ip: str, now: float) -> bool:
        until = self._bans.get(ip)
        if until is not None:
            if until > now:
                return False
            del self._bans[ip]
        if self.config.rate <= 0:
            return True
        st = self._state(ip, now)
        st.tokens = min(self.config.burst, st.tokens + (now - st.seen) * self.config.rate)
        st.seen = now
        if st.tokens < 1.0:
            return False
        st.tokens -= 1.0
        return True

    def is_banned(self, ip: str, now: float) -> bool:
        until = self._bans.get(ip)
        return until is not None and until > now

    def load_bans(self, bans: dict[str, float], now: float) -> None:
        """Replace the ban list with the DB's (a ban lifted from the dashboard or CLI ends now), keeping
        the bans decided here since the last write. The service never runs this during a flush, so a ban
        is either still unwritten here or already in `bans`."""
        self._unwritten = {ip: t for ip, t in self._unwritten.items() if t > now}
        self._bans = dict(bans)
        for ip, until in self._unwritten.items():
            self._bans[ip] = max(until, self._bans.get(ip, 0.0))

    def written(self, bans: list[tuple[str, float, float, str]]) -> None:
        """These bans (from `drain`) are now Ban rows: from the next reload the table decides them."""
        for ip, _created, until, _reason in bans:
            if self._unwritten.get(ip) == until:  # not banned again since
                del self._unwritten[ip]

    # -- signals --

    def scanner_seen(self, ip: str, port: int, ua: str, why: str, now: float) -> None:
        st = self._state(ip, now)
        if not st.scanner:  # one event per source while its state lives
            st.scanner = True
            self.events.append(SecEvent(event_kinds.SIP_SCANNER, now, ip, port, user_agent=ua, detail=why))

    def challenged(self, ip: str, port: int, username: str, ua: str, now: float) -> None:
        """An unauthenticated REGISTER for `username`: many names from one source is enumeration."""
        st = self._state(ip, now)
        if len(st.users) < 64:
            st.users.add(username)
        if len(st.users) > 3 and not st.user_scan_reported:
            st.user_scan_reported = True
            self.events.append(
                SecEvent(event_kinds.SIP_USER_SCAN, now, ip, port, user_agent=ua, detail="more than 3 usernames")
            )

    def auth_failed(
        self,
        ip: str,
        port: int,
        username: str,
        ua: str,
        line_id: int | None,
        now: float,
        detail: str = "",
        scanner: bool = False,
    ) -> bool:
        """Record a failed digest on a nonce issued to `ip` (the registrar calls this only then, so the
        source proved it receives our replies); True when this failure got the source banned. The lower
        scanner threshold applies once such a verified request showed a tell: tells alone prove nothing."""
        self.events.append(SecEvent(event_kinds.SIP_AUTH_FAILED, now, ip, port, username, ua, line_id, detail))
        st = self._state(ip, now)
        st.scanner_verified = st.scanner_verified or scanner
        cutoff = now - self.config.fail_window
        st.failures = [t for t in st.failures if t > cutoff] + [now]
        limit = self.config.scanner_fail_threshold if st.scanner_verified else self.config.fail_threshold
        if len(st.failures) >= limit:
            self.ban(ip, now, f"{len(st.failures)} failed SIP authentications", port, ua)
            return True
        return False

    def ban(self, ip: str, now: float, reason: str, port: int | None = None, ua: str = "") -> None:
        until = now + self.config.ban_seconds
        self._bans[ip] = until
        self._unwritten[ip] = until
        self.new_bans.append((ip, now, until, reason))
        self.events.append(SecEvent(event_kinds.SIP_BANNED, now, ip, port, user_agent=ua, detail=reason))
        self._sources.pop(ip, None)

    def _state(self, ip: str, now: float) -> _SourceState:
        st = self._sources.get(ip)
        if st is None:
            if len(self._sources) >= self.config.max_sources:
                self._forget_idle(now)
            st = self._sources[ip] = _SourceState(tokens=self.config.burst, seen=now)
        return st

    def _forget_idle(self, now: float) -> None:
        idle = now - self.config.fail_window
        for ip in [ip for ip, s in self._sources.items() if s.seen < idle]:
            del self._sources[ip]
        if len(self._sources) >= self.config.max_sources:  # still full: drop the oldest half
            for ip, _ in sorted(self._sources.items(), key=lambda kv: kv[1].seen)[: len(self._sources) // 2]:
                del self._sources[ip]

    def drain(self) -> tuple[list[SecEvent], list[tuple[str, float, float, str]]]:
        events, bans = self.events, self.new_bans
        self.events, self.new_bans = [], []
        return events, bans
