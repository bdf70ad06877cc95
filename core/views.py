"""Plain-dict views of ORM rows for the CLI, the dashboard and JSON. Never a secret in here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from core.call_control import block_enforced_by
from core.catalogue import default_catalogue
from core.models import Device, FunctionKey, Line, Vpbx
from core.render.urls import device_url
from core.settings import current_settings


def vpbx_view(v: Vpbx) -> dict[str, Any]:
    return {"id": v.id, "name": v.name, "sip_domain": v.sip_domain, "voicemail_access": v.voicemail_access}


def line_view(line: Line, device_count: int | None = None) -> dict[str, Any]:
    """`device_count` from a grouped query spares loading `line.devices` (a statement per line in a list)."""
    return {
        "id": line.id,
        "number": line.number,
        "extension": line.extension,
        "display_name": line.display_name,
        "vpbx": line.vpbx.name,
        "vpbx_id": line.vpbx_id,
        "sip_username": line.sip_username,
        "domain": line.vpbx.sip_domain,
        "pstn_blocked": line.pstn_blocked,
        "pstn_block_enforced_by": block_enforced_by(),  # None: the flag is set, nothing stops the calls
        "devices": len(line.devices) if device_count is None else device_count,
    }


def device_ref(d: Device) -> dict[str, Any]:
    """A device named in another's view (a handset's base, a base's handsets): what a support agent tells
    bases apart by (model, label, MAC) and the line it is on (a DECT system spans its vPBX's lines)."""
    model = default_catalogue().get(d.model_id)
    return {
        "id": d.id,
        "model_label": model.label if model else d.model_id,
        "label": d.label,
        "mac": d.mac,
        "line": d.line.number,
        "line_id": d.line_id,
        "extension": d.line.extension,
        "display_name": d.line.display_name,
    }


def device_view(d: Device, handsets: Sequence[Device] | None = None) -> dict[str, Any]:
    """`handsets` (loaded with their lines) from `device_views`' one query spares the lazy `d.handsets` per
    device; a handset's base comes from the session's identity map when `device_views` has loaded it."""
    model = default_catalogue().get(d.model_id)
    on_base = d.handsets if handsets is None else handsets
    return {
        "id": d.id,
        "line": d.line.number,
        "line_id": d.line_id,
        "extension": d.line.extension,
        "vpbx": d.line.vpbx.name,
        "model": d.model_id,
        "model_label": model.label if model else d.model_id,
        "vendor": model.vendor if model else None,
        "kind": model.kind if model else None,
        "family": model.family if model else None,
        "mac": d.mac,
        "provisioning_mac": d.provisioning_mac,
        "url": device_url(current_settings(), d),
        "base_station": d.base_station_id,
        "base": device_ref(d.base_station) if d.base_station is not None else None,
        "handsets": [h.id for h in on_base],
        "handset_details": [device_ref(h) for h in on_base],
        "max_handsets": model.max_handsets if model else 0,
        "label": d.label,
        "username": d.username,
        "expansion": {"model": d.expansion_model_id, "count": d.expansion_count} if d.expansion_model_id else None,
        "config_revision": d.config_revision,
        "last_access": (
            {"at": d.last_access_at.isoformat(), "ip": d.last_access_ip, "user_agent": d.last_access_ua}
            if d.last_access_at
            else None
        ),
    }


def key_view(k: FunctionKey) -> dict[str, Any]:
    return {"module": k.module, "index": k.index, "type": k.function, "value": k.value, "label": k.label}


IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's and PostgreSQL's bound-parameter limits


def device_views(session: Session, devices: Sequence[Device]) -> list[dict[str, Any]]:
    """`device_view` of many devices with a constant number of statements (per 500 ids), not one per device.

    Callers load the devices with their line and vPBX (joined, or already in the session). Only DECT
    bases have handsets (a handset's base must be a compatible base), so only theirs are read, each with
    its line (a base carries handsets of any line of its vPBX); a handset's base on a line outside the
    list is read with its line too, so `device_view` finds it in the identity map.
    """
    catalogue = default_catalogue()
    bases = [d.id for d in devices if (m := catalogue.get(d.model_id)) is None or m.kind == "dect_base"]
    handsets: dict[int | None, list[Device]] = {base_id: [] for base_id in bases}  # keys: the IN list's ids
    with_line = select(Device).join(Device.line).options(contains_eager(Device.line))
    for chunk in _chunks(bases):
        for handset in session.scalars(with_line.where(Device.base_station_id.in_(chunk)).order_by(Device.id)):
            handsets[handset.base_station_id].append(handset)
    listed = {d.id for d in devices}
    elsewhere = sorted({d.base_station_id for d in devices if d.base_station_id is not None} - listed)
    for chunk in _chunks(elsewhere):
        session.scalars(with_line.where(Device.id.in_(chunk))).all()
    return [device_view(d, handsets.get(d.id, [])) for d in devices]


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[start : start + IN_CHUNK] for start in range(0, len(ids), IN_CHUNK)]
