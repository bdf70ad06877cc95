"""Touches: a device's programmable keys, one tab per expansion module, with a picture of the layout."""

import streamlit as st

from core import devices, keys
from core.catalogue import default_catalogue
from dashboard.db import tx
from dashboard.guard import require_login
from dashboard.i18n import t
from dashboard.key_editor import key_table, layout_picture
from dashboard.widgets import choose_line, device_from_url, device_name

actor = require_login()  # first statement of every page: no login, no data

st.title(t("keys"))
if flash := st.session_state.pop("flash", None):
    st.success(flash)


def has_keys(device: dict) -> bool:
    model = default_catalogue().get(device["model"])
    return bool(model and model.keys)


device = device_from_url(actor)
if device is None:
    line = choose_line(actor)
    if line is None:
        st.stop()
    with tx() as s:
        candidates = {d["id"]: d for d in devices.list_devices(s, actor, line["id"]) if has_keys(d)}
    if not candidates:
        st.info(t("no_keys"))
        st.stop()
    chosen = st.selectbox(
        t("device"), list(candidates), format_func={i: device_name(d) for i, d in candidates.items()}.get
    )
    device = candidates[chosen]
    st.query_params["device"] = str(device["id"])
else:
    st.subheader(f"{t('line')} {device['extension'] or ''} — {device['line']} ({device['vpbx']})")

with tx() as s:
    layout = keys.key_layout(s, actor, device["id"])
    current = keys.list_keys(s, actor, device["id"])
if not layout["modules"]:
    st.info(t("no_keys"))
    st.stop()

st.caption(t("keys_of", name=device_name(device)))
tabs = st.tabs([m["name"] for m in layout["modules"]], key="keys_tabs")
for tab, module in zip(tabs, layout["modules"], strict=True):
    with tab:
        key_table(actor, device["id"], module, current)
        layout_picture(module, current)
