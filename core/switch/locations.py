"""Kamailio's bindings (`location`) mirrored into our `registration` table, with the registration history.

`line show`, État, the diagnosis and the alert rules read `registration` and `registration_event` whichever
switch runs; with Kamailio, serve applies the difference between the two tables every second and writes the
history rows the built-in registrar writes (start, change, unregister, expired).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, tuple_

from core import event_kinds
from core.db import transaction
from core.models import KamailioLocation, Line, Registration, RegistrationEvent, Vpbx

UNIX_EPOCH_JULIAN_DAY = 2440587.5
_HOSTPORT = re.compile(r"^sips?:(?:[^@;>]*@)?(\[[^\]]+\]|[^:;>]+)(?::(\d+))?([^>]*)", re.I)


@dataclass(frozen=True)
class Mirrored:
    aor: str
    contact: str
    line_id: int
    source_ip: str
    source_port: int
    transport: str
    local_socket: str
    user_agent: str
    call_id: str
    cseq: int
    expires_at: datetime
    last_modified: datetime

    def looks(self) -> tuple[str, int, str, str]:
        """What a refresh may change that the history records as a `change`."""
        return (self.source_ip, self.source_port, self.transport, self.user_agent)


def source_of(received: str | None, contact: str, socket: str | None) -> tuple[str, int, str]:
    """(ip, port, transport) the phone was seen from: `received` (set for every REGISTER by the
    configuration), else the Contact; the transport from the socket it came in on."""
    transport = (socket or "udp:").split(":", 1)[0].lower() or "udp"
    m = _HOSTPORT.match(received or "") or _HOSTPORT.match(contact)
    if not m:
        return "", 0, transport
    params = m.group(3) or ""
    t = re.search(r";transport=(\w+)", params, re.I)
    if t and not socket:
        transport = t.group(1).lower()
    return m.group(1).strip("[]"), int(m.group(2) or (5061 if transport == "tls" else 5060)), transport


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _times(engine: Engine) -> tuple[Any, Any]:
    """`expires` and `last_modified` as we can read them: Kamailio's db_sqlite stores a DATETIME column as a
    Julian day number, which SQLite's julianday() gives back whatever the form; PostgreSQL has timestamps."""
    if engine.dialect.name == "sqlite":
        return func.julianday(KamailioLocation.expires), func.julianday(KamailioLocation.last_modified)
    return KamailioLocation.expires, KamailioLocation.last_modified


def _when(value: datetime | float | None) -> datetime:
    if value is None:
        return datetime.fromtimestamp(0, UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(round((value - UNIX_EPOCH_JULIAN_DAY) * 86_400), UTC)  # whole seconds
    return _utc(value).replace(microsecond=0)


def read_locations(engine: Engine, now: datetime) -> dict[tuple[str, str], Mirrored]:
    """The unexpired bindings of `location` (a row whose removal failed stays there past its end)."""
    expires_col, modified_col = _times(engine)
    with transaction(engine) as s:
        lines = {u.lower(): (lid, d.lower()) for lid, u, d in s.execute(
            select(Line.id, Line.sip_username, Vpbx.sip_domain).join(Vpbx, Line.vpbx_id == Vpbx.id))}  # fmt: skip
        rows = s.execute(
            select(
                KamailioLocation.username,
                KamailioLocation.contact,
                KamailioLocation.received,
                KamailioLocation.socket,
                KamailioLocation.user_agent,
                KamailioLocation.callid,
                KamailioLocation.cseq,
                expires_col,
                modified_col,
            )
        ).all()
    out: dict[tuple[str, str], Mirrored] = {}
    for user, contact, received, socket, ua, callid, cseq, expires, modified in rows:
        line = lines.get(user.lower())
        if line is None:
            continue  # a line deleted since: its binding goes with it
        ip, port, transport = source_of(received, contact, socket)
        aor = f"{user}@{line[1]}"
        if _when(expires) <= now:
            continue
        out[(aor, contact[:512])] = Mirrored(aor, contact[:512], line[0], ip, port, transport, (socket or "")[:64],
                                             ua[:255], callid[:255], cseq, _when(expires), _when(modified))  # fmt: skip
    return out


def mirror(engine: Engine, now: datetime | None = None) -> int:
    """One pass: `registration` made equal to `location`, history rows for what changed. Rows changed."""
    now = now or datetime.now(UTC)
    want = read_locations(engine, now)
    with transaction(engine) as s:
        have = {(r.aor, r.contact): r for r in s.scalars(select(Registration).where(Registration.line_id.is_not(None)))}
        history: list[dict[str, object]] = []
        gone = [k for k in have if k not in want]
        for key in gone:
            r = have[key]
            event = event_kinds.REG_EXPIRED if r.expires_at <= now else event_kinds.REG_UNREGISTER
            history.append(_history(now, r.line_id or 0, event, r.contact, r.source_ip, r.source_port, r.transport,
                                    r.user_agent))  # fmt: skip
        changed = []
        for key, m in want.items():
            old = have.get(key)
            if old is not None and (old.source_ip, old.source_port, old.transport, old.user_agent) == m.looks() \
                    and old.expires_at == m.expires_at and old.cseq == m.cseq:  # fmt: skip
                continue
            changed.append(key)
            if old is None:
                event = event_kinds.REG_START
            elif (old.source_ip, old.source_port, old.transport, old.user_agent) != m.looks():
                event = event_kinds.REG_CHANGE
            else:
                continue  # a plain refresh: no history row, as with the built-in registrar
            history.append(_history(now, m.line_id, event, m.contact, m.source_ip, m.source_port, m.transport,
                                    m.user_agent))  # fmt: skip
        stale = gone + changed
        for i in range(0, len(stale), 400):
            part = stale[i : i + 400]
            s.execute(delete(Registration).where(tuple_(Registration.aor, Registration.contact).in_(part)))
        rows = [_registration(want[k]) for k in changed]
        for i in range(0, len(rows), 400):
            s.execute(insert(Registration), rows[i : i + 400])
        if history:
            s.execute(insert(RegistrationEvent), history)
    return len(stale)


def _registration(m: Mirrored) -> dict[str, object]:
    return {
        "aor": m.aor,
        "contact": m.contact,
        "line_id": m.line_id,
        "source_ip": m.source_ip,
        "source_port": m.source_port,
        "transport": m.transport,
        "local_socket": m.local_socket,
        "user_agent": m.user_agent,
        "call_id": m.call_id,
        "cseq": m.cseq,
        "expires_at": m.expires_at,
        "last_modified": m.last_modified,
    }


def _history(at: datetime, line_id: int, event: str, contact: str, ip: str, port: int, transport: str,
             ua: str) -> dict[str, object]:  # fmt: skip
    return {"at": at, "line_id": line_id, "event": event, "contact": contact[:512], "source_ip": ip[:45],
            "source_port": port, "transport": transport[:8], "user_agent": ua[:255]}  # fmt: skip
