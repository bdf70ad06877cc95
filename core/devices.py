"""Device use cases ("Téléphones"): add, change, new key, Provisioning MAC, delete.

Every rule of a device's parameters (docs/ARCHITECTURE.md, "Where each rule lives") is enforced here
(through core.credentials for the value rules); every call takes the acting account and checks it may touch the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, contains_eager

from core import audit
from core.catalogue import DEVICE_KINDS, DeviceModel, default_catalogue
from core.credentials import (
    CHOSEN_PROVISIONING_MAC,
    ProvisioningMac,
    chosen_device_password,
    device_password,
    generated_device_password,
    key_hash,
    new_access_key,
    normalize_mac,
    provisioning_mac_state,
)
from core.dhcp import dhcp_for_model
from core.errors import NotFound, Problems, ValidationError
from core.lines import find_line
from core.models import Device, Line, RedirectionJob, RetiredKey
from core.permissions import Actor, can_see_line, require_device, require_new_key, scope_lines
from core.settings import current_settings
from core.views import device_view, device_views

DEVICE_LABEL_MAX = 100  # the admin's name for a device (the column's size); key labels have their own
USERNAME_MAX = 100
RedirectAction = Literal["register", "withdraw"]
_UNCHANGED = object()


def find_device(session: Session, actor: Actor, device_id: int) -> Device:
    return require_device(actor, session.get(Device, int(device_id)))


def _model(model_id: str, field: str = "model") -> DeviceModel:
    model = default_catalogue().get(model_id or "")
    if model is None:
        raise ValidationError("model_unknown", field, model=model_id)
    if model.kind not in DEVICE_KINDS:
        raise ValidationError("model_is_module", field, model=model.label)
    return model


find_model = _model  # the catalogue model of a new device, or its refusal (core.device_import too)


def _text(value: str | None, field: str, limit: int) -> str:
    text = (value or "").strip()
    if len(text) > limit:
        raise ValidationError("too_long", field, max=limit)
    if any(not c.isprintable() for c in text):
        raise ValidationError("control_chars", field)
    return text


def _mac(session: Session, value: str | None, vpbx_id: int, device_id: int | None) -> str | None:
    """The normalised MAC, unique within the vPBX only: a refusal for a MAC another tenant holds
    would tell any account that it exists there (the bootstrap copes with duplicates, directory.py)."""
    mac = normalize_mac(value)
    _mac_unique(session, mac, vpbx_id, device_id)
    return mac


def _mac_unique(session: Session, mac: str | None, vpbx_id: int, device_id: int | None) -> None:
    if mac is not None:
        same_vpbx = select(Device.id).join(Device.line).where(Line.vpbx_id == vpbx_id)
        other = session.scalar(same_vpbx.where(Device.mac == mac, Device.id != (device_id or -1)).limit(1))
        if other is not None:
            raise ValidationError("mac_taken", "mac", mac=mac)


def parse_expansion(model: DeviceModel, spec: str | None) -> tuple[str | None, int]:
    """`MODULE_ID:COUNT` (COUNT defaults to 1); empty means no module."""
    if spec is None or spec.strip() == "":
        return None, 0
    module_id, _, count_text = spec.strip().partition(":")
    if not model.expansion_modules:
        raise ValidationError("no_expansion", "expansion", model=model.label)
    if module_id not in model.expansion_modules:
        fits = ", ".join(model.expansion_modules)
        raise ValidationError("module_misfit", "expansion", module=module_id, model=model.label, modules=fits)
    module = default_catalogue().get(module_id)
    assert module is not None  # the catalogue cross-checks expansion_modules
    try:
        count = int(count_text or "1")
    except ValueError:
        raise ValidationError("module_count_invalid", "expansion", value=count_text) from None
    # A module named with a count of 0 is a contradiction, not "no module": refusing it keeps a chosen
    # module from vanishing behind a "saved" (issue 10); "no module" is the empty spec.
    if not 1 <= count <= module.max_modules:
        raise ValidationError(
            "module_count_range", "expansion", model=model.label, min=1, max=module.max_modules, module=module.model
        )
    return module_id, count


def model_fields(model: DeviceModel) -> frozenset[str]:
    """The parameters a model takes, from its catalogue capabilities: the forms show only these and
    add_device refuses the others (a softphone has no MAC, a web phone no file to carry passwords)."""
    fields = {"label"}
    if model.has_url and model.kind != "softphone":
        fields |= {"mac", "provisioning_mac"}
    if model.kind != "webphone":
        fields |= {"admin_password", "username", "user_password"}
    if model.kind == "dect_handset":
        fields.add("base")
    if model.expansion_modules:
        fields.add("expansion")
    return frozenset(fields)


def _check_base(
    session: Session, actor: Actor, handset: DeviceModel, line: Line, base_id: int | None, device: Device | None
) -> Device:
    """A handset's base: a base of the handset line's vPBX, on any of its lines (a multi-cell or multi-line
    DECT system: the base's file carries each handset's own account), of a model the handset accepts, with
    a free slot. A base the actor may not see (another vPBX's, an end user's other lines') is refused as
    the same unknown base as a missing one: no other customer's device is revealed. The base the handset
    (`device`, None when adding) is already on stays acceptable."""
    if base_id is None:
        raise ValidationError("base_required", "base")
    base = session.get(Device, int(base_id))
    current = device.base_station_id if device is not None else None
    if base is None or base.line.vpbx_id != line.vpbx_id or not (can_see_line(actor, base.line) or base.id == current):
        raise ValidationError("base_unknown", "base", base=base_id)
    others = Device.base_station_id == base.id, Device.id != (device.id if device is not None else -1)
    used = session.scalar(select(func.count()).select_from(Device).where(*others))
    check_base(handset, line, base.line, base.model_id, used or 0)
    return base


def check_base(handset: DeviceModel, line: Line, base_line: Line, base_model_id: str, used: int) -> None:
    """The base rules without the database (add_device and the bulk import, which loads bases once):
    the base's vPBX (any of its lines: a multi-cell or multi-line DECT system), its model, and `used`: how
    many other handsets it has, on every line."""
    if base_line.vpbx_id != line.vpbx_id:
        raise ValidationError("base_unknown", "base", base=base_line.id)
    if base_model_id not in handset.compatible_bases:
        raise ValidationError("base_incompatible", "base", model=handset.label, base=base_model_id)
    base_model = default_catalogue().get(base_model_id)
    assert base_model is not None
    if used >= base_model.max_handsets:
        raise ValidationError("base_full", "base", max=base_model.max_handsets)


def mac_wanted_elsewhere(session: Session, mac: str, device_id: int | None) -> bool:
    """Another device (in any vPBX: MACs are unique per vPBX only) still waits for its MAC-named
    bootstrap: withdrawing the MAC at the redirection service would strand it."""
    other = select(Device.id).where(Device.mac == mac, Device.provisioning_mac == ProvisioningMac.ONCE)
    return session.scalar(other.where(Device.id != (device_id or -1)).limit(1)) is not None


def queue_redirection(
    session: Session, device_id: int, model: DeviceModel | None, mac: str | None, action: RedirectAction
) -> bool:
    """The one place a redirection job is queued (the outbox worker carries it out), by the use cases
    and by the endpoint's first key fetch. Nothing for a model without a service or a device without
    a MAC; a withdraw waits while another device still needs that MAC's bootstrap. True if queued."""
    if model is None or not model.redirection or not mac:
        return False
    if action == "withdraw" and mac_wanted_elsewhere(session, mac, device_id):
        return False
    session.add(RedirectionJob(device_id=device_id, service=model.redirection, mac=mac, action=action))
    return True


@dataclass(frozen=True)
class DeviceValues:
    """A new device's own parameters, checked and normalised (a password left empty is generated)."""

    mac: str | None
    provisioning_mac: ProvisioningMac
    admin_password: str | None  # None: generated when the device is made (a check alone draws none)
    user_password: str | None
    username: str
    label: str
    expansion: tuple[str | None, int]  # (module id, count)

    def new_device(self, model: DeviceModel) -> Device:
        """The unsaved Device (no line, no base yet: the caller sets them)."""
        return Device(
            model_id=model.id,
            access_key=new_access_key() if model.has_url else None,
            admin_password=self.admin_password or generated_device_password(),
            admin_password_generated=self.admin_password is None,
            username=self.username,
            user_password=self.user_password or generated_device_password(),
            user_password_generated=self.user_password is None,
            mac=self.mac,
            provisioning_mac=self.provisioning_mac,
            expansion_model_id=self.expansion[0],
            expansion_count=self.expansion[1],
            label=self.label,
        )


def check_new_device(
    model: DeviceModel,
    *,
    mac: str | None,
    admin_password: str | None,
    username: str,
    user_password: str | None,
    provisioning_mac: str,
    label: str,
    expansion: str | None,
    problems: Problems,
) -> DeviceValues | None:
    """Every rule of a new device's own parameters that needs no database, for add_device and the bulk
    import (core.device_import); the MAC's uniqueness and the base are the caller's (against what it
    loaded). Each refusal goes to `problems`; None when there was one."""
    before = len(problems.errors)
    given = {"mac": mac, "admin_password": admin_password, "username": username, "user_password": user_password,
             "provisioning_mac": None if provisioning_mac == ProvisioningMac.NO else provisioning_mac}  # fmt: skip
    for name, value in given.items():
        if value and name not in model_fields(model):
            problems.add(ValidationError("model_lacks_field", name, model=model.label, what=name))
    state = problems.check(provisioning_mac_state, provisioning_mac)
    if state is not None and state not in CHOSEN_PROVISIONING_MAC:
        problems.add(ValidationError("pm_new_state", "provisioning_mac"))
    mac_errors = len(problems.errors)
    normalized_mac = problems.check(normalize_mac, mac)
    if state == ProvisioningMac.ONCE and normalized_mac is None and len(problems.errors) == mac_errors:
        problems.add(ValidationError("pm_needs_mac", "provisioning_mac"))
    if state == ProvisioningMac.ONCE and not model.has_url:
        problems.add(ValidationError("pm_no_url", "provisioning_mac", model=model.label))
    admin = problems.check(chosen_device_password, admin_password, "admin_password")
    user = problems.check(chosen_device_password, user_password, "user_password")
    exp = problems.check(parse_expansion, model, expansion)
    user_name = problems.check(_text, username, "username", USERNAME_MAX)
    text = problems.check(_text, label, "label", DEVICE_LABEL_MAX)
    if len(problems.errors) > before:
        return None
    assert state is not None and exp is not None
    return DeviceValues(normalized_mac, state, admin, user, user_name or "", text or "", exp)


def add_device(
    session: Session,
    actor: Actor,
    line_ref: int | str,
    model_id: str,
    mac: str | None = None,
    admin_password: str | None = None,
    username: str = "",
    user_password: str | None = None,
    provisioning_mac: str = ProvisioningMac.NO,
    base: int | None = None,
    label: str = "",
    expansion: str | None = None,
) -> dict[str, Any]:
    line = find_line(session, actor, line_ref)
    model = _model(model_id)
    values = check_new_device(model, mac=mac, admin_password=admin_password, username=username,
                              user_password=user_password, provisioning_mac=provisioning_mac, label=label,
                              expansion=expansion, problems=Problems())  # fmt: skip
    assert values is not None  # Problems() raises the first refusal
    _mac_unique(session, values.mac, line.vpbx_id, None)
    base_device = None
    if model.kind == "dect_handset":
        base_device = _check_base(session, actor, model, line, base, None)
    elif base is not None:
        raise ValidationError("base_only_handsets", "base")
    device = values.new_device(model)
    device.line, device.base_station = line, base_device
    session.add(device)
    session.flush()
    if base_device is not None:
        base_device.bump_revision()  # a new handset on its file
    if values.provisioning_mac == ProvisioningMac.ONCE:
        queue_redirection(session, device.id, model, device.mac, "register")
    audit.record(
        session, actor, "device.add", "device", device.id,
        line=line.number, model=model.id, mac=values.mac, provisioning_mac=values.provisioning_mac,
        admin_password=admin_password, user_password=user_password,
    )  # fmt: skip
    return device_view(device)


def update_device(session: Session, actor: Actor, device_id: int, **changes: Any) -> dict[str, Any]:
    """Change some parameters; a password given as "" is regenerated, absent or None is unchanged."""
    allowed = {"mac", "admin_password", "username", "user_password", "provisioning_mac", "base", "label",
               "expansion", "model_id"}  # fmt: skip
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError("not_a_parameter", sorted(unknown)[0])
    device = find_device(session, actor, device_id)
    model = _model(changes.get("model_id") or device.model_id, "model_id")
    for name in ("mac", "admin_password", "username", "user_password"):
        if changes.get(name) and name not in model_fields(model):
            raise ValidationError("model_lacks_field", name, model=model.label, what=name)
    old_model = default_catalogue().get(device.model_id)
    if old_model is not None and model.kind != old_model.kind:
        raise ValidationError("kind_change", "model_id", kind=old_model.kind)
    mac_moved = False
    if "mac" in changes and changes["mac"] is not None:
        new_mac = _mac(session, changes["mac"], device.line.vpbx_id, device.id)
        if new_mac != device.mac and device.provisioning_mac == ProvisioningMac.ONCE:
            queue_redirection(session, device.id, model, device.mac, "withdraw")  # before the new MAC's register
            mac_moved = True
        device.mac = new_mac
    for fld in ("admin_password", "user_password"):
        if changes.get(fld) is not None:
            value, generated = device_password(changes[fld], fld)
            setattr(device, fld, value)
            setattr(device, f"{fld}_generated", generated)
    if changes.get("username") is not None:
        device.username = _text(changes["username"], "username", USERNAME_MAX)
    if changes.get("label") is not None:
        device.label = _text(changes["label"], "label", DEVICE_LABEL_MAX)
    if changes.get("provisioning_mac") is not None:
        _set_provisioning_mac(session, device, model, provisioning_mac_state(changes["provisioning_mac"]))
    if device.provisioning_mac == ProvisioningMac.ONCE and device.mac is None:
        raise ValidationError("pm_needs_mac", "mac")
    if mac_moved and device.provisioning_mac == ProvisioningMac.ONCE:  # still waiting: redirect the new MAC too
        queue_redirection(session, device.id, model, device.mac, "register")
    if "base" in changes and changes["base"] is not None:
        if model.kind != "dect_handset":
            raise ValidationError("base_only_handsets", "base")
        old_base = device.base_station
        device.base_station = _check_base(session, actor, model, device.line, changes["base"], device)
        if old_base is not None and old_base is not device.base_station:
            old_base.bump_revision()  # one handset fewer on its file
    if "model_id" in changes and changes["model_id"] and changes["model_id"] != device.model_id:
        if model.kind == "dect_handset":
            _check_base(session, actor, model, device.line, device.base_station_id, device)
        device.model_id = model.id
        if not changes.get("expansion"):
            changes["expansion"] = (
                f"{device.expansion_model_id}:{device.expansion_count}"
                if device.expansion_model_id in model.expansion_modules
                else ""
            )
    if changes.get("expansion") is not None:
        device.expansion_model_id, device.expansion_count = parse_expansion(model, changes["expansion"])
    _drop_keys_beyond_capabilities(session, device, model)
    device.bump_revision()
    audit.record(session, actor, "device.update", "device", device.id, **changes)
    session.flush()
    return device_view(device)


def _set_provisioning_mac(session: Session, device: Device, model: DeviceModel, state: ProvisioningMac) -> None:
    if state == device.provisioning_mac:
        return
    if state not in CHOSEN_PROVISIONING_MAC:
        raise ValidationError("pm_done_by_fetch", "provisioning_mac")
    if state == ProvisioningMac.ONCE:
        if not model.has_url:
            raise ValidationError("pm_no_url", "provisioning_mac", model=model.label)
        queue_redirection(session, device.id, model, device.mac, "register")
    elif device.provisioning_mac == ProvisioningMac.ONCE:  # once -> no: take the MAC back from the service
        queue_redirection(session, device.id, model, device.mac, "withdraw")
    device.provisioning_mac = state


def _drop_keys_beyond_capabilities(session: Session, device: Device, model: DeviceModel) -> None:
    """After a model or module change, keys the device no longer has go (never silently kept)."""
    module = default_catalogue().get(device.expansion_model_id or "")
    for key in list(device.keys):
        if key.module == 0:
            ok = key.index <= model.keys and key.function in model.key_functions
        else:
            ok = (
                module is not None
                and key.module <= device.expansion_count
                and key.index <= module.keys
                and key.function in module.key_functions
            )
        if not ok:
            device.keys.remove(key)


def provisioning_once_more(session: Session, actor: Actor, device_id: int) -> dict[str, Any]:
    """ "Une fois de plus": a device whose Provisioning MAC is done may bootstrap by MAC once more."""
    device = find_device(session, actor, device_id)
    if device.provisioning_mac != ProvisioningMac.DONE:
        raise ValidationError("pm_once_more", "provisioning_mac")
    model = _model(device.model_id)
    _set_provisioning_mac(session, device, model, ProvisioningMac.ONCE)
    audit.record(session, actor, "device.provisioning_once_more", "device", device.id)
    return device_view(device)


def new_key(session: Session, actor: Actor, device_id: int) -> dict[str, Any]:
    """ "Nouveau clé": a fresh access key; the old URL answers 404 at once; function keys are kept.

    The old key's hash is kept (RetiredKey, same transaction): a phone still asking with it is
    logged as this device's old URL (reason old_key), not as probing, and the diagnosis says so. Who may:
    core.permissions.require_new_key (an end user: the devices of their own line; another line's is NotFound)."""
    device = require_new_key(actor, session.get(Device, int(device_id)))
    if device.access_key is None:
        raise ValidationError("no_url", "device")
    session.add(RetiredKey(key_hash=key_hash(device.access_key), device_id=device.id))
    device.access_key = new_access_key()
    device.bump_revision()
    audit.record(session, actor, "device.new_key", "device", device.id)
    return device_view(device)


def delete_device(session: Session, actor: Actor, device_id: int) -> None:
    device = find_device(session, actor, device_id)
    if device.handsets:
        raise ValidationError("base_has_handsets", "device")
    model = default_catalogue().get(device.model_id)
    if device.provisioning_mac == ProvisioningMac.ONCE:
        queue_redirection(session, device.id, model, device.mac, "withdraw")
    if device.base_station is not None:
        device.base_station.bump_revision()  # one handset fewer on its file
    audit.record(session, actor, "device.delete", "device", device.id, model=device.model_id, mac=device.mac)
    session.delete(device)
    session.flush()


def get_device(session: Session, actor: Actor, device_id: int) -> dict[str, Any]:
    """The device's view (a base's handsets with their lines in one statement whatever their number), with
    `bootstrap_dhcp`: for a model without a redirection service, the DHCP options that lead a factory phone to
    its bootstrap while Provisioning MAC is `once` (core.dhcp; [] otherwise)."""
    view = device_views(session, [find_device(session, actor, device_id)])[0]
    return {**view, "bootstrap_dhcp": dhcp_for_model(view["model"])}


def list_devices(session: Session, actor: Actor, line_ref: int | str | None = None) -> list[dict[str, Any]]:
    if line_ref is not None:
        return device_views(session, find_line(session, actor, line_ref).devices)
    # Line and vPBX joined in the same statement: device_view reads both for every device.
    stmt = scope_lines(
        actor,
        select(Device).join(Device.line).join(Line.vpbx).options(contains_eager(Device.line).contains_eager(Line.vpbx)),
    ).order_by(Device.id)
    return device_views(session, session.scalars(stmt).all())


def redirection_state(session: Session, actor: Actor, device_id: int) -> list[dict[str, Any]]:
    """The device's redirection-service requests, newest first (Provisioning MAC devices)."""
    device = find_device(session, actor, device_id)
    jobs = session.scalars(
        select(RedirectionJob).where(RedirectionJob.device_id == device.id).order_by(RedirectionJob.id.desc())
    )
    return [
        {"service": j.service, "action": j.action, "state": j.state, "attempts": j.attempts, "error": j.last_error,
         "updated": j.updated_at.isoformat(timespec="minutes")}
        for j in jobs
    ]  # fmt: skip


def manual_steps(session: Session, actor: Actor, device_id: int, lang: str) -> str:
    """ "Configuration manuelle": the family's steps in `lang` (fr/en), with the device's own URL."""
    from core.render import Renderer  # the rendering layer is heavy; only this use case needs it

    return Renderer(current_settings()).manual_steps(find_device(session, actor, device_id), lang)


def compatible_bases(
    session: Session, actor: Actor, line_ref: int | str, handset_model_id: str, device_id: int | None = None
) -> list[dict[str, Any]]:
    """The bases a handset of this model on this line can join (the "Station de base" choice): the bases of
    the line's vPBX the actor may see, on any line, of a model the handset accepts, with a free slot (`free`).
    `device_id`, a handset being changed: its own slot counts as free and its current base is always
    offered (so a form never moves it by default). The line's own bases first; a constant number of
    statements whatever the vPBX's size."""
    line = find_line(session, actor, line_ref)
    model = default_catalogue().get(handset_model_id)
    if model is None or model.kind != "dect_handset":
        raise NotFound("not_a_handset", "model", model=handset_model_id)
    handset = find_device(session, actor, device_id) if device_id is not None else None
    eager = contains_eager(Device.line).contains_eager(Line.vpbx)
    stmt = select(Device).join(Device.line).join(Line.vpbx).options(eager)
    found = session.scalars(
        scope_lines(actor, stmt).where(Line.vpbx_id == line.vpbx_id, Device.model_id.in_(model.compatible_bases))
    ).all()
    current = handset.base_station if handset is not None else None
    if current is not None and current not in found:
        found = [*found, current]  # a base outside the actor's sight the handset is already on
    offered = []
    for view in device_views(session, found):
        free = view["max_handsets"] - len([h for h in view["handsets"] if h != device_id])
        if free > 0 or (current is not None and view["id"] == current.id):
            offered.append({**view, "free": free})
    return sorted(offered, key=lambda b: (b["line_id"] != line.id, b["line"], b["id"]))
