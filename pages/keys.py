"""Touches: a device's programmable keys, one tab per expansion module, with a picture of the layout.

Unsaved edits are never lost silently: switching to another device while the grid holds edits asks
first (the picker stays on the device until the edits are discarded), the line search offers no other
line until they are saved or discarded, and closing or reloading the
tab asks through the browser (dashboard.unsaved). All module tabs stay drawn, so switching tab keeps
every tab's edits, and saving one tab restarts that tab's grid only (dashboard.key_editor.editor_key).
"""

import streamlit as st

from core import devices, keys
from core.catalogue import default_catalogue
from core.permissions import VOICEMAIL_ROLES
from dashboard.db import tx
from dashboard.guard import require_login
from dashboard.i18n import t
from dashboard.key_editor import discard, key_table, layout_picture, unsaved, voicemail_access
from dashboard.unsaved import leave_guard
from dashboard.widgets import choose_device, choose_line, device_from_url, device_name

actor = require_login()  # first statement of every page: no login, no data

DEVICE_KEY = "keys_device"  # the picker (device ids)
SHOWN_KEY = "keys_shown_device"  # the device whose grid was drawn last
ASK_KEY = "keys_switch_to"  # a device the user picked while the shown one had unsaved edits

st.title(t("keys"))
if flash := st.session_state.pop("flash", None):
    st.success(flash)


def has_keys(device: dict) -> bool:
    model = default_catalogue().get(device["model"])
    return bool(model and model.keys)


def picked() -> None:
    """Picker callback: with unsaved edits on the shown device, stay on it and ask."""
    shown, wanted = st.session_state.get(SHOWN_KEY), st.session_state.get(DEVICE_KEY)
    if shown is not None and wanted != shown and unsaved(shown):
        st.session_state[ASK_KEY] = wanted
        st.session_state[DEVICE_KEY] = shown


def discard_and_switch() -> None:
    discard()
    st.session_state[DEVICE_KEY] = st.session_state.pop(ASK_KEY)


def keep_editing() -> None:
    st.session_state.pop(ASK_KEY, None)


from_url = device_from_url(actor)
if from_url is not None:
    st.query_params["line"] = str(from_url["line_id"])  # the line picker opens on the device's line
held = unsaved(st.session_state[SHOWN_KEY]) if SHOWN_KEY in st.session_state else 0
line = choose_line(actor, hold=t("keys_line_held", count=held) if held else "")  # edits stay with their line
if line is None:
    st.stop()
with tx() as s:
    candidates = {d["id"]: d for d in devices.list_devices(s, actor, line["id"]) if has_keys(d)}
if not candidates:
    st.info(t("no_keys"))
    st.stop()
if from_url is not None and from_url["id"] in candidates and from_url["id"] != st.session_state.get(SHOWN_KEY):
    st.session_state[DEVICE_KEY] = from_url["id"]  # a link (e.g. from Téléphones) names the device
chosen = choose_device(candidates, DEVICE_KEY, on_change=picked)
device = candidates[chosen]
st.session_state[SHOWN_KEY] = device["id"]
st.query_params["device"] = str(device["id"])

if (ask := st.session_state.get(ASK_KEY)) in candidates:
    with st.container(border=True, key="keys_switch_confirm"):
        st.warning(t("keys_leave_confirm", name=device_name(device), count=unsaved(device["id"])))
        left, right = st.columns(2)
        left.button(t("discard_changes"), key="keys_discard", on_click=discard_and_switch)
        right.button(t("keep_editing"), key="keys_keep", type="primary", on_click=keep_editing)

with tx() as s:
    layout = keys.key_layout(s, actor, device["id"])
    current = keys.list_keys(s, actor, device["id"])
    choices = keys.key_choices(s, actor, device["id"])  # the vPBX's lines a key may name (never another vPBX's)
if not layout["modules"]:
    st.info(t("no_keys"))
    st.stop()

st.caption(t("keys_of", name=device_name(device)))
tabs = st.tabs([m["name"] for m in layout["modules"]], key="keys_tabs")
for tab, module in zip(tabs, layout["modules"], strict=True):
    with tab:
        key_table(actor, device["id"], module, current, choices)
        layout_picture(module, current)
if actor.role in VOICEMAIL_ROLES:
    voicemail_access(actor, line["vpbx"], choices["voicemail_access"])
leave_guard(unsaved(device["id"]) > 0)
