"""The Téléphones page's « Nom affiché » of the chosen line: changed by its vPBX administrator and support
(core.permissions.LINE_EDIT_ROLES, which says why not by the end user), shown to the end user with whom to ask."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import lines
from core.permissions import LINE_EDIT_ROLES, Actor
from dashboard.i18n import t
from dashboard.widgets import call, field_error, other_errors

SCOPE = "line."


def display_name_form(actor: Actor, line: dict[str, Any]) -> bool:
    """The line's display name; returns whether it holds an unsaved change."""
    stored = line.get("display_name") or ""
    if actor.role not in LINE_EDIT_ROLES:
        st.caption(t("line_name_ask", name=stored or "—"))
        return False
    version = st.session_state.get(f"line_name_{line['id']}_version", 0)
    key = f"line_name_{line['id']}_{version}"  # a new key after a save: the field starts from the stored name
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    typed = left.text_input(
        t("line_name"), value=stored, max_chars=lines.DISPLAY_MAX, placeholder=line.get("extension") or line["number"],
        help=t("line_name_help", max=lines.DISPLAY_MAX), key=key,
    )  # fmt: skip
    if right.button(t("save"), key=f"{key}_save", disabled=typed.strip() == stored):
        if call(lines.update_line, actor, line["id"], display_name=typed, scope=SCOPE) is not None:
            st.session_state[f"line_name_{line['id']}_version"] = version + 1
            st.session_state["flash"] = t("line_name_saved")
            st.rerun()
    dirty = typed.strip() != stored
    if dirty:
        st.caption(t("unsaved_changes"))
    field_error("display_name", SCOPE)
    other_errors(("display_name",), SCOPE)
    return dirty
