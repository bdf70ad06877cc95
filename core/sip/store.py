"""The registrar's DB side, all synchronous and run in a worker thread by the service.

Credentials are read into a CredentialTable (refreshed on an interval and on misses); bindings,
security events, bans and the registration history are written behind in batches; expired rows are
purged on a timer (with the history of the bindings that expired while no registrar held them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, String, delete, insert, literal, or_, select, tuple_, update

from core import event_kinds
from core.catalogue import Catalogue, default_catalogue
from core.db import transaction
from core.models import Ban, Device, DeviceCommand, Line, Registration, RegistrationEvent, SecurityEvent, Vpbx
from core.sip.credentials import Credential, CredentialTable
from core.sip.policy import SecEvent
from core.sip.registrar import Binding, HistoryEvent, Source

CHUNK = 400  # rows per statement (SQLite's variable limit and PG round trips)


def ts(dt: datetime) -> float:
    return dt.timestamp()


def dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def load_credentials(
    engine: Engine,
    secret: bytes,
    previous: CredentialTable | None = None,
    catalogue: Catalogue | None = None,
    aliases: Iterable[str] = (),
) -> CredentialTable:
    """Every line's SIP account; SHA-256 offered only when all its devices' models support it."""
    catalogue = catalogue or default_catalogue()
    with transaction(engine) as s:
        lines = s.execute(
            select(Line.id, Line.sip_username, Line.sip_password, Vpbx.sip_domain).join(Vpbx, Line.vpbx_id == Vpbx.id)
        ).all()
        models: dict[int, list[str]] = {}
        for line_id, model_id in s.execute(select(Device.line_id, Device.model_id)):
            models.setdefault(line_id, []).append(model_id)
    old = previous.by_user if previous else {}
    creds = []
    for line_id, user, password, domain in lines:
        sha = _sha256(catalogue, models.get(line_id, []))
        prev = old.get(user)
        if prev and (prev.password, prev.domain, prev.line_id) == (password, domain.lower(), line_id):
            if ("SHA-256" in prev.algorithms) == sha:
                creds.append(prev)  # unchanged: keep its HA1s, skip the hashing
                continue
        creds.append(Credential.make(user, domain.lower(), line_id, password, sha))
    return CredentialTable(creds, secret, (previous.generation + 1) if previous else 1, aliases)


def load_credential(engine: Engine, username: str, catalogue: Catalogue | None = None) -> Credential | None:
    """One line's SIP account by user name (a line added since the last reload), or None."""
    catalogue = catalogue or default_catalogue()
    with transaction(engine) as s:
        row = s.execute(
            select(Line.id, Line.sip_password, Vpbx.sip_domain)
            .join(Vpbx, Line.vpbx_id == Vpbx.id)
            .where(Line.sip_username == username)
        ).first()
        if row is None:
            return None
        line_id, password, domain = row
        models = list(s.scalars(select(Device.model_id).where(Device.line_id == line_id)))
    return Credential.make(username, domain.lower(), line_id, password, _sha256(catalogue, models))


def _sha256(catalogue: Catalogue, model_ids: list[str]) -> bool:
    """SHA-256 digest is offered to a line only when every one of its devices' models supports it."""
    ms = [catalogue.get(m) for m in model_ids]
    return bool(ms) and all(m is not None and "SHA-256" in m.digest for m in ms)


def load_bans(engine: Engine, now: float) -> dict[str, float]:
    with transaction(engine) as s:
        rows = s.execute(
            select(Ban.source_ip, Ban.expires_at).where(Ban.scope.in_(("sip", "all")), Ban.expires_at > dt(now))
        ).all()
    bans: dict[str, float] = {}
    for ip, expires in rows:
        bans[ip] = max(bans.get(ip, 0.0), ts(expires))
    return bans


def load_bindings(engine: Engine, now: float) -> list[Binding]:
    with transaction(engine) as s:
        rows = s.scalars(select(Registration).where(Registration.expires_at > dt(now))).all()
        return [
            Binding(
                r.aor,
                r.contact,
                r.line_id or 0,
                Source(r.source_ip, r.source_port, r.transport, None, r.local_socket),
                r.user_agent,
                r.call_id,
                r.cseq,
                ts(r.expires_at),
                ts(r.last_modified),
            )
            for r in rows
        ]


def _chunks(items: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass
class FlushStats:
    bindings: int = 0
    events: int = 0
    bans: int = 0
    history: int = 0


def flush(
    engine: Engine,
    changes: dict[tuple[str, str], Binding | None],
    events: list[SecEvent],
    bans: list[tuple[str, float, float, str]],
    history: list[HistoryEvent] | None = None,
) -> FlushStats:
    """One transaction for a batch: replace changed bindings, append events, bans and registration history."""
    history = history or []
    stats = FlushStats(len(changes), len(events), len(bans), len(history))
    if not (changes or events or bans or history):
        return stats
    with transaction(engine) as s:
        keys = [k for k in changes if k[1] != "*"]
        for part in _chunks([aor for aor, contact in changes if contact == "*"]):  # `Contact: *`: all of the AOR
            s.execute(delete(Registration).where(Registration.aor.in_(part)))
        for part in _chunks(keys):
            s.execute(delete(Registration).where(tuple_(Registration.aor, Registration.contact).in_(part)))
        rows = [
            {
                "aor": b.aor,
                "contact": b.contact[:512],
                "line_id": b.line_id,
                "source_ip": b.source.ip,
                "source_port": b.source.port,
                "transport": b.source.transport,
                "local_socket": b.source.local[:64],
                "user_agent": b.user_agent[:255],
                "call_id": b.call_id[:255],
                "cseq": b.cseq,
                "expires_at": dt(b.expires_at),
                "last_modified": dt(b.updated_at),
            }
            for b in changes.values()
            if b is not None
        ]
        for part in _chunks(rows):
            s.execute(insert(Registration), part)
        ev_rows = [
            {
                "at": dt(e.at),
                "kind": e.kind,
                "source_ip": e.source_ip,
                "source_port": e.source_port,
                "username": e.username[:100],
                "user_agent": e.user_agent[:255],
                "line_id": e.line_id,
                "detail": e.detail,
            }
            for e in events
        ]
        for part in _chunks(ev_rows):
            s.execute(insert(SecurityEvent), part)
        history_rows = [
            {
                "at": dt(h.at),
                "line_id": h.line_id,
                "event": h.event,
                "contact": h.contact[:512],
                "source_ip": h.source_ip[:45],
                "source_port": h.source_port,
                "transport": h.transport[:8],
                "user_agent": h.user_agent[:255],
            }
            for h in history
        ]
        for part in _chunks(history_rows):
            s.execute(insert(RegistrationEvent), part)
        for ip, created, until, reason in bans:
            s.add(Ban(source_ip=ip, scope="sip", reason=reason[:255], created_at=dt(created), expires_at=dt(until)))
    return stats


def purge_expired(engine: Engine, now: float, unheld_before: float | None = None) -> int:
    """Delete the rows of expired bindings. Those that expired before `unheld_before` (the registrar's start:
    it read back only the rows still live then) get their REG_EXPIRED history row in the same transaction;
    every later expiry is the registrar's own to record (Registrar.purge), so no binding gets two."""
    with transaction(engine) as s:
        if unheld_before is not None:
            unheld = Registration.expires_at <= dt(min(now, unheld_before))
            s.execute(
                insert(RegistrationEvent).from_select(
                    ["at", "line_id", "event", "contact", "source_ip", "source_port", "transport", "user_agent"],
                    select(
                        Registration.expires_at,  # when it expired, as the registrar's own REG_EXPIRED
                        Registration.line_id,
                        literal(event_kinds.REG_EXPIRED, String(16)),
                        Registration.contact,
                        Registration.source_ip,
                        Registration.source_port,
                        Registration.transport,
                        Registration.user_agent,
                    ).where(unheld, Registration.line_id.is_not(None)),
                )
            )
        result = cast("CursorResult[Any]", s.execute(delete(Registration).where(Registration.expires_at <= dt(now))))
        return result.rowcount or 0


# -- device commands (requests from the dashboard/CLI travel through the DB) --


@dataclass(frozen=True)
class PendingCommand:
    id: int
    device_id: int
    action: str
    line_id: int
    model_id: str
    devices: tuple[tuple[int, str | None, str | None], ...]  # the line's (id, mac, last_access_ip)


def claim_commands(engine: Engine, now: float, max_age: float) -> list[PendingCommand]:
    """Mark pending commands `sending` and return them; ones nobody picked up in time fail."""
    out: list[PendingCommand] = []
    with transaction(engine) as s:
        s.execute(
            update(DeviceCommand)
            .where(DeviceCommand.state == "pending", DeviceCommand.requested_at < dt(now - max_age))
            .values(state="failed", result="expired: the registrar was not running", finished_at=dt(now))
        )
        cmds = s.scalars(select(DeviceCommand).where(DeviceCommand.state == "pending").order_by(DeviceCommand.id)).all()
        for c in cmds:
            dev = s.get(Device, c.device_id)
            c.state = "sending"
            if dev is None:
                c.state, c.result, c.finished_at = "failed", "device deleted", dt(now)
                continue
            devs = s.execute(
                select(Device.id, Device.mac, Device.last_access_ip)
                .where(Device.line_id == dev.line_id)
                .order_by(Device.id)
            ).all()
            out.append(
                PendingCommand(
                    c.id, dev.id, c.action, dev.line_id, dev.model_id, tuple((i, mac, ip) for i, mac, ip in devs)
                )
            )
    return out


def finish_command(engine: Engine, command_id: int, state: str, result: str, now: float) -> None:
    with transaction(engine) as s:
        s.execute(
            update(DeviceCommand)
            .where(DeviceCommand.id == command_id)
            .values(state=state, result=result[:255], finished_at=dt(now))
        )


def reset_sending(engine: Engine) -> None:
    """At start: commands a crashed process left `sending` are retried."""
    with transaction(engine) as s:
        s.execute(
            update(DeviceCommand)
            .where(or_(DeviceCommand.state == "sending"), DeviceCommand.finished_at.is_(None))
            .values(state="pending")
        )
