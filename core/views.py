"""Plain-dict views of ORM rows for the CLI, the dashboard and JSON. Never a secret in here."""

from __future__ import annotations

from typing import Any

from core.catalogue import default_catalogue
from core.models import Device, FunctionKey, Line, Vpbx
from core.settings import current_settings
from core.urls import device_url


def vpbx_view(v: Vpbx) -> dict[str, Any]:
    return {"id": v.id, "name": v.name, "sip_domain": v.sip_domain}


def line_view(line: Line) -> dict[str, Any]:
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
        "devices": len(line.devices),
    }


def device_view(d: Device) -> dict[str, Any]:
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
        "handsets": [h.id for h in d.handsets],
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
