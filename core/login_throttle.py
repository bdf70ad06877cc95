"""The dashboard login's throttle: so many attempts per account name and per source address per window.

Pure and clock-injected (`now` is passed in), so it is tested without a server. An attempt is counted
when it is *let through*, before its password is hashed: parallel guesses cannot all pass the check
before the first failure is recorded. A success forgives its own attempt (the account's count starts
again; the source keeps its other failures). A refused attempt is not counted and costs nothing: the
caller answers at once, without looking the account up or hashing.

Accounts are counted by the name typed, whether or not such an account exists, so the answers (and
their timing) never tell a known account from an unknown one. Sources are counted per address, IPv6
per /64 (one host owns a whole /64). Memory is bounded: each table keeps at most `max_entries` names,
dropping the least recently seen (an attacker who floods names evicts only counts, and their own
source stays counted).

The thresholds are constants below; `limits_from_settings` applies the validated overrides
(VOIPADMIN_LOGIN_*, read by core.settings).
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass

from core.settings import Settings, override

MAX_PER_ACCOUNT = 10  # attempts on one account name per window, from anywhere
MAX_PER_SOURCE = 30  # attempts from one address per window (an office NAT holds several users)
WINDOW_SECONDS = 300  # counted from the first attempt of a window; a throttled name waits out the rest
MAX_ENTRIES = 50_000  # per table: ~10 MB at worst
MAX_NAME = 128  # longer names are counted by their first 128 characters (the form allows no more than 64)


@dataclass(frozen=True)
class Limits:
    per_account: int = MAX_PER_ACCOUNT
    per_source: int = MAX_PER_SOURCE
    window: float = WINDOW_SECONDS
    max_entries: int = MAX_ENTRIES


def limits_from_settings(settings: Settings) -> Limits:
    """The constants above, with the overrides the settings carry."""
    return Limits(
        per_account=override(settings.login_max_per_account, MAX_PER_ACCOUNT),
        per_source=override(settings.login_max_per_source, MAX_PER_SOURCE),
        window=override(settings.login_window_seconds, WINDOW_SECONDS),
    )


def source_key(address: str | None) -> str:
    """What one source is: the IPv4 address, or the IPv6 /64 (an IPv4-mapped IPv6 address is IPv4)."""
    if not address:
        return "?"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:MAX_NAME]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class _Counts:
    """name -> [attempts, window start], least recently seen first."""

    def __init__(self, limit: int, window: float, max_entries: int) -> None:
        self.limit, self.window, self.max_entries = limit, window, max_entries
        self._entries: OrderedDict[str, list[float]] = OrderedDict()

    def wait(self, name: str, now: float) -> float:
        """Seconds until `name` may try again; 0 when it may now."""
        entry = self._entries.get(name)
        if entry is None or now >= entry[1] + self.window:
            return 0.0
        return entry[1] + self.window - now if entry[0] >= self.limit else 0.0

    def count(self, name: str, now: float) -> None:
        entry = self._entries.pop(name, None)
        if entry is None or now >= entry[1] + self.window:
            entry = [0, now]
        entry[0] += 1
        self._entries[name] = entry  # re-inserted last: the most recently seen
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forgive(self, name: str, whole: bool) -> None:
        entry = self._entries.get(name)
        if entry is None:
            return
        entry[0] -= entry[0] if whole else 1
        if entry[0] <= 0:
            del self._entries[name]

    def __len__(self) -> int:
        return len(self._entries)


class LoginThrottle:
    """`attempt()` before hashing; `succeeded()` after a right password. Not thread-safe: call it from
    the event loop (the dashboard's routes do; only the hashing goes to threads)."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        lim = self.limits
        self._accounts = _Counts(lim.per_account, lim.window, lim.max_entries)
        self._sources = _Counts(lim.per_source, lim.window, lim.max_entries)

    def attempt(self, source: str | None, username: str, now: float) -> int:
        """0 and the attempt is counted, or the whole seconds to wait (the attempt is refused, not counted)."""
        src, name = source_key(source), username[:MAX_NAME]
        wait = max(self._sources.wait(src, now), self._accounts.wait(name, now))
        if wait > 0:
            return max(1, math.ceil(wait))
        self._sources.count(src, now)
        self._accounts.count(name, now)
        return 0

    def succeeded(self, source: str | None, username: str) -> None:
        """A right password: the account's count starts again, and this attempt is not held against the source."""
        self._accounts.forgive(username[:MAX_NAME], whole=True)
        self._sources.forgive(source_key(source), whole=False)

    def sizes(self) -> tuple[int, int]:
        """(account names, sources) held: bounded by `max_entries` each."""
        return len(self._accounts), len(self._sources)
