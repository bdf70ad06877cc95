"""The "Configuration manuelle" dialog: the device's URL with a copy button, the family's manual steps,
the redirection-service state (Provisioning MAC) and, for the softphone, a QR code of its URL.

Opened from a session_state flag (not straight from a button) so its widgets survive reruns and
AppTest can reach them: a dialog opened by `if st.button(...)` loses its body on the rerun a button
inside it triggers (the outer button is then False), so the inner button's code never runs (streamlit#9786).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import devices
from core.credentials import ProvisioningMac
from core.permissions import Actor
from dashboard.db import tx
from dashboard.i18n import lang, t
from dashboard.qr import qr_png
from dashboard.widgets import call, device_name, other_errors, redirection_rows

FLAG = "setup_device_id"
NEW_KEY_ASK = "setup_new_key_ask"  # the device whose "Nouveau clé" waits for its confirmation


def open_setup(device_id: int) -> None:
    st.session_state[FLAG] = device_id


def _close() -> None:
    st.session_state.pop(FLAG, None)
    st.session_state.pop(NEW_KEY_ASK, None)


def _new_key(actor: Actor, device: dict[str, Any]) -> None:
    """ "Nouveau clé" names the device and asks first: the old URL stops answering at once."""
    if device.get("url") is None:
        return
    if st.session_state.get(NEW_KEY_ASK) != device["id"]:
        if st.button(t("new_key"), icon=":material/key:", key="setup_new_key"):
            st.session_state[NEW_KEY_ASK] = device["id"]
            st.rerun(scope="fragment")
        return
    with st.container(border=True, key="setup_new_key_confirm"):
        st.warning(t("new_key_confirm", name=device_name(device)), icon=":material/key:")
        left, right = st.columns(2)
        if left.button(t("new_key"), type="primary", key="setup_new_key_yes"):
            st.session_state.pop(NEW_KEY_ASK, None)
            if call(devices.new_key, actor, device["id"], scope="setup.") is not None:
                st.session_state["setup_flash"] = t("new_key_done")
            st.rerun(scope="fragment")
        if right.button(t("cancel"), key="setup_new_key_no"):
            st.session_state.pop(NEW_KEY_ASK, None)
            st.rerun(scope="fragment")


@st.dialog(" ", width="large", on_dismiss=_close)
def _dialog(actor: Actor, device: dict[str, Any]) -> None:
    with tx() as s:
        device = devices.get_device(s, actor, device["id"])  # its URL as it is now (after a new key)
    st.subheader(f"{t('setup')} — {device_name(device)}")
    if flash := st.session_state.pop("setup_flash", None):
        st.success(flash)
    other_errors((), scope="setup.")
    if device.get("url"):
        st.caption(t("url"))
        st.code(device["url"], language=None)  # the code block has a copy button
    else:
        st.info(t("no_url"))
    state = ProvisioningMac(device["provisioning_mac"])
    with tx() as s:
        steps = devices.manual_steps(s, actor, device["id"], lang())
        jobs = devices.redirection_state(s, actor, device["id"]) if state != ProvisioningMac.NO else []
    st.markdown(steps)
    if device["kind"] == "softphone" and device.get("url"):
        st.image(qr_png(device["url"]), caption=t("qr_caption"), width=240)
    if state != ProvisioningMac.NO:
        st.caption(f"{t('redirection')} · {t('provisioning_mac')}: {t('pm_' + state.value)}")
        st.dataframe(redirection_rows(jobs), hide_index=True) if jobs else st.info(t("redirection_none"))
    _new_key(actor, device)
    if st.button(t("close"), key="setup_close"):
        _close()
        st.rerun()


def show_if_open(actor: Actor, visible: list[dict[str, Any]]) -> None:
    """Draw the dialog when its flag names one of the devices on screen (never another line's)."""
    device_id = st.session_state.get(FLAG)
    device = next((d for d in visible if d["id"] == device_id), None)
    if device is not None:
        _dialog(actor, device)
