"""The manual's procedure for a line whose data leaked or is abused ("Procédure en cas de perte de données
critiques et d'utilisation abusive"), as a workflow that resumes where it stopped (issue 13, point 3):

    block PSTN -> new SIP credentials -> "Nouveau clé" for every device (keys kept) -> push each device
    its new configuration -> verify each device fetched with its new key and registered with the new
    credentials -> unblock (unless the line was blocked before)

Each step's time is a column of `fraud_response`, so `advance` after a restart runs the next step
due; every step is audited (`line.respond.<step>`, no secret). Pushing, per device:
- registered (a live binding the registrar matches to it) and its model has a resync event: a resync
  NOTIFY. Its phone then asks its *old* URL; a `key_handover` lets that one request, from the address the
  binding had, get the secret-free bootstrap pointing at the new key (core.provisioning). A second
  resync, once the handover was used, makes it fetch the new key's file;
- else a manufacturer redirection service for its model and a MAC: Provisioning MAC "once" again, the
  MAC queued at the service (a phone reset to factory settings is sent to its bootstrap);
- else manual: the Configuration manuelle steps, done by the customer.
A DECT base of ANOTHER line carrying a handset of this line writes the handset's SIP account in its own file:
it is pushed and verified like the line's devices (a fetch after the change, this line's account registered
with the new password), but its key is left alone: it is the other customer's device (`other_line` in the view).
The push waits until the registrar has loaded the new credentials (`CREDENTIALS_SETTLE`), so a phone
re-registering after its resync shows the new password, not the old one still in the registrar's memory.

An end user may only ask for it ("I lost my data", `request`): their administrator gets a high alert
(`data_loss_reported`) and starts the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import audit, device_commands, devices, lines
from core.alert_rules import BY_CODE
from core.alerts import clean_note
from core.call_control import block_enforced_by
from core.catalogue import default_catalogue
from core.credentials import ProvisioningMac, key_hash
from core.errors import NotFound, ValidationError
from core.models import (
    AccessLog,
    Alert,
    Device,
    FraudResponse,
    KeyHandover,
    Line,
    Registration,
    ResponseDevice,
)
from core.permissions import BLOCK_ROLES, Actor, require_line, require_role
from core.registrations import match_device

RESPOND_ROLES = BLOCK_ROLES  # who runs it; an end user only asks (request)
STEPS = ("block", "credentials", "keys", "push", "verify", "unblock")
REQUESTED, RUNNING, DONE = "requested", "running", "done"
HANDOVER_SECONDS = 900  # how long a resynced phone may use its old URL once
CREDENTIALS_SETTLE = 6.0  # seconds: the registrar reloads credentials every 5 s (core.sip.service)
NOTIFY, REDIRECTION, MANUAL, NONE = "notify", "redirection", "manual", "none"
_DONE_AT = {"block": "blocked_at", "credentials": "credentials_at", "keys": "keys_at", "push": "pushed_at",
            "verify": "verified_at", "unblock": "unblocked_at"}  # fmt: skip


@dataclass(frozen=True)
class Waiting:
    """Why the next step cannot run yet (the CLI and the page say it and poll)."""

    step: str
    why: str  # credentials_loading | devices_left


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat(timespec="seconds") if at else None


def _live_run(session: Session, line_id: int) -> FraudResponse | None:
    return session.scalar(
        select(FraudResponse)
        .where(FraudResponse.line_id == line_id, FraudResponse.state.in_((REQUESTED, RUNNING)))
        .order_by(FraudResponse.id.desc())
    )


def _get(session: Session, actor: Actor, response_id: int, lock: bool = False) -> FraudResponse:
    """`lock`: the row locked for the transaction (PostgreSQL), so two tabs advancing one run at once cannot
    both carry out a step (SQLite serialises writers: the later one fails on its stale snapshot instead)."""
    stmt = select(FraudResponse).where(FraudResponse.id == response_id)
    run = session.scalar(stmt.with_for_update() if lock else stmt)
    if run is None:
        raise NotFound("response_not_found", "response")
    require_line(actor, session.get(Line, run.line_id))
    return run


def next_step(run: FraudResponse) -> str | None:
    for step in STEPS:
        if getattr(run, _DONE_AT[step]) is None:
            return step
    return None


# --- starting ------------------------------------------------------------------------------------------------


def request(session: Session, actor: Actor, line_ref: int | str, note: str | None = None,
            now: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """ "I lost my data": a user (their own line) or an administrator asks for the procedure; the line's
    administrators get a high `data_loss_reported` alert. Asking again while one is open changes nothing."""
    line = lines.find_line(session, actor, line_ref)
    text = clean_note(note)
    run = _live_run(session, line.id)
    if run is None:
        at = _now(now)
        run = FraudResponse(line_id=line.id, state=REQUESTED, requested_by=actor.name, requested_at=at, note=text)
        session.add(run)
        session.flush()
        _report_alert(session, line, run, actor, at)
        audit.record(session, actor, "line.respond.request", "line", line.id, number=line.number, response=run.id)
    return view(session, run)


def _report_alert(session: Session, line: Line, run: FraudResponse, actor: Actor, at: datetime) -> None:
    rule = BY_CODE["data_loss_reported"]
    subject = f"line:{line.id}"
    live = session.scalar(select(Alert).where(Alert.rule == rule.code, Alert.subject == subject,
                                              Alert.state != "resolved"))  # fmt: skip
    if live is not None:
        live.count += 1
        live.last_seen = at
        return
    detail = {"requested_by": actor.name, "response": run.id, "number": line.number}
    session.add(Alert(rule=rule.code, severity=rule.severity, subject=subject, state="open", vpbx_id=line.vpbx_id,
                      line_id=line.id, source_ip="", detail=json.dumps(detail), first_seen=at, last_seen=at,
                      count=1, acted_by="", note=""))  # fmt: skip


def start(session: Session, actor: Actor, line_ref: int | str, now: datetime | None = None) -> dict[str, Any]:
    """Start the procedure for a line (or take up its requested or unfinished run); runs nothing yet."""
    require_role(actor, *RESPOND_ROLES, doing="respond_lines")
    line = lines.find_line(session, actor, line_ref)
    run = _live_run(session, line.id)
    if run is None:
        run = FraudResponse(line_id=line.id, state=RUNNING, note="")
        session.add(run)
    if not run.started_at:
        run.state, run.started_by, run.started_at = RUNNING, actor.name, _now(now)
        session.flush()
        audit.record(session, actor, "line.respond.start", "line", line.id, number=line.number, response=run.id)
    return view(session, run)


# --- the steps -------------------------------------------------------------------------------------------------


def advance(session: Session, actor: Actor, response_id: int, now: datetime | None = None,
            until: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Run the steps that are due, in order, up to `until` (included; None: as far as they go). A step that
    must wait (the registrar loading the new credentials, devices not verified yet) stops the run there;
    calling again later goes on. Returns the run's view, with `waiting` saying what it waits for."""
    require_role(actor, *RESPOND_ROLES, doing="respond_lines")
    if until is not None and until not in STEPS:
        raise ValidationError("one_of", "step", choices=", ".join(STEPS))
    run = _get(session, actor, response_id, lock=True)
    if run.state != RUNNING:
        raise ValidationError("response_not_running", "response")
    at = _now(now)
    waiting: Waiting | None = None
    while (step := next_step(run)) is not None:
        waiting = _STEP[step](session, actor, run, at)
        if waiting is not None:
            break
        setattr(run, _DONE_AT[step], at)
        audit.record(session, actor, f"line.respond.{step}", "line", run.line_id, response=run.id)
        if step == until:
            break
    if next_step(run) is None and run.state == RUNNING:
        run.state, run.finished_at = DONE, at
        _resolve_report(session, run, actor, at)
    session.flush()
    out = view(session, run, at)
    out["waiting"] = None if waiting is None else {"step": waiting.step, "why": waiting.why}
    return out


def _block(session: Session, actor: Actor, run: FraudResponse, now: datetime) -> Waiting | None:
    line = session.get(Line, run.line_id)
    assert line is not None
    run.was_blocked = line.pstn_blocked
    lines.set_blocked(session, actor, line.id, True)
    return None


def _credentials(session: Session, actor: Actor, run: FraudResponse, now: datetime) -> Waiting | None:
    lines.new_sip_credentials(session, actor, run.line_id)
    return None


def _carriers(session: Session, line_id: int) -> list[Device]:
    """The DECT bases of OTHER lines that carry a handset of this line: the handset's SIP account is written in
    the base's file (core.devices.check_base), so the base registers it and must get the new credentials. The
    base belongs to the other line's customer: its key is not this procedure's to change (one statement)."""
    handset_bases = select(Device.base_station_id).where(Device.line_id == line_id, Device.base_station_id.is_not(None))
    return list(
        session.scalars(
            select(Device).where(Device.id.in_(handset_bases), Device.line_id != line_id).order_by(Device.id)
        )
    )


def _bindings(
    session: Session, line_id: int, now: datetime, carriers: list[Device] | None = None
) -> list[tuple[Registration, int | None]]:
    """The line's live bindings, each with the device the registrar would match it to; `carriers` (bases of
    other lines carrying this line's handsets) are candidates too: they register this line's account."""
    devs = [(d.id, d.mac, d.last_access_ip) for d in session.scalars(select(Device).where(Device.line_id == line_id))]
    devs += [(d.id, d.mac, d.last_access_ip) for d in carriers or ()]
    rows = session.scalars(select(Registration).where(Registration.line_id == line_id, Registration.expires_at > now))
    out = []
    for r in rows:
        matched = match_device(r.user_agent, r.source_ip, devs)
        out.append((r, matched if matched is not None else (devs[0][0] if len(devs) == 1 else None)))
    return out


def _keys(session: Session, actor: Actor, run: FraudResponse, now: datetime) -> Waiting | None:
    """Nouveau clé for every device with a URL (keys kept); a handover for each registered one."""
    catalogue = default_catalogue()
    bound = {device_id: r.source_ip for r, device_id in _bindings(session, run.line_id, now) if device_id}
    for device in session.scalars(select(Device).where(Device.line_id == run.line_id).order_by(Device.id)).all():
        model = catalogue.get(device.model_id)
        if device.access_key is None or model is None or not model.has_url:
            session.add(ResponseDevice(response_id=run.id, device_id=device.id, push=NONE))
            continue
        old = key_hash(device.access_key)
        devices.new_key(session, actor, device.id)
        if device.id in bound and device.mac:
            session.add(KeyHandover(device_id=device.id, key_hash=old, source_ip=bound[device.id],
                                    expires_at=now + timedelta(seconds=HANDOVER_SECONDS)))  # fmt: skip
        session.add(ResponseDevice(response_id=run.id, device_id=device.id))
    for base in _carriers(session, run.line_id):  # re-rendered by the new credentials (lines.bump_config), key kept
        session.add(ResponseDevice(response_id=run.id, device_id=base.id))
    session.flush()
    return None


def _parts(session: Session, run: FraudResponse) -> list[ResponseDevice]:
    return list(session.scalars(select(ResponseDevice).where(ResponseDevice.response_id == run.id)
                                .order_by(ResponseDevice.id)))  # fmt: skip


def _resync(session: Session, actor: Actor, part: ResponseDevice) -> bool:
    try:
        cmd = device_commands.request_command(session, actor, part.device_id or 0, "resync")
    except (ValidationError, NotFound):
        return False
    part.command_ids = ",".join(x for x in (part.command_ids, str(cmd["id"])) if x)
    return True


def _push(session: Session, actor: Actor, run: FraudResponse, now: datetime) -> Waiting | None:
    if run.credentials_at is not None and now < run.credentials_at + timedelta(seconds=CREDENTIALS_SETTLE):
        return Waiting("push", "credentials_loading")
    catalogue = default_catalogue()
    bound = {device_id for _, device_id in _bindings(session, run.line_id, now) if device_id}
    for base in _carriers(session, run.line_id):
        # The registrar sends a base's NOTIFY over the bindings of the base's own line (core.sip.service).
        bound |= {device_id for _, device_id in _bindings(session, base.line_id, now) if device_id == base.id}
    for part in _parts(session, run):
        device = session.get(Device, part.device_id) if part.device_id else None
        if device is None or part.push == NONE:
            part.push = part.push or NONE
            continue
        model = catalogue.get(device.model_id)
        if device.id in bound and model is not None and model.resync_event and _resync(session, actor, part):
            part.push = NOTIFY
        elif model is not None and model.redirection and device.mac:
            if device.provisioning_mac == ProvisioningMac.DONE:
                devices.provisioning_once_more(session, actor, device.id)
            elif device.provisioning_mac == ProvisioningMac.NO:
                devices.update_device(session, actor, device.id, provisioning_mac="once")
            part.push = REDIRECTION
        else:
            part.push = MANUAL
    return None


def _observe(session: Session, run: FraudResponse, parts: list[ResponseDevice], now: datetime) -> None:
    """Record, per device, its first fetch with the new key (a carrying base: its first fetch since) and its first
    binding with the new password."""
    ids = [p.device_id for p in parts if p.device_id and p.push != NONE]
    if not ids or run.keys_at is None or run.credentials_at is None:
        return
    fetched = dict(
        session.execute(
            select(AccessLog.device_id, func.min(AccessLog.at))
            .where(AccessLog.device_id.in_(ids), AccessLog.reason == "ok", AccessLog.at >= run.keys_at)
            .group_by(AccessLog.device_id)
        ).all()
    )
    settled = run.credentials_at + timedelta(seconds=CREDENTIALS_SETTLE)
    registered: dict[int, datetime] = {}
    # A carrying base's binding of this line's account shows the new password too; expired since: seen too.
    for r, device_id in _bindings(session, run.line_id, now - timedelta(days=1), _carriers(session, run.line_id)):
        if device_id and r.last_modified >= settled:
            registered[device_id] = min(r.last_modified, registered.get(device_id, r.last_modified))
    for p in parts:
        if p.device_id in fetched and p.fetched_at is None:
            p.fetched_at = fetched[p.device_id]
        if p.device_id in registered and p.registered_at is None:
            p.registered_at = registered[p.device_id]


def _handover_used(session: Session, device_id: int, since: datetime) -> bool:
    n = session.scalar(
        select(func.count()).select_from(KeyHandover)
        .where(KeyHandover.device_id == device_id, KeyHandover.used_at.is_not(None), KeyHandover.used_at >= since)
    )  # fmt: skip
    return bool(n)


def _verify(session: Session, actor: Actor, run: FraudResponse, now: datetime) -> Waiting | None:
    parts = _parts(session, run)
    _observe(session, run, parts, now)
    for p in parts:
        # The bootstrap reached the phone through its old URL: a second resync fetches the new key's file.
        if (p.push == NOTIFY and p.fetched_at is None and p.command_ids.count(",") == 0 and p.device_id
                and run.keys_at and _handover_used(session, p.device_id, run.keys_at)):  # fmt: skip
            _resync(session, actor, p)
    if any(_left(p) for p in parts):
        return Waiting("verify", "devices_left")
    return None


def _unblock(session: Session, actor: Actor, run: FraudResponse, now: datetime) -> Waiting | None:
    if not run.was_blocked:
        lines.set_blocked(session, actor, run.line_id, False)
    return None


_STEP = {"block": _block, "credentials": _credentials, "keys": _keys, "push": _push, "verify": _verify,
         "unblock": _unblock}  # fmt: skip


def _left(p: ResponseDevice) -> list[str]:
    """What a device still has to show: "fetch" (its new key), "register" (the new credentials)."""
    if p.push == NONE or p.skipped_by:
        return []
    return [w for w, at in (("fetch", p.fetched_at), ("register", p.registered_at)) if at is None]


def skip_device(session: Session, actor: Actor, response_id: int, device_id: int) -> dict[str, Any]:
    """Count a device as done by hand (a phone thrown away, or checked on site): audited with who."""
    require_role(actor, *RESPOND_ROLES, doing="respond_lines")
    run = _get(session, actor, response_id)
    part = session.scalar(select(ResponseDevice).where(ResponseDevice.response_id == run.id,
                                                       ResponseDevice.device_id == device_id))  # fmt: skip
    if part is None:
        raise NotFound("device_not_found", "device")
    part.skipped_by = actor.name
    audit.record(session, actor, "line.respond.skip_device", "device", device_id, response=run.id)
    session.flush()
    return view(session, run)


def _resolve_report(session: Session, run: FraudResponse, actor: Actor, at: datetime) -> None:
    for alert in session.scalars(select(Alert).where(Alert.rule == "data_loss_reported",
                                                     Alert.subject == f"line:{run.line_id}",
                                                     Alert.state != "resolved")):  # fmt: skip
        alert.state, alert.acted_by, alert.acted_at = "resolved", actor.name, at
        alert.note = f"procedure #{run.id} completed"


# --- reading --------------------------------------------------------------------------------------------------


def view(session: Session, run: FraudResponse, now: datetime | None = None) -> dict[str, Any]:
    line = session.get(Line, run.line_id)
    parts = _parts(session, run)
    found = {d.id: (d.label or d.model_id, d.line_id, number) for d, number in session.execute(
        select(Device, Line.number).join(Line, Line.id == Device.line_id)
        .where(Device.id.in_([p.device_id for p in parts if p.device_id])))}  # fmt: skip
    # `other_line`: a base of another line carrying this line's handsets (its key unchanged), that line's number.
    devs = [{"device_id": p.device_id, "label": found[p.device_id][0] if p.device_id in found else "",
             "other_line": found[p.device_id][2] if p.device_id in found and found[p.device_id][1] != run.line_id
             else None, "push": p.push, "resyncs": len([c for c in p.command_ids.split(",") if c]),
             "fetched_at": _iso(p.fetched_at), "registered_at": _iso(p.registered_at), "skipped_by": p.skipped_by,
             "left": _left(p)} for p in parts]  # fmt: skip
    return {
        "id": run.id, "line_id": run.line_id, "number": line.number if line else "", "state": run.state,
        "next_step": next_step(run), "requested_by": run.requested_by, "requested_at": _iso(run.requested_at),
        "started_by": run.started_by, "started_at": _iso(run.started_at),
        "steps": [{"step": s, "at": _iso(getattr(run, _DONE_AT[s]))} for s in STEPS],
        "devices": devs, "left": [d for d in devs if d["left"]], "pstn_blocked": bool(line and line.pstn_blocked),
        "pstn_block_enforced_by": block_enforced_by(),
        "finished_at": _iso(run.finished_at), "note": run.note,
    }  # fmt: skip


def status(session: Session, actor: Actor, line_ref: int | str) -> dict[str, Any]:
    """The line's open run (requested or running), else its newest one; NotFound if it never had one."""
    line = lines.find_line(session, actor, line_ref)
    run = _live_run(session, line.id) or session.scalar(
        select(FraudResponse).where(FraudResponse.line_id == line.id).order_by(FraudResponse.id.desc())
    )
    if run is None:
        raise NotFound("response_not_found", "response")
    return view(session, run)


def requests_waiting(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Runs asked by users and not started yet, for the administrator's page."""
    require_role(actor, *RESPOND_ROLES, doing="respond_lines")
    runs = session.scalars(select(FraudResponse).where(FraudResponse.state == REQUESTED).order_by(FraudResponse.id))
    out = []
    for run in runs:
        line = session.get(Line, run.line_id)
        if line is not None:
            try:
                require_line(actor, line)
            except NotFound:
                continue
            out.append(view(session, run))
    return out
