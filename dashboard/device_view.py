"""Appareil: one device understood and fixed on one screen (issue 12).

The page (pages/device.py) draws, for the device named by `?device=` or picked on a line: the verdict
and its findings, each with the button that fixes it (dashboard.device_diagnosis draws them; the
buttons are here), the manual's buttons with the reboot/resync outcome (dashboard.commands), its
parameters (never a secret) and its timeline. Only one device's facts are loaded: its line's devices
for the picker, its line's bindings for "registered", one diagnosis; nothing provider-wide.

Destructive buttons (Redémarrage, Nouveau clé, new SIP credentials, unblock, unban) name their object
and ask first: the request waits in session_state (ASK_KEY) until the person confirms or cancels. A
button core would refuse to the role (core.permissions) is not drawn; a caption says who can do it.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import bans, device_commands, devices, lines
from core.credentials import ProvisioningMac
from core.device_commands import registered_devices
from core.diagnosis import Diagnosis, Finding
from core.permissions import BAN_ROLES, BLOCK_ROLES, LINE_ADMIN_ROLES, NEW_KEY_ROLES, Actor
from dashboard import device_diagnosis
from dashboard.commands import command_outcome, registrar_up, remember_request, why_not_offered
from dashboard.db import tx
from dashboard.device_alerts import alerts_expander
from dashboard.dhcp_hint import show_dhcp
from dashboard.i18n import block_t, lang, t
from dashboard.qr import qr_png
from dashboard.setup_dialog import open_setup, show_if_open
from dashboard.widgets import (
    call,
    choose_device,
    choose_line,
    dect_label,
    device_from_url,
    device_name,
    field_error,
    line_label,
    other_errors,
    when,
)

PICK_KEY = "device_view_pick"  # the device select (ids)
SHOWN_KEY = "device_view_shown"  # the device drawn last
ASK_KEY = "device_view_ask"  # (device id, action, argument) waiting for its confirmation
FLASH_KEY = "device_view_flash"
NEW_URL_KEY = "device_view_new_url"  # (device id, its new URL): the outcome of its « Nouveau clé »
SCOPE = "device."  # field errors of this view's calls

# What each action asks before it runs (i18n key, formatted with the object's name).
CONFIRM = {
    "reboot": "dv_reboot_confirm",
    "new_key": "new_key_confirm",
    "new_credentials": "dv_new_credentials_confirm",
    "unblock": "dv_unblock_confirm",  # said through block_t: what enforces the block, or that nothing does
    "unban": "dv_unban_confirm",  # formatted with the banned address (the action's argument)
}
FIELDS = ("mac", "base")  # refusals shown next to a finding's own field, not with the other errors


def pick_device(actor: Actor) -> dict[str, Any] | None:
    """The device named by the URL (a link from Téléphones), else one picked on a line, like Touches does."""
    from_url = device_from_url(actor)
    arrived = from_url is not None and from_url["id"] != st.session_state.get(SHOWN_KEY)
    if arrived:
        assert from_url is not None
        st.query_params["line"] = str(from_url["line_id"])  # the line picker opens on the device's line
        st.session_state[PICK_KEY] = from_url["id"]
    line = choose_line(actor, key="device_line")
    if line is None:
        return None
    with tx() as s:
        candidates = {d["id"]: d for d in devices.list_devices(s, actor, line["id"])}
    if not candidates:
        st.info(t("no_devices"))
        return None
    chosen = choose_device(candidates, PICK_KEY)
    st.session_state[SHOWN_KEY] = chosen
    st.query_params["device"] = str(chosen)
    return candidates[chosen]


def is_registered(actor: Actor, device: dict[str, Any]) -> bool:
    with tx() as s:
        detail = lines.get_line(s, actor, device["line_id"])
    return device["id"] in registered_devices(detail["registrations"], [d["id"] for d in detail["devices"]])


def parameters(device: dict[str, Any], line: dict[str, Any], registered: bool) -> None:
    """Model, MAC, label, line, its PSTN block as it is (if asked), Provisioning MAC, last access, registration:
    no URL, key or password."""
    access = device["last_access"] or {}
    seen = [when(access.get("at")), access.get("ip"), access.get("user_agent")]
    rows = [
        (t("model"), device["model_label"]),
        (t("mac"), device["mac"] or "—"),
        (t("label"), device["label"] or "—"),
        (t("line"), line_label(line)),
        *([(t("dv_pstn"), block_t("block_state", line["pstn_block_enforced_by"]))] if line["pstn_blocked"] else []),
        (t("provisioning_mac"), t(f"pm_{device['provisioning_mac']}")),
        (t("last_access"), " · ".join(str(p) for p in seen if p)),
        (t("registration"), t("registered") if registered else t("not_registered")),
    ]
    st.subheader(t("dv_parameters"))
    colon = " :" if lang() == "fr" else ":"  # French typography: a space before a colon
    st.markdown("\n".join(f"- **{name}**{colon} {value}" for name, value in rows))
    if device["provisioning_mac"] == ProvisioningMac.ONCE:  # without a redirection service: which DHCP options
        show_dhcp(device.get("bootstrap_dhcp") or [], key="dv_dhcp")


def dect_section(device: dict[str, Any]) -> None:
    """A DECT system spans its vPBX's lines: a handset names its base and the base's line; a base lists its
    handsets, each with its own line (the account the base's file carries for it)."""
    if device["kind"] == "dect_handset":
        st.subheader(t("base_station"))
        st.markdown(f"- {dect_label(device['base'])}" if device["base"] else "—")
    elif device["kind"] == "dect_base":
        st.subheader(t("dect_handsets", count=len(device["handset_details"]), max=device["max_handsets"]))
        if not device["handset_details"]:
            st.caption(t("dect_no_handsets"))
        st.markdown("\n".join(f"- {dect_label(h)}" for h in device["handset_details"]))


# -- actions ------------------------------------------------------------------------------------------


def _ask(device_id: int, action: str, arg: str | None = None) -> None:
    st.session_state[ASK_KEY] = (device_id, action, arg)


def _asked(device_id: int) -> tuple[str, str | None] | None:
    ask = st.session_state.get(ASK_KEY)
    return (ask[1], ask[2]) if ask and ask[0] == device_id else None


def _flash(text: str) -> None:
    st.session_state[FLASH_KEY] = text


def run_action(actor: Actor, device: dict[str, Any], action: str, arg: str | None = None) -> None:
    """Carry out a confirmed (or harmless) action through core, as the acting account."""
    st.session_state.pop(ASK_KEY, None)
    if action in device_commands.ACTIONS:
        view = call(device_commands.request_command, actor, device["id"], action, scope=SCOPE)
        if view is not None:
            remember_request(device["id"], view["id"])
    elif action == "new_key":
        if (renewed := call(devices.new_key, actor, device["id"], scope=SCOPE)) is not None:
            st.session_state[NEW_URL_KEY] = (device["id"], renewed["url"])  # new_key_outcome shows it
    elif action == "new_credentials":
        if call(lines.new_sip_credentials, actor, device["line_id"], scope=SCOPE) is not None:
            _flash(t("new_sip_done"))
    elif action == "unblock":
        if (line := call(lines.set_blocked, actor, device["line_id"], False, scope=SCOPE)) is not None:
            _flash(block_t("unblock_done", line["pstn_block_enforced_by"]))
    elif action == "unban" and arg:
        lifted = call(bans.lift_ban, actor, arg, scope=SCOPE)  # a refusal: other_errors says it, in words
        if lifted is not None:
            _flash(t("dv_unban_done", ip=lifted["source_ip"], count=lifted["lifted"]))
    elif action == "setup":
        open_setup(device["id"])
    st.rerun()


def action_button(actor: Actor, device: dict[str, Any], action: str, key: str, label: str | None = None,
                  primary: bool = False, arg: str | None = None) -> None:  # fmt: skip
    """One button; a destructive action asks first (CONFIRM), the others run at once."""
    label = label or t(f"dv_do_{action}")
    if st.button(label, key=key, type="primary" if primary else "secondary"):
        if action in CONFIRM:
            _ask(device["id"], action, arg)
            st.rerun()
        run_action(actor, device, action, arg)


def confirmation(actor: Actor, device: dict[str, Any], enforced_by: str | None) -> None:
    """The question of the action waiting for its confirmation, naming what it changes. `enforced_by`: what
    enforces the line's PSTN block (its view's `pstn_block_enforced_by`), said by the unblock question."""
    asked = _asked(device["id"])
    if asked is None:
        return
    action, arg = asked
    fields = {"name": device_name(device), "line": device["line"], "ip": arg or ""}
    question = block_t(CONFIRM[action], enforced_by, **fields) if action == "unblock" else t(CONFIRM[action], **fields)
    with st.container(border=True, key="device_view_confirm"):
        st.warning(question)
        left, right = st.columns(2)
        if left.button(t(f"dv_do_{action}"), type="primary", key="dv_confirm_yes"):
            run_action(actor, device, action, arg)
        if right.button(t("cancel"), key="dv_confirm_no"):
            st.session_state.pop(ASK_KEY, None)
            st.rerun()


def new_key_outcome(device: dict[str, Any]) -> None:
    """After a « Nouveau clé »: what happened and the phone's new URL (to copy, or scan on a softphone), shown
    once. The old URL already answers 404."""
    done = st.session_state.get(NEW_URL_KEY)
    if not done or done[0] != device["id"]:
        return
    st.session_state.pop(NEW_URL_KEY, None)
    with st.container(border=True, key="device_view_new_url"):
        st.success(t("new_key_done"), icon=":material/key:")
        st.caption(t("dv_new_url"))
        st.code(done[1], language=None)  # the code block has a copy button
        if device["kind"] == "softphone":
            st.image(qr_png(done[1]), caption=t("qr_caption"), width=240)
        st.caption(t("dv_new_url_next"))


def manual_buttons(actor: Actor, device: dict[str, Any], registered: bool, enforced_by: str | None = None) -> None:
    """[Redémarrage ...] [Resync] [Nouveau clé ...] [État ...] [Configuration manuelle ...], then the question
    of an action waiting for its confirmation (`enforced_by`: the line's `pstn_block_enforced_by`)."""
    options = device_commands.command_options(device["model"], registered, registrar_up())
    cols = st.columns(5)
    for col, action in zip(cols[:2], device_commands.ACTIONS, strict=True):
        with col:
            if options[action] is None:
                action_button(actor, device, action, key=f"dv_{action}")
    with cols[2]:
        if device.get("url") is not None and actor.role in NEW_KEY_ROLES:
            action_button(actor, device, "new_key", key="dv_new_key")
    cols[3].page_link("pages/status.py", label=t("dv_do_status"), query_params={"line": str(device["line_id"])})
    with cols[4]:
        action_button(actor, device, "setup", key="dv_setup")
    for reason in why_not_offered(options):
        st.caption(reason)
    if actor.role not in LINE_ADMIN_ROLES:  # not drawn for them (core.permissions.require_line_admin): say whom to ask
        st.caption(t("dv_sip_ask_admin"))
    confirmation(actor, device, enforced_by)
    other_errors(FIELDS, SCOPE)
    command_outcome(actor, device["id"])


# -- the fixing button of each finding ----------------------------------------------------------------


def fix_mac(actor: Actor, device: dict[str, Any], f: Finding, fid: str) -> None:
    """A MAC field, filled with the MAC the refused phone showed, saved through devices.update_device."""
    mac = st.text_input(t("dv_mac_new"), value=f.params.get("ua_mac") or "", key=f"dv_{fid}_mac")
    field_error("mac", SCOPE)
    if st.button(t("dv_do_fix_mac"), key=f"dv_{fid}_fix_mac", type="primary"):
        if call(devices.update_device, actor, device["id"], mac=mac, scope=SCOPE) is not None:
            _flash(t("dv_mac_done"))
            st.rerun()


def attach_base(actor: Actor, device: dict[str, Any], fid: str) -> None:
    """The vPBX's bases this handset can join, on any line (devices.compatible_bases), saved as its base."""
    with tx() as s:
        offered = devices.compatible_bases(s, actor, device["line_id"], device["model"], device["id"])
    bases = {b["id"]: dect_label(b, b["free"]) for b in offered}
    if not bases:
        st.caption(t("dv_no_base"))
        return
    chosen = st.selectbox(t("base_station"), list(bases), format_func=bases.get,
                          index=None, placeholder=t("choose"), key=f"dv_{fid}_base")  # fmt: skip
    field_error("base", SCOPE)
    if st.button(t("dv_do_attach_base"), key=f"dv_{fid}_attach_base", type="primary", disabled=chosen is None):
        if call(devices.update_device, actor, device["id"], base=chosen, scope=SCOPE) is not None:
            _flash(t("dv_base_done"))
            st.rerun()


def finding_button(actor: Actor, device: dict[str, Any], registered: bool, f: Finding, fid: str) -> None:
    """The button that fixes `f` (Finding.button), if this account may press it and it can work now."""
    button = f.button
    if button in device_commands.ACTIONS:
        options = device_commands.command_options(device["model"], registered, registrar_up())
        if options[button] is None:
            action_button(actor, device, button, key=f"dv_{fid}_{button}", primary=True)
        for reason in why_not_offered({button: options[button]}):
            st.caption(reason)
    elif button == "setup":
        action_button(actor, device, "setup", key=f"dv_{fid}_setup", primary=True)
    elif button == "status":
        st.page_link("pages/status.py", label=t("dv_do_status"), icon=":material/monitor_heart:",
                     query_params={"line": str(device["line_id"])})  # fmt: skip
    elif button == "fix_mac":
        fix_mac(actor, device, f, fid)
    elif button == "attach_base":
        attach_base(actor, device, fid)
    elif button == "unblock":
        if actor.role in BLOCK_ROLES:
            action_button(actor, device, "unblock", key=f"dv_{fid}_unblock", primary=True)
        else:
            st.caption(t("dv_ask_admin"))
    elif button == "unban":
        # The banned address is the finding's (core.diagnosis: source_banned's params["ip"]); core decides
        # again whether this account may lift it (a vPBX admin: only an address its own phones use).
        if actor.role in BAN_ROLES:
            action_button(actor, device, "unban", key=f"dv_{fid}_unban", primary=True, arg=str(f.params["ip"]))
        else:
            st.caption(t("dv_ask_admin"))


def diagnosis_section(actor: Actor, device: dict[str, Any], registered: bool) -> Diagnosis:
    diagnosis = device_diagnosis.load(actor, device["id"])
    device_diagnosis.findings(diagnosis, lambda f, fid: finding_button(actor, device, registered, f, fid))
    return diagnosis


def device_page(actor: Actor) -> None:
    """The whole view (pages/device.py)."""
    device = pick_device(actor)
    if device is None:
        return
    if flash := st.session_state.pop(FLASH_KEY, None):
        st.success(flash)
    with tx() as s:
        device = devices.get_device(s, actor, device["id"])  # as it is now (after a new key, say)
        line = lines.visible_line(s, actor, device["line_id"])
    new_key_outcome(device)
    assert line is not None  # the device is visible, so is its line
    registered = is_registered(actor, device)
    st.header(device_name(device))
    diagnosis = diagnosis_section(actor, device, registered)  # the verdict first
    manual_buttons(actor, device, registered, line["pstn_block_enforced_by"])
    parameters(device, line, registered)
    dect_section(device)
    device_diagnosis.timeline(diagnosis)
    alerts_expander(actor, device["id"])  # its fraud alerts and their evidence: dashboard/device_alerts.py
    show_if_open(actor, [device])
