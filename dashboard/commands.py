"""Reboot ("Redémarrage") and resync buttons, wired to core.device_commands when it is installed.

The dashboard never sends SIP itself: it asks core to queue a command that the serve process's
registrar carries out (DESIGN.md "Processes"). Until core.device_commands exists, or while the
registrar is not running, the buttons are disabled and say so.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import streamlit as st

from core.catalogue import default_catalogue
from core.errors import VoipAdminError
from core.permissions import Actor
from dashboard.db import tx
from dashboard.i18n import t


def _commands_module() -> ModuleType | None:
    try:
        return importlib.import_module("core.device_commands")
    except ImportError:
        return None


def registrar_up() -> bool:
    module = _commands_module()
    if module is None or not hasattr(module, "registrar_running"):
        return False
    with tx() as s:
        return bool(module.registrar_running(s))


def command_buttons(actor: Actor, device: dict[str, Any]) -> None:
    model = default_catalogue().get(device["model"])
    if model is None or not (model.reboot_event or model.resync_event):
        return
    up = registrar_up()
    if not up:
        st.caption(t("registrar_down"))
    cols = st.columns(2)
    for col, action, event in ((cols[0], "reboot", model.reboot_event), (cols[1], "resync", model.resync_event)):
        if event is None:
            continue
        if col.button(t(action), key=f"{action}_{device['id']}", disabled=not up):
            module = _commands_module()
            try:
                with tx() as s:
                    module.request_command(s, actor, device["id"], action)  # type: ignore[union-attr]
            except VoipAdminError as exc:
                st.error(exc.message)
            else:
                st.success(t("command_sent", action=t(action)))
