"""The vendor-neutral render context: one typed snapshot of a device, built before any template runs.

Templates only translate this into vendor syntax (the split: Python computes values, templates own
the syntax). Stored fields sit on `device`, `account`, `keys`...; computed values under `derived`.
Every text that came from a person is made single-line here, so no family can be given a newline,
whatever its escaping; XML families are autoescaped on top, key=value families filter on top.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.catalogue import Catalogue, DeviceModel
from core.key_functions import voicemail_code
from core.models import Device, Line
from core.render.urls import device_base_url, device_url
from core.settings import Settings

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: object) -> str:
    """Control characters (CR, LF, tab, NUL...) become one space: a value can never start a new line."""
    return _CONTROL.sub(" ", str(text)).strip()


@dataclass(frozen=True)
class SipAccount:
    slot: int  # account number on the device (1-based); a DECT base: the handset's slot
    user_name: str
    auth_name: str
    password: str
    display_name: str
    label: str
    number: str
    extension: str
    registrar: str  # settings.sip_host
    port: int
    transport: str  # udp | tcp | tls
    domain: str  # the SIP domain in the identity: the registrar host, as the built-in registrar expects


@dataclass(frozen=True)
class KeySlot:
    """One programmable key; unconfigured slots are function "none" so templates clear them."""

    module: int  # 0 = the phone, 1..n = expansion modules
    index: int  # 1-based on its module
    function: str
    value: str
    label: str
    account: int  # the account slot a line key shows (1 unless the value names another)


@dataclass(frozen=True)
class ModuleCtx:
    number: int  # 1-based position in the chain
    model: DeviceModel
    slots: tuple[KeySlot, ...]


@dataclass(frozen=True)
class HandsetCtx:
    slot: int  # 1-based position on the base
    device_id: int
    model: DeviceModel
    name: str
    account: SipAccount


@dataclass(frozen=True)
class DstPoint:
    month: int
    week: int  # 1..5, 5 = last week of the month
    weekday: int  # 0 = Sunday .. 6 = Saturday (POSIX numbering)
    hour: int


@dataclass(frozen=True)
class TimeCtx:
    zone: str  # IANA name, e.g. Europe/Zurich
    ntp_server: str
    utc_offset_minutes: int  # standard (winter) time
    dst_minutes: int  # how far summer time moves the clock (0 = no DST)
    posix: str  # POSIX TZ string, e.g. CET-1CEST,M3.5.0,M10.5.0/3
    dst_start: DstPoint | None
    dst_end: DstPoint | None


@dataclass(frozen=True)
class DeviceCtx:
    id: int
    model_id: str
    kind: str
    label: str
    admin_password: str
    web_user: str  # the "Nom d'utilisateur" of the device's user-level web login
    user_password: str
    mac: str | None  # upper case, 12 hex
    mac_lower: str | None
    mac_colon: str | None  # aa:bb:cc:dd:ee:ff


@dataclass(frozen=True)
class Derived:
    url: str  # <public>/<key>.cfg: where resyncs come back to
    base_url: str  # <public>/<key>/: for firmwares that append file names
    scheme: str
    host: str
    port: int
    host_port: str  # host[:port] (port left out when it is the scheme's default)
    key_path: str  # <key> (no slashes): the directory under which further files are asked
    file_name: str  # the file being rendered
    time: TimeCtx
    phonebook_url: str | None = None  # the vPBX phone book under this device's key (None: the family has none)
    phonebook_title: str = ""  # its name on the phone: the vPBX's


@dataclass(frozen=True)
class RenderContext:
    device: DeviceCtx
    model: DeviceModel
    account: SipAccount
    keys: tuple[KeySlot, ...]  # every slot of the phone itself, in order
    modules: tuple[ModuleCtx, ...]
    handsets: tuple[HandsetCtx, ...]
    derived: Derived


def sip_account(settings: Settings, line: Line, slot: int, name: str = "") -> SipAccount:
    display = one_line(line.display_name) or one_line(line.extension or line.number)
    return SipAccount(
        slot=slot,
        user_name=one_line(line.sip_username),
        auth_name=one_line(line.sip_username),
        password=one_line(line.sip_password),
        display_name=display,
        label=one_line(name) or display,
        number=one_line(line.number),
        extension=one_line(line.extension or ""),
        registrar=settings.sip_host,
        port=settings.sip_port,
        transport=settings.sip_transport,
        domain=settings.sip_host,
    )


def _slots(device: Device, module: int, count: int, voicemail: str) -> tuple[KeySlot, ...]:
    """`voicemail`: what a voicemail key left empty dials (the line's mailbox code, key_functions.voicemail_code)."""
    configured = {k.index: k for k in device.keys if k.module == module}
    out = []
    for index in range(1, count + 1):
        k = configured.get(index)
        if k is None:
            out.append(KeySlot(module, index, "none", "", "", 1))
            continue
        value = one_line(k.value) or (one_line(voicemail) if k.function == "voicemail" else "")
        account = int(value) if k.function == "line" and value.isdigit() and int(value) > 0 else 1
        out.append(KeySlot(module, index, k.function, value, one_line(k.label), account))
    return tuple(out)


def _tz_posix(zone: str) -> str:
    """The POSIX rule in the TZif footer: the zone's current rule, exactly as the tz database has it."""
    for root in zoneinfo.TZPATH:
        path = Path(root) / zone
        if path.is_file():
            data = path.read_bytes().rstrip(b"\n")
            if data.startswith(b"TZif") and b"\n" in data:
                return data.rsplit(b"\n", 1)[-1].decode("ascii", "replace")
    return ""


_POSIX_DST = re.compile(r"^[^,]*,M(\d+)\.(\d)\.(\d)(?:/(\d+))?,M(\d+)\.(\d)\.(\d)(?:/(\d+))?$")


def time_context(settings: Settings) -> TimeCtx:
    zone = settings.timezone
    tz = zoneinfo.ZoneInfo(zone)
    year = datetime.now().year
    offsets = [datetime(year, m, 1, tzinfo=tz).utcoffset() for m in (1, 7)]
    winter, summer = (int(o.total_seconds() // 60) if o else 0 for o in offsets)
    standard = min(winter, summer)
    posix = _tz_posix(zone) or f"UTC{-standard // 60:+d}"
    m = _POSIX_DST.match(posix)
    start = end = None
    if m:
        g = m.groups()
        start = DstPoint(int(g[0]), int(g[1]), int(g[2]), int(g[3] or 2))
        end = DstPoint(int(g[4]), int(g[5]), int(g[6]), int(g[7] or 2))
    return TimeCtx(
        zone=zone,
        ntp_server=settings.ntp_server,
        utc_offset_minutes=standard,
        dst_minutes=abs(summer - winter),
        posix=posix,
        dst_start=start,
        dst_end=end,
    )


def derived_values(settings: Settings, device: Device, file_name: str, time: TimeCtx) -> Derived:
    url = device_url(settings, device)
    base = device_base_url(settings, device)
    assert url is not None and base is not None  # callers render only devices with a key
    parts = urlsplit(settings.public_base)
    default_port = 443 if parts.scheme == "https" else 80
    port = parts.port or default_port
    host = parts.hostname or settings.public_host
    return Derived(
        url=url,
        base_url=base,
        scheme=parts.scheme,
        host=host,
        port=port,
        host_port=host if port == default_port else f"{host}:{port}",
        key_path=f"{parts.path.strip('/')}/{device.access_key}".lstrip("/"),
        file_name=file_name,
        time=time,
    )


def build_context(
    settings: Settings,
    catalogue: Catalogue,
    device: Device,
    model: DeviceModel,
    file_name: str,
    base_handsets: Sequence[Device] | None = None,
) -> RenderContext:
    """`base_handsets`: a base's handsets with their lines already loaded (Renderer.render reads them in one
    statement); None reads `device.handsets` lazily (a statement per handset on another line)."""
    mac = device.mac
    line = device.line
    voicemail = voicemail_code(line.vpbx.voicemail_access, line.extension or line.number)
    modules = []
    module_model = catalogue.get(device.expansion_model_id or "")
    if module_model is not None:
        for n in range(1, device.expansion_count + 1):
            modules.append(ModuleCtx(n, module_model, _slots(device, n, module_model.keys, voicemail)))
    handsets = []
    on_base = device.handsets if base_handsets is None else base_handsets
    for slot, h in enumerate(on_base[: model.max_handsets], start=1):
        h_model = catalogue.get(h.model_id)
        if h_model is None:
            continue  # a model removed from the catalogue: the handset is left out, not guessed
        name = one_line(h.label) or one_line(h.line.display_name) or one_line(h.line.extension or h.line.number)
        handsets.append(HandsetCtx(slot, h.id, h_model, name, sip_account(settings, h.line, slot, name)))
    return RenderContext(
        device=DeviceCtx(
            id=device.id,
            model_id=model.id,
            kind=model.kind,
            label=one_line(device.label),
            admin_password=one_line(device.admin_password),
            web_user=one_line(device.username) or "user",
            user_password=one_line(device.user_password),
            mac=mac,
            mac_lower=mac.lower() if mac else None,
            mac_colon=":".join(mac[i : i + 2] for i in range(0, 12, 2)).lower() if mac else None,
        ),
        model=model,
        account=sip_account(settings, device.line, 1, device.label),
        keys=_slots(device, 0, model.keys, voicemail),
        modules=tuple(modules),
        handsets=tuple(handsets),
        derived=derived_values(settings, device, file_name, time_context(settings)),
    )


MASK = "********"  # what a hidden password reads as: never a valid device password (4-9 digits) nor SIP one


def mask_secrets(ctx: RenderContext, hidden: frozenset[str]) -> RenderContext:
    """The context with the `hidden` passwords (core.permissions.DEVICE_SECRETS names) replaced by MASK before
    any template runs, so no template, filter or encoding can let one through. "sip_password" masks every SIP
    account anywhere in the context (a base's handsets too): the walk finds them by type, not by place."""
    return ctx if not hidden else _masked(ctx, hidden)


def _masked(value: Any, hidden: frozenset[str]) -> Any:
    """`value` with the hidden passwords masked; the very same object when nothing in it changed."""
    if isinstance(value, SipAccount):
        return replace(value, password=MASK) if "sip_password" in hidden else value
    if isinstance(value, DeviceCtx):
        masked: dict[str, Any] = {name: MASK for name in ("admin_password", "user_password") if name in hidden}
        return replace(value, **masked)
    if isinstance(value, tuple):
        items = tuple(_masked(v, hidden) for v in value)
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    if is_dataclass(value) and not isinstance(value, type):
        changed = {}
        for f in fields(value):
            old = getattr(value, f.name)
            if (new := _masked(old, hidden)) is not old:
                changed[f.name] = new
        return replace(value, **changed) if changed else value
    return value
