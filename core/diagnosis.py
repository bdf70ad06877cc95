"""Why doesn't this phone work? (issue 12): one device's facts, then pure rules over them.

`load_facts(session, actor, device_id, now)` reads everything the rules need in a constant number
of indexed statements (tests/core/test_diagnosis.py and test_statement_counts.py count them): the
device with its line, the line's devices and a handset's base (on any line of the vPBX), the device's
newest access-log rows and its newest requests with a retired key (device_id index), its last
successful fetch, its key rotations (retired_key: the time only, never the key or its hash), the
line's bindings, the line's newest registration history (`WHERE line_id = ? ORDER BY id DESC LIMIT N`
on the (line_id, id) index: starts, changes, ends and the failed SIP authentications of the line's
user name, which `auth_failing` reads instead of scanning security_event by user name), the
registrar's heartbeat, its reboot/resync commands, its redirection jobs and the bans covering its
addresses. `diagnose(facts)` does no I/O: each finding has a stable code, a severity, fr/en text
(core.messages.FINDINGS), evidence rows (time, address, User-Agent; never a secret: Facts holds
none) and the action that fixes it (a dashboard button of the device view, a CLI command).

Bindings and history rows belong to a device as `registrations.match_device` says (MAC in the
User-Agent, else the one device whose last fetch came from that address; an unmatched row on a line
with one registering device is that device's). Phones that cannot be told apart (several on one
line behind one NAT address, User-Agents without a MAC) are never blamed: an unmatched live binding
from the device's own address counts as possibly its own, so nothing says it is not registered.

While the built-in registrar is not running (stale heartbeat), a registering device gets the warning
`registrar_not_running` and the findings that would blame the phone for a missing or lost
registration (fetched_not_registered, registration_expired, stale_binding) are skipped: no phone can
register then, and a binding expires because nobody answers its refresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, contains_eager

from core import event_kinds, heartbeat
from core.call_control import block_enforced_by
from core.catalogue import DeviceModel, default_catalogue
from core.credentials import find_mac
from core.device_commands import registered_devices
from core.messages import finding_text
from core.models import (
    AccessLog,
    Ban,
    Device,
    DeviceCommand,
    RedirectionJob,
    Registration,
    RegistrationEvent,
    RetiredKey,
)
from core.networks import network
from core.permissions import Actor, require_device
from core.registrations import match_device

ACCESS_ROWS = 50  # newest access-log rows read for evidence and the timeline
OLD_KEY_ROWS = 10  # newest requests with a retired key (read apart: a busy log must not hide them)
ROTATION_ROWS = 10
HISTORY_ROWS = 100  # the line's newest registration_event rows
AUTH_WINDOW = timedelta(hours=24)
BINDING_ROWS = 50
COMMAND_ROWS = 10
JOB_ROWS = 10
# A phone that fetched this recently may still be booting: not registered yet is no fault.
BOOT_GRACE = timedelta(minutes=2)
# A request with a retired key older than this is history (the timeline), not a finding.
OLD_KEY_RECENT = timedelta(days=7)
# Fetches within this window say where the phone is (fetched_from_unusual_address).
ADDRESS_WINDOW = timedelta(days=7)
FAILED_COMMANDS = ("failed", "timeout", "not_registered")
SEVERITIES = ("info", "warning", "fault")  # verdict: the worst of fault/warning, else ok
# Within a severity, the findings that are a cause come before those that are its symptom (a phone
# refused for its old password also lost its registration: say the password first).
CAUSES_FIRST = ("source_banned", "line_blocked", "auth_failing", "mac_mismatch", "old_key_used", "never_fetched",
                "handset_without_base", "base_offline")  # fmt: skip
STARTS = (event_kinds.REG_START, event_kinds.REG_CHANGE)


@dataclass(frozen=True)
class Access:
    at: datetime
    source_ip: str
    user_agent: str
    status: int
    reason: str


@dataclass(frozen=True)
class Binding:
    at: datetime  # last modified
    expires_at: datetime
    source_ip: str
    source_port: int
    transport: str
    user_agent: str
    device_id: int | None  # the line's device it belongs to (registrations.match_device)
    contact: str = ""


@dataclass(frozen=True)
class AuthFailure:
    at: datetime
    source_ip: str
    source_port: int | None
    user_agent: str
    device_id: int | None = None  # as a binding's (match_device)


@dataclass(frozen=True)
class RegEvent:
    """A registration_event row of the line but its failed authentications (Facts.auth_failures)."""

    at: datetime
    event: str  # REG_START | REG_CHANGE | REG_UNREGISTER | REG_EXPIRED
    contact: str
    source_ip: str
    source_port: int | None
    transport: str
    user_agent: str
    device_id: int | None  # as a binding's (match_device)


@dataclass(frozen=True)
class Command:
    action: str
    state: str
    result: str
    requested_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class Job:
    service: str
    action: str
    state: str
    attempts: int
    error: str
    updated_at: datetime


@dataclass(frozen=True)
class BanFact:
    source_ip: str
    scope: str
    reason: str
    expires_at: datetime


@dataclass(frozen=True)
class DeviceFacts:
    """A device without its secrets (no passwords, no access key)."""

    id: int
    model_id: str
    mac: str | None
    provisioning_mac: str
    base_station_id: int | None
    updated_at: datetime
    last_access_at: datetime | None
    last_access_ip: str | None
    last_access_ua: str | None


@dataclass(frozen=True)
class Facts:
    now: datetime
    device: DeviceFacts
    model: DeviceModel | None
    line_id: int
    line_number: str
    pstn_blocked: bool
    line_device_ids: tuple[int, ...]  # devices of the line that register (for the "only device" match)
    base: DeviceFacts | None  # a handset's base station
    accesses: tuple[Access, ...]  # newest first
    last_fetch: Access | None  # the newest successful key fetch
    bindings: tuple[Binding, ...]  # the line's, live and not yet purged
    auth_failures: tuple[AuthFailure, ...]  # the line's user name, last 24 h, newest first
    commands: tuple[Command, ...]  # newest first
    jobs: tuple[Job, ...]  # newest first
    bans: tuple[BanFact, ...]  # active bans of the device's addresses
    old_key_requests: tuple[Access, ...] = ()  # requests with a key a Nouveau clé retired, newest first
    key_rotations: tuple[datetime, ...] = ()  # when its keys were retired, newest first
    history: tuple[RegEvent, ...] = ()  # the line's registration history, newest first
    registrar_running: bool = True  # the built-in registrar's heartbeat is fresh


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    params: dict[str, Any]
    evidence: tuple[dict[str, Any], ...]
    button: str | None  # the device view's action (dashboard.i18n "dv_do_<button>")
    command: str | None  # the CLI command that fixes it

    def text(self, lang: str = "en") -> str:
        return finding_text(self.code, self.params, lang)

    def as_json(self, lang: str = "en") -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "text": self.text(lang),
            "evidence": list(self.evidence),
            "action": {"button": self.button, "command": self.command},
        }


@dataclass(frozen=True)
class Diagnosis:
    device: int
    verdict: str  # ok | warning | fault
    findings: tuple[Finding, ...] = ()
    timeline: tuple[dict[str, Any], ...] = field(default=())

    def as_json(self, lang: str = "en") -> dict[str, Any]:
        return {
            "device": self.device,
            "verdict": self.verdict,
            "findings": [f.as_json(lang) for f in self.findings],
            "timeline": list(self.timeline),
        }


def _device_facts(d: Device) -> DeviceFacts:
    return DeviceFacts(d.id, d.model_id, d.mac, d.provisioning_mac, d.base_station_id, d.updated_at,
                       d.last_access_at, d.last_access_ip, d.last_access_ua)  # fmt: skip


def _access(r: AccessLog) -> Access:
    return Access(r.at, r.source_ip, r.user_agent, r.status, r.reason)


def _newest_accesses(session: Session, limit: int, *where: ColumnElement[bool]) -> Sequence[AccessLog]:
    """The newest `limit` access-log rows matching `where`, newest first. The ids come first from the
    (device_id[, reason], id) index alone: asked directly, PostgreSQL bets on walking the primary key
    backwards, which reads every later row of the whole log when the device's rows are old or absent."""
    ids = select(AccessLog.id).where(*where).order_by(AccessLog.id.desc()).limit(limit)
    return session.scalars(select(AccessLog).where(AccessLog.id.in_(ids)).order_by(AccessLog.id.desc())).all()


def load_facts(session: Session, actor: Actor, device_id: int, now: datetime) -> Facts:
    """The facts of one device the actor may see (else the NotFound of a missing device)."""
    stmt = select(Device).join(Device.line).options(contains_eager(Device.line)).where(Device.id == int(device_id))
    device = require_device(actor, session.scalars(stmt).one_or_none())
    line = device.line
    catalogue = default_catalogue()
    # The line's devices and, in the same statement, a handset's base (it may be on another line of the vPBX).
    read = session.scalars(
        select(Device).where(or_(Device.line_id == line.id, Device.id == device.base_station_id)).order_by(Device.id)
    ).all()
    on_line = [d for d in read if d.line_id == line.id]
    candidates = [(d.id, d.mac, d.last_access_ip) for d in on_line]
    registering = tuple(d.id for d in on_line if (m := catalogue.get(d.model_id)) is not None and m.registers)
    base = next((d for d in read if d.id == device.base_station_id), None)
    accesses = _newest_accesses(session, ACCESS_ROWS, AccessLog.device_id == device.id)
    last_fetch, old_keys = (
        _newest_accesses(session, limit, AccessLog.device_id == device.id, AccessLog.reason == reason)
        for reason, limit in ((event_kinds.OK, 1), (event_kinds.OLD_KEY, OLD_KEY_ROWS))
    )
    rotations = session.scalars(
        select(RetiredKey.retired_at)
        .where(RetiredKey.device_id == device.id)
        .order_by(RetiredKey.id.desc())
        .limit(ROTATION_ROWS)
    ).all()
    regs = session.scalars(
        select(Registration)
        .where(Registration.line_id == line.id)
        .order_by(Registration.expires_at.desc())
        .limit(BINDING_ROWS)
    ).all()
    bindings = tuple(
        Binding(
            r.last_modified,
            r.expires_at,
            r.source_ip,
            r.source_port,
            r.transport,
            r.user_agent,
            match_device(r.user_agent, r.source_ip, candidates),
            r.contact,
        )  # fmt: skip
        for r in regs
    )
    # One statement on the (line_id, id) index, newest first: no sort, no scan of other lines' rows.
    events = session.scalars(
        select(RegistrationEvent)
        .where(RegistrationEvent.line_id == line.id)
        .order_by(RegistrationEvent.id.desc())
        .limit(HISTORY_ROWS)
    ).all()
    history = tuple(
        RegEvent(
            e.at,
            e.event,
            e.contact,
            e.source_ip,
            e.source_port,
            e.transport,
            e.user_agent,
            match_device(e.user_agent, e.source_ip, candidates),
        )  # fmt: skip
        for e in events
        if e.event != event_kinds.REG_AUTH_FAILED
    )
    failures = tuple(
        AuthFailure(e.at, e.source_ip, e.source_port, e.user_agent, match_device(e.user_agent, e.source_ip, candidates))
        for e in events
        if e.event == event_kinds.REG_AUTH_FAILED and e.at >= now - AUTH_WINDOW
    )
    running = heartbeat.running(session, "sip", now)
    commands = session.scalars(
        select(DeviceCommand)
        .where(DeviceCommand.device_id == device.id)
        .order_by(DeviceCommand.id.desc())
        .limit(COMMAND_ROWS)
    ).all()
    jobs = session.scalars(
        select(RedirectionJob)
        .where(RedirectionJob.device_id == device.id)
        .order_by(RedirectionJob.id.desc())
        .limit(JOB_ROWS)
    ).all()
    own = {device.id, base.id if base is not None else -1}
    addresses = {device.last_access_ip, base.last_access_ip if base is not None else None}
    addresses |= {b.source_ip for b in bindings if b.device_id in own}
    if last_fetch:
        addresses.add(last_fetch[0].source_ip)
    wanted = sorted(a for a in addresses if a)  # none: an empty IN, still one statement (a constant count)
    bans = session.scalars(
        select(Ban).where(Ban.source_ip.in_(wanted), Ban.expires_at > now).order_by(Ban.expires_at.desc())
    ).all()
    return Facts(
        now=now,
        device=_device_facts(device),
        model=catalogue.get(device.model_id),
        line_id=line.id,
        line_number=line.number,
        pstn_blocked=line.pstn_blocked,
        line_device_ids=registering,
        base=_device_facts(base) if base is not None else None,
        accesses=tuple(_access(r) for r in accesses),
        last_fetch=_access(last_fetch[0]) if last_fetch else None,
        bindings=bindings,
        auth_failures=failures,
        commands=tuple(Command(c.action, c.state, c.result, c.requested_at, c.finished_at) for c in commands),
        jobs=tuple(Job(j.service, j.action, j.state, j.attempts, j.last_error, j.updated_at) for j in jobs),
        bans=tuple(BanFact(b.source_ip, b.scope, b.reason, b.expires_at) for b in bans),
        old_key_requests=tuple(_access(r) for r in old_keys),
        key_rotations=tuple(rotations),
        history=history,
        registrar_running=running,
    )


# --- the rules (pure) ---


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat(timespec="seconds") if at is not None else None


def _row(at: datetime | None, source_ip: str | None, user_agent: str | None, **more: Any) -> dict[str, Any]:
    return {"at": _iso(at), "source_ip": source_ip or "", "user_agent": user_agent or "", **more}


def _last_fetch_at(facts: Facts) -> datetime | None:
    """The newest successful fetch: the log's, or the device's last access once retention purged the log."""
    return facts.last_fetch.at if facts.last_fetch is not None else facts.device.last_access_at


def _owns(facts: Facts, device: DeviceFacts, matched: int | None) -> bool:
    """A binding or history row matched to `device`, or unmatched on a line where it is the only
    registering device (as the registrar matches before a NOTIFY: device_commands.registered_devices)."""
    return device.id in registered_devices([{"device": matched}], list(facts.line_device_ids))


def _own_bindings(facts: Facts, device: DeviceFacts) -> list[Binding]:
    return [b for b in facts.bindings if _owns(facts, device, b.device_id)]


def _own_history(facts: Facts, device: DeviceFacts) -> list[RegEvent]:
    return [e for e in facts.history if _owns(facts, device, e.device_id)]


def _live(facts: Facts, device: DeviceFacts) -> list[Binding]:
    """Its live bindings, and the unmatched live ones from its own address: phones behind one NAT address
    whose User-Agents show no MAC cannot be told apart, and none of them is blamed for it."""
    now = facts.now
    maybe = [b for b in facts.bindings if b.device_id is None and b.source_ip == device.last_access_ip]
    return [b for b in _own_bindings(facts, device) + maybe if b.expires_at > now]


def _binding_row(b: Binding, now: datetime) -> dict[str, Any]:
    return _row(b.at, b.source_ip, b.user_agent, port=b.source_port, transport=b.transport,
                expires_at=_iso(b.expires_at), live=b.expires_at > now)  # fmt: skip


def _event_row(e: RegEvent) -> dict[str, Any]:
    return _row(e.at, e.source_ip, e.user_agent, kind=e.event, port=e.source_port, transport=e.transport)


def _lost(facts: Facts, device: DeviceFacts) -> tuple[datetime, str, tuple[dict[str, Any], ...]] | None:
    """When and where its registration ended by expiry: an expired binding the registrar has not purged
    yet, else a REG_EXPIRED row of the device newer than its last start (the binding is purged)."""
    now = facts.now
    expired = [b for b in _own_bindings(facts, device) if b.expires_at <= now]
    if expired:
        last = max(expired, key=lambda b: b.expires_at)
        return last.expires_at, last.source_ip, tuple(_binding_row(b, now) for b in expired)
    history = _own_history(facts, device)
    ends = [e for e in history if e.event == event_kinds.REG_EXPIRED]
    starts = [e for e in history if e.event in STARTS]
    if ends and (not starts or ends[0].at >= starts[0].at):
        return ends[0].at, ends[0].source_ip, (_event_row(ends[0]),)
    return None


def _registration_findings(facts: Facts, device: DeviceFacts, fetched_at: datetime | None) -> list[Finding]:
    now = facts.now
    if not facts.registrar_running or fetched_at is None or _live(facts, device):
        return []  # registrar_not_running says why; never_fetched says the rest
    line_cmd = f"python -m core line show {facts.line_number}"
    lost = _lost(facts, device)
    if lost is not None and lost[0] >= fetched_at:
        since, ip, evidence = lost
        return [Finding("registration_expired", "fault", {"since": _iso(since), "ip": ip}, evidence, "status",
                        line_cmd)]  # fmt: skip
    if now - fetched_at > BOOT_GRACE:  # fetched after the loss (or never registered), past the boot
        return [Finding("fetched_not_registered", "fault", {"fetched": _iso(fetched_at)},
                        (_row(fetched_at, device.last_access_ip, device.last_access_ua),), "status",
                        line_cmd)]  # fmt: skip
    return []


def _stale_bindings(facts: Facts, device: DeviceFacts) -> list[Finding]:
    """A live binding not refreshed since the device registered from another contact: e.g. left by a
    reboot behind NAT with a new port, calls fork to it until it expires."""
    if not facts.registrar_running:
        return []
    starts = [e for e in _own_history(facts, device) if e.event in STARTS]
    if not starts:
        return []
    newest = starts[0]
    now = facts.now
    stale = [
        b
        for b in _own_bindings(facts, device)
        if b.expires_at > now
        and b.at < newest.at
        and b.contact != newest.contact
        # the newest start is this device's by MAC or address, or came from the same address
        and (newest.device_id == device.id or newest.source_ip == b.source_ip)
    ]
    if not stale:
        return []
    first = min(stale, key=lambda b: b.at)
    params = {"ip": first.source_ip, "port": first.source_port, "since": _iso(newest.at),
              "until": _iso(max(b.expires_at for b in stale))}  # fmt: skip
    evidence = (*(_binding_row(b, now) for b in stale), _event_row(newest))
    return [Finding("stale_binding", "warning", params, evidence, "status",
                    f"python -m core line show {facts.line_number}")]  # fmt: skip


def _runs(networks: Iterable[str]) -> list[str]:
    """The networks in order with repeats folded: A A B B -> A B (moved once), A B A -> A B A."""
    out: list[str] = []
    for n in networks:
        if not out or out[-1] != n:
            out.append(n)
    return out


def _unusual_address(facts: Facts, device: DeviceFacts, fetched_at: datetime | None) -> list[Finding]:
    """Fetch and registration from different networks, or fetches from several: never a fault (an
    office NAT gives all its phones ONE address; a phone that moved once and stayed is info)."""
    now = facts.now
    fetches = [a for a in facts.accesses if a.reason == event_kinds.OK and now - a.at <= ADDRESS_WINDOW]
    runs = _runs(network(a.source_ip) for a in fetches)
    fetch_ip = facts.last_fetch.source_ip if facts.last_fetch is not None else device.last_access_ip
    live = sorted((b for b in _own_bindings(facts, device) if b.expires_at > now), key=lambda b: b.at, reverse=True)
    sip_ip = live[0].source_ip if live else None
    apart = bool(fetch_ip and sip_ip and network(fetch_ip) != network(sip_ip))
    if len(runs) < 2 and not apart:
        return []
    # Back and forth, or three networks: the key may be used in two places.
    severity = "warning" if len(runs) >= 3 else "info"
    newest: dict[str, Access] = {}
    for a in fetches:
        newest.setdefault(a.source_ip, a)
    evidence = [_row(a.at, a.source_ip, a.user_agent, kind="fetch") for a in newest.values()]
    if live:
        evidence.append({**_binding_row(live[0], now), "kind": "binding"})
    addresses = list(newest) + ([sip_ip] if sip_ip and sip_ip not in newest else [])
    if fetch_ip and fetch_ip not in addresses:
        addresses.insert(0, fetch_ip)
    params = {"addresses": ", ".join(addresses), "fetch_ip": fetch_ip, "sip_ip": sip_ip}
    return [Finding("fetched_from_unusual_address", severity, params, tuple(evidence), None,
                    f"python -m core device show {device.id}")]  # fmt: skip


def _old_key(facts: Facts, device: DeviceFacts, fetched_at: datetime | None) -> list[Finding]:
    """Requests with a key a Nouveau clé retired: the phone still has its old address."""
    if not facts.old_key_requests or facts.now - facts.old_key_requests[0].at > OLD_KEY_RECENT:
        return []  # none, or history only (the timeline has them)
    newest = facts.old_key_requests[0]
    # Newest rotation before that request (else the newest one: a request's key is at least that old).
    rotated = next((r for r in facts.key_rotations if r <= newest.at), facts.key_rotations[0] if facts.key_rotations
                   else None)  # fmt: skip
    # A fetch with a current key between the rotation and that request: the phone had its new address, and
    # something else (a second phone, a copied configuration) still asks for the old one: a warning.
    took_new = any(a.reason == event_kinds.OK and (rotated is None or a.at > rotated) and a.at < newest.at
                   for a in facts.accesses)  # fmt: skip
    if not took_new and fetched_at is not None and fetched_at > newest.at:
        return []  # the phone took its new address after its last old request: solved (the timeline keeps it)
    severity = "warning" if took_new else "fault"  # else nothing fetched since: stuck on the old address
    params = {"date": _iso(rotated), "count": len(facts.old_key_requests), "last": _iso(newest.at)}
    evidence = tuple(_row(a.at, a.source_ip, a.user_agent, status=a.status, reason=a.reason)
                     for a in facts.old_key_requests)  # fmt: skip
    return [Finding("old_key_used", severity, params, evidence, "setup", f"python -m core device show {device.id}")]


def _auth_failing(facts: Facts, device: DeviceFacts) -> list[Finding]:
    """Failed REGISTERs of the line's user name that are this phone's: not those matched to another
    device, and, while it is registered, only those from its own binding's address and port after its
    last refresh (another phone behind the same NAT, or a guesser elsewhere, is not this one)."""
    failures = [f for f in facts.auth_failures if f.device_id in (None, device.id)]
    live = _live(facts, device)
    if live:
        refreshed = max(b.at for b in live)
        sources = {(b.source_ip, b.source_port) for b in live}
        failures = [f for f in failures if f.at > refreshed and (f.source_ip, f.source_port) in sources]
    if not failures:
        return []
    return [Finding("auth_failing", "warning" if live else "fault",
                    {"count": len(failures), "last": _iso(failures[0].at)},
                    tuple(_row(f.at, f.source_ip, f.user_agent, port=f.source_port) for f in failures),
                    "resync", f"python -m core device resync {device.id}")]  # fmt: skip


def _findings(facts: Facts) -> list[Finding]:
    d, model, now = facts.device, facts.model, facts.now
    kind = model.kind if model is not None else ""
    out: list[Finding] = []
    fetched_at = _last_fetch_at(facts)
    refusals = [a for a in facts.accesses if a.status >= 400]

    if model is not None and model.has_url and fetched_at is None:
        tried = tuple(_row(a.at, a.source_ip, a.user_agent, status=a.status, reason=a.reason) for a in facts.accesses)
        out.append(Finding("never_fetched", "fault", {"tries": len(tried)}, tried, "setup",
                           f"python -m core device show {d.id}"))  # fmt: skip

    out += _old_key(facts, d, fetched_at)

    mismatches = [a for a in refusals if a.reason == event_kinds.KEY_MAC_MISMATCH]
    if mismatches:
        newest = mismatches[0]
        # Refused after the last good fetch (or with none): the phone asking is not the one set up.
        fault = fetched_at is None or newest.at > fetched_at
        evidence = tuple(_row(a.at, a.source_ip, a.user_agent, ua_mac=find_mac(a.user_agent)) for a in mismatches)
        out.append(Finding("mac_mismatch", "fault" if fault else "warning",
                           {"count": len(mismatches), "mac": d.mac or "", "ua_mac": find_mac(newest.user_agent) or ""},
                           evidence, "fix_mac", f"python -m core device set {d.id} --mac MAC"))  # fmt: skip

    if fetched_at is not None and d.updated_at > fetched_at:
        resync = bool(model and model.resync_event)
        out.append(Finding("pending_changes", "warning", {"changed": _iso(d.updated_at), "fetched": _iso(fetched_at)},
                           (_row(fetched_at, d.last_access_ip, d.last_access_ua, changed=_iso(d.updated_at)),),
                           "resync" if resync else None,
                           f"python -m core device resync {d.id}" if resync else None))  # fmt: skip

    if model is not None and model.registers:
        if not facts.registrar_running:
            out.append(Finding("registrar_not_running", "warning", {}, (), None, "python -m core serve"))
        out += _registration_findings(facts, d, fetched_at)
        out += _stale_bindings(facts, d)
        out += _auth_failing(facts, d)
        if model.has_url:
            out += _unusual_address(facts, d, fetched_at)

    if kind == "dect_handset":
        if facts.base is None:
            out.append(Finding("handset_without_base", "fault", {}, (), "attach_base",
                               f"python -m core device set {d.id} --base BASE_ID"))  # fmt: skip
        else:
            base = facts.base
            base_fetch = base.last_access_at
            booting = base_fetch is not None and now - base_fetch <= BOOT_GRACE
            # With the registrar down the base cannot be registered: online is then its fetch alone.
            base_live = bool(_live(facts, base)) or not facts.registrar_running
            if base_fetch is None or (not base_live and not booting):
                out.append(Finding("base_offline", "fault", {"base": base.id, "fetched": _iso(base_fetch)},
                                   (_row(base_fetch, base.last_access_ip, base.last_access_ua, device=base.id),),
                                   None, f"python -m core device diagnose {base.id}"))  # fmt: skip

    if facts.jobs:
        job = facts.jobs[0]
        evidence = (_row(job.updated_at, None, None, service=job.service, action=job.action, state=job.state,
                         attempts=job.attempts, error=job.error),)  # fmt: skip
        params = {"service": job.service, "action": job.action, "attempts": job.attempts}
        if job.state == "pending":
            severity = "warning" if job.action == "register" else "info"
            out.append(Finding("redirection_pending", severity, params, evidence, "setup", None))
        elif job.state == "failed":
            severity = "fault" if job.action == "register" else "warning"
            out.append(Finding("redirection_failed", severity, {**params, "error": job.error}, evidence, "setup",
                               f"python -m core device show {d.id}"))  # fmt: skip

    if facts.pstn_blocked:
        out.append(Finding("line_blocked", "warning", {"line": facts.line_number, "enforced_by": block_enforced_by()},
                           (), "unblock",
                           f"python -m core line unblock {facts.line_number}"))  # fmt: skip

    # One finding per banned address (lifting it lifts every scope): the widest scope, the latest end.
    for ip in dict.fromkeys(b.source_ip for b in facts.bans):
        bans = [b for b in facts.bans if b.source_ip == ip]
        scopes = {b.scope for b in bans}
        scope = "all" if "all" in scopes or len(scopes) > 1 else scopes.pop()
        until = max(b.expires_at for b in bans)
        evidence = tuple(_row(None, ip, None, scope=b.scope, reason=b.reason, expires_at=_iso(b.expires_at))
                         for b in bans)  # fmt: skip
        out.append(Finding("source_banned", "fault", {"ip": ip, "scope": scope, "until": _iso(until)}, evidence,
                           "unban", f"python -m core ban lift {ip}"))  # fmt: skip

    if facts.commands:
        cmd = facts.commands[0]
        # A phone that fetched after the request did what was asked, whatever the NOTIFY's answer.
        if cmd.state in FAILED_COMMANDS and (fetched_at is None or fetched_at < cmd.requested_at):
            out.append(Finding("reboot_failed", "warning", {"action": cmd.action, "state": cmd.state},
                               (_row(cmd.requested_at, None, None, action=cmd.action, state=cmd.state,
                                     result=cmd.result, finished_at=_iso(cmd.finished_at)),),
                               cmd.action, f"python -m core device {cmd.action} {d.id} --wait 10"))  # fmt: skip
    return out


def _timeline(facts: Facts) -> list[dict[str, Any]]:
    now, rows = facts.now, []
    # The old-key requests read apart, but those already among the newest accesses.
    seen = set(facts.accesses)
    for a in (*facts.accesses, *(a for a in facts.old_key_requests if a not in seen)):
        kind = "fetch" if a.reason == event_kinds.OK else "bootstrap" if a.reason == event_kinds.BOOTSTRAP else (
            "refusal" if a.status >= 400 else "access")  # fmt: skip
        rows.append(_row(a.at, a.source_ip, a.user_agent, kind=kind, status=a.status, reason=a.reason))
    for at in facts.key_rotations:  # when, never the key or its hash
        rows.append(_row(at, None, None, kind="key_rotation"))
    owners = [facts.device] if facts.base is None else [facts.device, facts.base]
    for owner in owners:
        for b in _own_bindings(facts, owner):
            rows.append({**_binding_row(b, now), "kind": "binding", "device": owner.id})
        for e in _own_history(facts, owner):
            rows.append({**_event_row(e), "device": owner.id})
    for f in facts.auth_failures:
        if f.device_id in (None, facts.device.id) or (facts.base is not None and f.device_id == facts.base.id):
            rows.append(_row(f.at, f.source_ip, f.user_agent, kind="auth_failed", port=f.source_port))
    for c in facts.commands:
        rows.append(_row(c.requested_at, None, None, kind="command", action=c.action, state=c.state,
                         result=c.result, finished_at=_iso(c.finished_at)))  # fmt: skip
    for j in facts.jobs:
        rows.append(_row(j.updated_at, None, None, kind="redirection", service=j.service, action=j.action,
                         state=j.state, error=j.error))  # fmt: skip
    return sorted(rows, key=lambda r: r["at"] or "", reverse=True)


def diagnose(facts: Facts) -> Diagnosis:
    """The verdict and findings of `facts`, worst first; no I/O, no clock (facts.now is the time)."""

    def rank(f: Finding) -> tuple[int, int]:
        cause = CAUSES_FIRST.index(f.code) if f.code in CAUSES_FIRST else len(CAUSES_FIRST)
        return -SEVERITIES.index(f.severity), cause

    findings = sorted(_findings(facts), key=rank)
    worst = {f.severity for f in findings}
    verdict = "fault" if "fault" in worst else "warning" if "warning" in worst else "ok"
    return Diagnosis(facts.device.id, verdict, tuple(findings), tuple(_timeline(facts)))


def diagnose_device(session: Session, actor: Actor, device_id: int, now: datetime) -> Diagnosis:
    return diagnose(load_facts(session, actor, device_id, now))
