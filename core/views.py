"""Plain-dict views of ORM rows for the CLI, the dashboard and JSON. Never a secret in here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

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


def device_view(d: Device, handsets: list[int] | None = None) -> dict[str, Any]:
    """`handsets` (ids) from `device_views`' one query spares the lazy `d.handsets` per device."""
    model = default_catalogue().get(d.model_id)
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
        "handsets": [h.id for h in d.handsets] if handsets is None else handsets,
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
    """`device_view` of many devices with one more statement (per 500 DECT bases), not one per device.

    Callers load the devices with their line and vPBX (joined, or already in the session); only DECT
    bases have handsets (a handset's base must be a compatible base), so only theirs are read.
    """
    catalogue = default_catalogue()
    bases = [d.id for d in devices if (m := catalogue.get(d.model_id)) is None or m.kind == "dect_base"]
    handsets: dict[int | None, list[int]] = {base_id: [] for base_id in bases}  # keys: the IN list's ids
    for start in range(0, len(bases), IN_CHUNK):
        chunk = bases[start : start + IN_CHUNK]
        query = select(Device.base_station_id, Device.id).where(Device.base_station_id.in_(chunk)).order_by(Device.id)
        for base_id, handset_id in session.execute(query):
            handsets[base_id].append(handset_id)
    return [device_view(d, handsets.get(d.id, [])) for d in devices]
