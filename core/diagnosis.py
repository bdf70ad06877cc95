"""Why doesn't this phone work? (issue 12): one device's facts, then pure rules over them.

`load_facts(session, actor, device_id, now)` reads everything the rules need in a constant number
of indexed statements (tests/core/test_diagnosis.py counts them): the device with its line, the
line's devices (its base and handsets live on the same line), the device's newest access-log rows
(device_id index), its last successful fetch, the line's bindings, the failed SIP authentications
for the line's user name (kind+at index, last 24 h), its reboot/resync commands, its redirection
jobs and the bans covering its addresses. `diagnose(facts)` does no I/O: each finding has a stable
code, a severity, fr/en text (core.messages.FINDINGS), evidence rows (time, address, User-Agent;
never a secret: Facts holds none) and the action that fixes it (a dashboard button of the device
view, a CLI command).

not yet: old_key_used (needs the hashes of retired keys), stale_binding and
fetched_from_unusual_address (need the registration history), NOTIFY outcomes beyond the
device_command rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from core import event_kinds
from core.catalogue import DeviceModel, default_catalogue
from core.credentials import find_mac
from core.device_commands import registered_devices
from core.messages import finding_text
from core.models import AccessLog, Ban, Device, DeviceCommand, RedirectionJob, Registration, SecurityEvent
from core.permissions import Actor, require_device
from core.registrations import match_device

ACCESS_ROWS = 50  # newest access-log rows read for evidence and the timeline
AUTH_WINDOW = timedelta(hours=24)
AUTH_ROWS = 20
BINDING_ROWS = 50
COMMAND_ROWS = 10
JOB_ROWS = 10
# A phone that fetched this recently may still be booting: not registered yet is no fault.
BOOT_GRACE = timedelta(minutes=2)
FAILED_COMMANDS = ("failed", "timeout", "not_registered")
SEVERITIES = ("info", "warning", "fault")  # verdict: the worst of fault/warning, else ok


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


@dataclass(frozen=True)
class AuthFailure:
    at: datetime
    source_ip: str
    source_port: int | None
    user_agent: str


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
    auth_failures: tuple[AuthFailure, ...]  # newest first
    commands: tuple[Command, ...]  # newest first
    jobs: tuple[Job, ...]  # newest first
    bans: tuple[BanFact, ...]  # active bans of the device's addresses


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


def load_facts(session: Session, actor: Actor, device_id: int, now: datetime) -> Facts:
    """The facts of one device the actor may see (else the NotFound of a missing device)."""
    stmt = select(Device).join(Device.line).options(contains_eager(Device.line)).where(Device.id == int(device_id))
    device = require_device(actor, session.scalars(stmt).one_or_none())
    line = device.line
    catalogue = default_catalogue()
    on_line = session.scalars(select(Device).where(Device.line_id == line.id).order_by(Device.id)).all()
    candidates = [(d.id, d.mac, d.last_access_ip) for d in on_line]
    registering = tuple(d.id for d in on_line if (m := catalogue.get(d.model_id)) is not None and m.registers)
    base = next((d for d in on_line if d.id == device.base_station_id), None)
    accesses = session.scalars(
        select(AccessLog).where(AccessLog.device_id == device.id).order_by(AccessLog.id.desc()).limit(ACCESS_ROWS)
    ).all()
    last_fetch = session.scalars(
        select(AccessLog)
        .where(AccessLog.device_id == device.id, AccessLog.reason == event_kinds.OK)
        .order_by(AccessLog.id.desc())
        .limit(1)
    ).one_or_none()
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
        )  # fmt: skip
        for r in regs
    )
    failures = session.scalars(
        select(SecurityEvent)
        .where(SecurityEvent.kind == event_kinds.SIP_AUTH_FAILED, SecurityEvent.at >= now - AUTH_WINDOW)
        .where(SecurityEvent.username == line.sip_username)
        .order_by(SecurityEvent.at.desc())
        .limit(AUTH_ROWS)
    ).all()
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
    if last_fetch is not None:
        addresses.add(last_fetch.source_ip)
    wanted = sorted(a for a in addresses if a)
    bans = (
        session.scalars(
            select(Ban).where(Ban.source_ip.in_(wanted), Ban.expires_at > now).order_by(Ban.expires_at.desc())
        ).all()
        if wanted
        else []
    )
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
        last_fetch=_access(last_fetch) if last_fetch is not None else None,
        bindings=bindings,
        auth_failures=tuple(AuthFailure(e.at, e.source_ip, e.source_port, e.user_agent) for e in failures),
        commands=tuple(Command(c.action, c.state, c.result, c.requested_at, c.finished_at) for c in commands),
        jobs=tuple(Job(j.service, j.action, j.state, j.attempts, j.last_error, j.updated_at) for j in jobs),
        bans=tuple(BanFact(b.source_ip, b.scope, b.reason, b.expires_at) for b in bans),
    )


# --- the rules (pure) ---


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat(timespec="seconds") if at is not None else None


def _row(at: datetime | None, source_ip: str | None, user_agent: str | None, **more: Any) -> dict[str, Any]:
    return {"at": _iso(at), "source_ip": source_ip or "", "user_agent": user_agent or "", **more}


def _last_fetch_at(facts: Facts) -> datetime | None:
    """The newest successful fetch: the log's, or the device's last access once retention purged the log."""
    return facts.last_fetch.at if facts.last_fetch is not None else facts.device.last_access_at


def _own_bindings(facts: Facts, device: DeviceFacts) -> list[Binding]:
    """The bindings that belong to `device`: matched to it, or unmatched on a line where it is the only
    registering device (as the registrar matches before a NOTIFY: device_commands.registered_devices)."""
    return [
        b
        for b in facts.bindings
        if device.id in registered_devices([{"device": b.device_id}], list(facts.line_device_ids))
    ]


def _binding_row(b: Binding, now: datetime) -> dict[str, Any]:
    return _row(b.at, b.source_ip, b.user_agent, port=b.source_port, transport=b.transport,
                expires_at=_iso(b.expires_at), live=b.expires_at > now)  # fmt: skip


def _registration_findings(facts: Facts, device: DeviceFacts, fetched_at: datetime | None) -> list[Finding]:
    now, out = facts.now, []
    own = _own_bindings(facts, device)
    live = [b for b in own if b.expires_at > now]
    if live or fetched_at is None:
        return []
    diagnose_cmd = f"python -m core line show {facts.line_number}"
    if own:  # an expired binding the registrar has not purged yet
        last = max(own, key=lambda b: b.expires_at)
        out.append(Finding("registration_expired", "fault", {"since": _iso(last.expires_at), "ip": last.source_ip},
                           tuple(_binding_row(b, now) for b in own), "status", diagnose_cmd))  # fmt: skip
    elif now - fetched_at > BOOT_GRACE:
        out.append(Finding("fetched_not_registered", "fault", {"fetched": _iso(fetched_at)},
                           (_row(fetched_at, device.last_access_ip, device.last_access_ua),), "status",
                           diagnose_cmd))  # fmt: skip
    return out


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
        out += _registration_findings(facts, d, fetched_at)
        live = [b for b in _own_bindings(facts, d) if b.expires_at > now]
        if facts.auth_failures:
            failed = facts.auth_failures[0]
            recovered = any(b.at > failed.at for b in live)
            if not recovered:
                out.append(Finding("auth_failing", "warning" if live else "fault",
                                   {"count": len(facts.auth_failures), "last": _iso(failed.at)},
                                   tuple(_row(f.at, f.source_ip, f.user_agent, port=f.source_port)
                                         for f in facts.auth_failures),
                                   "resync", f"python -m core device resync {d.id}"))  # fmt: skip

    if kind == "dect_handset":
        if facts.base is None:
            out.append(Finding("handset_without_base", "fault", {}, (), "attach_base",
                               f"python -m core device set {d.id} --base BASE_ID"))  # fmt: skip
        else:
            base = facts.base
            base_fetch = base.last_access_at
            base_live = [b for b in _own_bindings(facts, base) if b.expires_at > now]
            booting = base_fetch is not None and now - base_fetch <= BOOT_GRACE
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
        out.append(Finding("line_blocked", "warning", {"line": facts.line_number}, (), "unblock",
                           f"python -m core line unblock {facts.line_number}"))  # fmt: skip

    for ban in facts.bans:
        out.append(Finding("source_banned", "fault", {"ip": ban.source_ip, "scope": ban.scope,
                                                      "until": _iso(ban.expires_at)},
                           (_row(None, ban.source_ip, None, scope=ban.scope, reason=ban.reason,
                                 expires_at=_iso(ban.expires_at)),), None, None))  # fmt: skip

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
    for a in facts.accesses:
        kind = "fetch" if a.reason == event_kinds.OK else "bootstrap" if a.reason == event_kinds.BOOTSTRAP else (
            "refusal" if a.status >= 400 else "access")  # fmt: skip
        rows.append(_row(a.at, a.source_ip, a.user_agent, kind=kind, status=a.status, reason=a.reason))
    owners = [facts.device] if facts.base is None else [facts.device, facts.base]
    for owner in owners:
        for b in _own_bindings(facts, owner):
            rows.append({**_binding_row(b, now), "kind": "binding", "device": owner.id})
    for f in facts.auth_failures:
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
    findings = sorted(_findings(facts), key=lambda f: -SEVERITIES.index(f.severity))
    worst = {f.severity for f in findings}
    verdict = "fault" if "fault" in worst else "warning" if "warning" in worst else "ok"
    return Diagnosis(facts.device.id, verdict, tuple(findings), tuple(_timeline(facts)))


def diagnose_device(session: Session, actor: Actor, device_id: int, now: datetime) -> Diagnosis:
    return diagnose(load_facts(session, actor, device_id, now))
