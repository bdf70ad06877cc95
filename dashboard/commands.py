"""Reboot ("Redémarrage") and resync buttons, and the outcome of each request as it happens.

The dashboard never sends SIP itself: it asks core to queue a command that the serve process's
registrar carries out (the two processes share only the database: docs/ARCHITECTURE.md,
"Processes"). A button is drawn only where the request can work (core.device_commands.command_options);
otherwise a caption says why. After a click, a fragment polls the command row every POLL_SECONDS
until its state is final: sent -> answered / not registered / no answer / error.
"""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

from core import device_commands
from core.errors import NotFound
from core.permissions import Actor
from dashboard.db import tx
from dashboard.i18n import t
from dashboard.widgets import call, other_errors

SIP_STATUS = re.compile(r"[1-6]\d\d \S")  # "486 Busy Here": a status line, the protocol's own words

POLL_SECONDS = 1.0
REQUESTS_KEY = "device_commands"  # device id -> id of the last command this session asked for it
STYLE = {"sent": "info", "sending": "info", "answered": "success", "not_registered": "warning",
         "no_answer": "warning", "error": "error"}  # fmt: skip


def registrar_up() -> bool:
    with tx() as s:
        return device_commands.registrar_running(s)


def _requests() -> dict[int, int]:
    return st.session_state.setdefault(REQUESTS_KEY, {})


def remember_request(device_id: int, command_id: int) -> None:
    """The command whose outcome `command_outcome` shows for this device (État and Appareil share it)."""
    _requests()[device_id] = command_id


def outcome_text(view: dict[str, Any]) -> str:
    """What the person is told for a command row (its `outcome`, from core.device_commands.OUTCOMES)."""
    result = view.get("result") or ""
    status = result.split(" from ", 1)[0]  # "200 OK from 192.0.2.10:5062" -> "200 OK"
    if not SIP_STATUS.match(status):  # the registrar's own English words (closed connection, expired...)
        status = t("cmd_no_sip_answer")
    return t(f"cmd_{view['outcome']}", action=t(view["action"]), result=status)


def _show(view: dict[str, Any]) -> None:
    getattr(st, STYLE.get(view["outcome"], "info"))(outcome_text(view))


def _status(actor: Actor, command_id: int) -> dict[str, Any] | None:
    try:
        with tx() as s:
            return device_commands.command_status(s, actor, command_id)
    except NotFound:  # the device was deleted meanwhile
        return None


@st.fragment(run_every=POLL_SECONDS)
def _poll(actor: Actor, command_id: int) -> None:
    view = _status(actor, command_id)
    if view is None:
        return
    _show(view)
    if view["done"]:
        st.rerun()  # a full run draws the final state without this poller, which then stops


def command_outcome(actor: Actor, device_id: int) -> None:
    """The last request's state; polled while it is not final."""
    command_id = _requests().get(device_id)
    if command_id is None:
        return
    view = _status(actor, command_id)
    if view is None:
        _requests().pop(device_id, None)
    elif view["done"]:
        _show(view)
    else:
        _poll(actor, command_id)


def why_not_offered(options: dict[str, str | None]) -> list[str]:
    """One line per reason: "Reboot, Resync not offered: the phone is not registered"."""
    by_reason: dict[str, list[str]] = {}
    for action, reason in options.items():
        if reason is not None:
            by_reason.setdefault(reason, []).append(t(action))
    return [t("cmd_not_offered", actions=", ".join(a), reason=t(f"why_{r}")) for r, a in by_reason.items()]


def command_buttons(actor: Actor, device: dict[str, Any], registered: bool, up: bool) -> None:
    options = device_commands.command_options(device["model"], registered, up)
    for line in why_not_offered(options):
        st.caption(line)
    offered = [action for action, reason in options.items() if reason is None]
    scope = f"cmd{device['id']}."
    if offered:
        for col, action in zip(st.columns(len(offered)), offered, strict=True):
            if col.button(t(action), key=f"{action}_{device['id']}"):
                view = call(device_commands.request_command, actor, device["id"], action, scope=scope)
                if view is not None:
                    remember_request(device["id"], view["id"])
    other_errors((), scope)
    command_outcome(actor, device["id"])
