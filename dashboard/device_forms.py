"""The Téléphones page's forms: add a device from the catalogue, change its parameters, delete it.

Passwords are write-only here: the inputs start empty and nothing ever reads one back.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import devices
from core.catalogue import DEVICE_KINDS, DeviceModel, default_catalogue
from core.credentials import CHOSEN_PROVISIONING_MAC, ProvisioningMac
from core.permissions import Actor
from dashboard.db import tx
from dashboard.dhcp_hint import dhcp_hint_for
from dashboard.i18n import t
from dashboard.widgets import ERRORS_KEY, call, dect_label, device_name, field_error, other_errors

DELETE_FLAG = "delete_device_id"
ADD_FIELDS = ("model", "mac", "label", "base", "provisioning_mac", "expansion")
EDIT_FIELDS = ("admin_password", "username", "user_password", "mac", "provisioning_mac", "base", "label", "expansion")


def _pm_labels() -> dict[str, str]:
    # Labels fixed when the widget is drawn (AppTest formats options again after the run).
    return {state: t(f"pm_{state.value}") for state in ProvisioningMac}


def _models(kind: str) -> list[DeviceModel]:
    return sorted(default_catalogue().models(kind), key=lambda m: (m.vendor, m.model))


def _bases(actor: Actor, line_id: int, model_id: str, handset_id: int | None = None) -> dict[int, str]:
    """The vPBX's compatible bases with a free slot, on any line (core.devices.compatible_bases), each named
    so a support agent tells them apart: label, MAC, line, free slots."""
    with tx() as s:
        offered = devices.compatible_bases(s, actor, line_id, model_id, handset_id)
    return {b["id"]: dect_label(b, b["free"]) for b in offered}


def _version(base: str) -> int:
    return st.session_state.get(f"{base}_version", 0)


def _reset(base: str) -> None:
    """After a success the form's widgets get new keys, so they start again from their defaults."""
    st.session_state[f"{base}_version"] = _version(base) + 1


def _spec(expansion: dict[str, Any] | None) -> str:
    return f"{expansion['model']}:{expansion['count']}" if expansion else ""


def _expansion_input(model: DeviceModel, current: dict[str, Any] | None, key: str) -> str:
    """`MODULE_ID:COUNT`, or "" for no module; the count's range is the chosen module's (catalogue)."""
    catalogue = default_catalogue()
    options = ["", *model.expansion_modules]
    names = {m: (catalogue.get(m).label if catalogue.get(m) else m) for m in model.expansion_modules}  # type: ignore[union-attr]
    chosen = st.selectbox(
        t("expansion"),
        options,
        index=options.index(current["model"]) if current and current["model"] in options else 0,
        format_func={"": t("none"), **names}.get,
        placeholder=t("choose"),
        key=f"{key}_exp",
    )
    module = catalogue.get(chosen) if chosen else None
    if module is None:
        return ""
    start = current["count"] if current and current["model"] == chosen else 1
    count = st.number_input(
        t("expansion_count"), min_value=1, max_value=module.max_modules, value=min(max(start, 1), module.max_modules),
        step=1, key=f"{key}_exp_n_{chosen}",  # a key per module: its range is that module's
    )  # fmt: skip
    return f"{chosen}:{int(count)}"


def add_device_form(actor: Actor, line: dict[str, Any]) -> None:
    """Pick a kind, then a model (grouped by vendor), then "+ Enregistrer".

    No st.form: the fields follow the model and the module count follows the module as they are
    chosen. Only the fields the model takes (core.devices.model_fields) are drawn and sent.
    """
    scope = "add."
    kind = st.selectbox(
        t("kind"), DEVICE_KINDS, format_func={k: t(f"kind_{k}") for k in DEVICE_KINDS}.get, placeholder=t("choose"),
        key="add_kind",
    )  # fmt: skip
    models = _models(kind)
    by_id = {m.id: m for m in models}
    model_id = st.selectbox(
        t("model"), list(by_id), format_func={i: m.label for i, m in by_id.items()}.get, placeholder=t("choose"),
        key="add_model",
    )  # fmt: skip
    field_error("model", scope)
    model = by_id[model_id]
    fields = devices.model_fields(model)
    key = f"add_{_version('add')}"  # the device's own fields; kind and model stay for the next add
    sent: dict[str, Any] = {}
    if "base" in fields:
        bases = _bases(actor, line["id"], model.id)
        if not bases:
            st.warning(t("no_base"))
        sent["base"] = st.selectbox(
            t("base_station"), list(bases), format_func=bases.get, placeholder=t("choose"), key=f"{key}_base"
        )
        field_error("base", scope)
    if "mac" in fields:
        sent["mac"] = st.text_input(t("mac"), key=f"{key}_mac", placeholder="00041345C9BF") or None
        field_error("mac", scope)
        sent["provisioning_mac"] = st.selectbox(
            t("provisioning_mac"), CHOSEN_PROVISIONING_MAC, format_func=_pm_labels().get, placeholder=t("choose"),
            key=f"{key}_pm",
        )  # fmt: skip
        field_error("provisioning_mac", scope)
        if sent["provisioning_mac"] == ProvisioningMac.ONCE:
            dhcp_hint_for(model.id, key=f"{key}_dhcp")
    sent["label"] = st.text_input(t("label"), key=f"{key}_label")
    field_error("label", scope)
    if "expansion" in fields:
        sent["expansion"] = _expansion_input(model, None, key) or None
        field_error("expansion", scope)
    if st.button(t("save_new"), type="primary", key="add_save"):
        if call(devices.add_device, actor, line["id"], model.id, scope=scope, **sent) is not None:
            _reset("add")
            st.session_state["flash"] = t("saved")
            st.rerun()
    other_errors(ADD_FIELDS, scope)


def _password(name: str, key: str, scope: str) -> str | None:
    """None = unchanged; "" = generate a new one (the service's contract); else the typed digits."""
    typed = st.text_input(t(name), type="password", key=f"{key}_{name}", help=t("password_unchanged"))
    regenerate = st.checkbox(t("regenerate"), key=f"{key}_{name}_gen")
    field_error(name, scope)
    return "" if regenerate else (typed or None)


def _changed(device: dict[str, Any], changes: dict[str, Any]) -> bool:
    """Whether the form holds something not saved yet (a typed password, a ticked box, a new value)."""
    stored = {
        "username": device["username"],
        "mac": device["mac"] or "",
        "provisioning_mac": device["provisioning_mac"],
        "base": device["base_station"],
        "label": device["label"],
        "expansion": _spec(device["expansion"]),
    }
    for name, value in changes.items():
        if name in ("admin_password", "user_password"):
            if value is not None:
                return True
        elif value != stored[name]:
            return True
    return False


def edit_device_form(actor: Actor, device: dict[str, Any]) -> bool:
    """The device's parameters; returns whether they hold unsaved changes."""
    scope, base = f"dev{device['id']}.", f"edit{device['id']}"
    key = f"{base}_{_version(base)}"  # new keys after a save: typed passwords and ticked boxes start empty
    model = default_catalogue().get(device["model"])
    if model is None:
        return False
    fields = devices.model_fields(model)
    changes: dict[str, Any] = {}
    if "admin_password" in fields:
        changes["admin_password"] = _password("admin_password", key, scope)
    if "username" in fields:
        changes["username"] = st.text_input(t("username"), value=device["username"], key=f"{key}_user")
        field_error("username", scope)
    if "user_password" in fields:
        changes["user_password"] = _password("user_password", key, scope)
    if "mac" in fields:
        changes["mac"] = st.text_input(t("mac"), value=device["mac"] or "", key=f"{key}_mac")
        field_error("mac", scope)
        if device["provisioning_mac"] in CHOSEN_PROVISIONING_MAC:  # done is the first fetch's to set
            changes["provisioning_mac"] = st.selectbox(
                t("provisioning_mac"), CHOSEN_PROVISIONING_MAC,
                index=CHOSEN_PROVISIONING_MAC.index(device["provisioning_mac"]),
                format_func=_pm_labels().get, placeholder=t("choose"), key=f"{key}_pm",
            )  # fmt: skip
            if changes["provisioning_mac"] == ProvisioningMac.ONCE:
                dhcp_hint_for(model.id, key=f"{key}_dhcp")
        field_error("provisioning_mac", scope)
    if "base" in fields:
        bases = _bases(actor, device["line_id"], model.id, device["id"])
        ids = list(bases)
        changes["base"] = st.selectbox(
            t("base_station"), ids, index=ids.index(device["base_station"]) if device["base_station"] in ids else 0,
            format_func=bases.get, placeholder=t("choose"), key=f"{key}_base",
        )  # fmt: skip
        field_error("base", scope)
    changes["label"] = st.text_input(t("label"), value=device["label"], key=f"{key}_label")
    field_error("label", scope)
    if "expansion" in fields:
        changes["expansion"] = _expansion_input(model, device["expansion"], key)
        field_error("expansion", scope)
        if device["expansion"] and _fewer_modules(device["expansion"], changes["expansion"]):
            st.warning(t("modules_keys_dropped"), icon=":material/warning:")
    dirty = _changed(device, changes)
    if dirty:
        st.caption(t("unsaved_changes"))
    if st.button(t("save"), type="primary", key=f"{key}_save"):
        if call(devices.update_device, actor, device["id"], scope=scope, **changes) is not None:
            _reset(base)
            st.session_state["flash"] = t("saved")
            st.rerun()
    if device["provisioning_mac"] == ProvisioningMac.DONE:
        st.caption(f"{t('provisioning_mac')}: {t('pm_done')}")
        if st.button(t("once_more"), key=f"{key}_once_more"):
            if call(devices.provisioning_once_more, actor, device["id"], scope=scope) is not None:
                st.rerun()
    other_errors(EDIT_FIELDS, scope)
    return dirty


def _fewer_modules(current: dict[str, Any], spec: str) -> bool:
    """The new spec removes modules the device has (their keys go with them)."""
    module, _, count = spec.partition(":")
    return module != current["model"] or int(count or 0) < current["count"]


@st.dialog(" ", on_dismiss=lambda: st.session_state.pop(DELETE_FLAG, None))
def _confirm_delete(actor: Actor, device: dict[str, Any]) -> None:
    st.write(t("confirm_delete", name=device_name(device)))
    st.warning(t("factory_reset"), icon=":material/restart_alt:")
    left, right = st.columns(2)
    if left.button(t("delete_confirm_button", name=device_name(device)), type="primary", key="delete_confirm"):
        st.session_state.pop(DELETE_FLAG, None)
        call(devices.delete_device, actor, device["id"], scope="delete.")
        if not st.session_state.get(ERRORS_KEY):
            st.session_state["flash"] = t("deleted")
        st.rerun()
    if right.button(t("cancel"), key="delete_cancel"):
        st.session_state.pop(DELETE_FLAG, None)
        st.rerun()


def delete_if_asked(actor: Actor, visible: list[dict[str, Any]]) -> None:
    device = next((d for d in visible if d["id"] == st.session_state.get(DELETE_FLAG)), None)
    if device is not None:
        _confirm_delete(actor, device)
