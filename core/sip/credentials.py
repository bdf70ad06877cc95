"""The in-memory credentials table the registrar reads on its hot path (no DB there).

Built by core.sip.store from the Line/Vpbx/Device rows and swapped whole on refresh. Holds the SIP
password (needed to answer a phone's challenge to our NOTIFY) only in memory; never logged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.sip.digest import ha1


@dataclass(frozen=True, slots=True)
class Credential:
    username: str
    domain: str
    line_id: int
    password: str = field(repr=False)
    algorithms: tuple[str, ...] = ("MD5",)  # offered in this order (RFC 8760: preferred first)
    ha1: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def make(cls, username: str, domain: str, line_id: int, password: str, sha256: bool = False) -> Credential:
        algs = ("SHA-256", "MD5") if sha256 else ("MD5",)
        hashes = {a: ha1(a, username, domain, password) for a in ("MD5", "SHA-256")}
        return cls(username, domain, line_id, password, algs, hashes)

    def ha1_for(self, algorithm: str, realm: str) -> str | None:
        """HA1 for the realm the phone was challenged with: its vPBX domain, or one of our host names."""
        if realm.lower() == self.domain:
            return self.ha1.get(algorithm)
        return ha1(algorithm, self.username, realm, self.password) if algorithm in self.ha1 else None

    @property
    def aor(self) -> str:
        return f"{self.username}@{self.domain}"


class CredentialTable:
    """username -> Credential, plus what an unknown user is offered (so it looks like a known one)."""

    def __init__(
        self, creds: Iterable[Credential] = (), secret: bytes = b"", generation: int = 0, aliases: Iterable[str] = ()
    ) -> None:
        self.by_user: dict[str, Credential] = {c.username: c for c in creds}
        # Our own host names: configs name the registrar host as the domain, and user names are
        # unique across vPBXs, so user@<our host> is the same AOR as user@<vPBX domain>.
        self.aliases = frozenset(a.lower() for a in aliases)
        self._lines = {c.line_id: c for c in self.by_user.values()}
        self.domains = frozenset(c.domain for c in self.by_user.values())
        self.generation = generation
        self._secret = secret
        sha = sum(1 for c in self.by_user.values() if "SHA-256" in c.algorithms)
        # Share of lines offered SHA-256, as a byte threshold: unknown names get it at the same rate.
        self._sha_threshold = (sha * 256) // len(self.by_user) if self.by_user else 0

    def __len__(self) -> int:
        return len(self.by_user)

    def add(self, cred: Credential) -> None:
        """One line read on its own (added since the last reload, core.sip.service); the next reload has it."""
        self.by_user[cred.username] = cred
        self._lines[cred.line_id] = cred
        self.domains = self.domains | {cred.domain}

    def lookup(self, username: str, domain: str) -> Credential | None:
        c = self.by_user.get(username)
        if c is None:
            return None
        domain = domain.lower()
        return c if domain == c.domain or domain in self.aliases else None

    def by_line(self, line_id: int) -> Credential | None:
        return self._lines.get(line_id)

    def algorithms_for(self, username: str, domain: str) -> tuple[str, ...]:
        c = self.lookup(username, domain)
        if c is not None:
            return c.algorithms
        # Deterministic per name so repeated probes of one name see one answer.
        tag = hmac.new(self._secret or b"-", username.encode(), hashlib.sha256).digest()[0]
        return ("SHA-256", "MD5") if tag < self._sha_threshold else ("MD5",)
