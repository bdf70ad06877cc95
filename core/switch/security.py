"""Bans and scanners with the Kamailio switch (issue 16 point 2; switch/kamailio/parts/security.cfg.j2).

Kamailio decides on its own what the built-in registrar decides (core.sip.policy), with the same numbers:
scanner User-Agents (policy's list, rendered into the configuration) dropped and recorded once per source
as `sip_scanner`; every failed digest a `sip_auth_failed` row (and the line's `auth_failed` history);
VOIPADMIN_SIP_FAIL_THRESHOLD failures within the window ban the source for VOIPADMIN_SIP_BAN_SECONDS (a
`ban` row, a `sip_banned` event, then no answer at all); VOIPADMIN_SIP_RATE per source through pike.

The `ban` table stays the truth: `sync_bans` (serve, every second) makes Kamailio's `ban` htable hold the
active sip/all bans of the table, so a ban added with `ban add` starts and one lifted with `ban lift` (the
dashboard's unban) ends within a second. Kamailio writes its own bans into the table before its htable, so
a pass that reads the htable first and then the table never lifts a ban Kamailio has just made.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from core.db import transaction
from core.models import Ban
from core.processes.periodic import every
from core.settings import Settings
from core.sip.policy import SCANNER_UA_EXACT, SCANNER_UA_PARTS, PolicyConfig
from core.sip.service import SipConfig
from core.switch import rpc

log = logging.getLogger(__name__)

BAN_TABLE = "ban"  # Kamailio's htable of banned source addresses (value 1, per-item expiry)
SYNC_EVERY = 1.0  # seconds between two ban syncs: a ban made in the dashboard or CLI is in Kamailio within it
_ERE_SPECIAL = re.compile(r"([.$*+?()\[\]{}|])")


def ere_alternatives(words: Iterable[str]) -> str:
    """`a|b|c`: a POSIX extended regular expression matching any of the literal `words`, special characters
    in brackets (no backslash for Kamailio's string parser to eat)."""
    out = []
    for w in sorted(set(words)):
        if any(ch in w for ch in '"^\\'):
            raise ValueError(f"not a literal Kamailio can match: {w!r}")
        out.append(_ERE_SPECIAL.sub(r"[\1]", w))
    return "|".join(out)


@dataclass(frozen=True)
class SecurityContext:
    """What the security and commands parts are rendered with (KamailioContext.security)."""

    fail_threshold: int = PolicyConfig().fail_threshold
    fail_window: int = int(PolicyConfig().fail_window)
    ban_seconds: int = int(PolicyConfig().ban_seconds)
    pike_unit: int = 4  # pike's sampling_time_unit in seconds; 0 = no per-source rate limit
    pike_density: int = 400  # requests a source may send within one unit
    scanner_ua_parts: str = ere_alternatives(SCANNER_UA_PARTS)  # matched in the lower-cased User-Agent
    scanner_ua_exact: str = ere_alternatives(SCANNER_UA_EXACT)  # ... as the whole of it
    now_sql: str = "datetime('now')"  # the database's "now" in our UTC columns (SQLite: naive UTC text)
    ban_until_sql: str = "datetime('now', '+3600 seconds')"
    command_token: str = ""  # marks serve's NOTIFYs looping through Kamailio (core.switch.commands)


def command_token(settings: Settings) -> str:
    """The mark of serve's own NOTIFYs, from the installation secret: Kamailio relays a NOTIFY to a phone
    (answering its challenge with the line's HA1) only when it carries this."""
    return hmac.new(settings.secret_key(), b"kamailio-device-command", hashlib.sha256).hexdigest()[:32]


def security_context(settings: Settings, db_backend: str) -> SecurityContext:
    """The built-in registrar's policy numbers (core.sip.service.SipConfig.from_settings: the defaults with
    the VOIPADMIN_SIP_* overrides), as Kamailio's modules take them."""
    p = SipConfig.from_settings(settings).policy
    unit = max(1, round(p.burst / p.rate)) if p.rate > 0 else 0
    ban = max(1, round(p.ban_seconds))
    if db_backend == "sqlite":
        now, until = "datetime('now')", f"datetime('now', '+{ban} seconds')"
    else:
        now, until = "now()", f"now() + interval '{ban} seconds'"
    return SecurityContext(
        fail_threshold=p.fail_threshold,
        fail_window=max(1, round(p.fail_window)),
        ban_seconds=ban,
        pike_unit=unit,
        pike_density=max(1, round(p.rate * unit)),
        now_sql=now,
        ban_until_sql=until,
        command_token=command_token(settings),
    )


# -- the ban sync (serve, every second) --

Rpc = Callable[..., Any]  # rpc(method, *params) -> result (core.switch.rpc.call on one socket)


def active_bans(engine: Engine, now: datetime) -> dict[str, datetime]:
    """Every address banned for SIP (scope sip or all) and until when, one statement."""
    with transaction(engine) as s:
        rows = s.execute(
            select(Ban.source_ip, func.max(Ban.expires_at))
            .where(Ban.scope.in_(("sip", "all")), Ban.expires_at > now)
            .group_by(Ban.source_ip)
        ).all()
    return {ip: _aware(until) for ip, until in rows}


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite's max() gives the stored text back
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def htable_keys(rpc: Rpc, table: str = BAN_TABLE) -> set[str]:
    """The keys of a Kamailio htable (`htable.dump`: slots, each with its entries)."""
    dump = rpc("htable.dump", table) or []
    keys: set[str] = set()
    for slot in dump if isinstance(dump, list) else [dump]:
        for entry in slot.get("slot", []) if isinstance(slot, dict) else []:
            if isinstance(entry, dict) and "name" in entry:
                keys.add(str(entry["name"]))
    return keys


def sync_bans(engine: Engine, rpc: Rpc, now: datetime | None = None) -> tuple[int, int]:
    """Kamailio's ban htable := the table's active SIP bans; (added, removed). The htable is read before the
    table (see the module's docstring); an entry already there keeps its own expiry."""
    in_kamailio = htable_keys(rpc)
    now = now or datetime.now(UTC)
    wanted = active_bans(engine, now)
    added = removed = 0
    for ip, until in wanted.items():
        if ip not in in_kamailio:
            rpc("htable.setxi", BAN_TABLE, ip, 1, max(1, int((until - now).total_seconds())))
            added += 1
    for ip in in_kamailio - wanted.keys():
        rpc("htable.delete", BAN_TABLE, ip)
        removed += 1
    if added or removed:
        log.info("Kamailio bans: %d added, %d lifted", added, removed)
    return added, removed


def rpc_on(rpc_socket: Path) -> Rpc:
    return lambda method, *params: rpc.call(rpc_socket, method, *params)


async def run_ban_sync(engine: Engine, rpc_socket: Path, stop: asyncio.Event) -> None:
    """serve's ban sync while Kamailio is the switch, every SYNC_EVERY until `stop`."""
    kamailio = rpc_on(rpc_socket)

    def one_pass() -> None:
        sync_bans(engine, kamailio)

    await every(SYNC_EVERY, stop, one_pass, log, "Kamailio bans")
