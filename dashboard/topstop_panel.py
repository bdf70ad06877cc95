"""Téléphones' « TopStop » (issue 16 point 4, manual §6): the chosen line's spend against its day and month limits
and, for its vPBX's administrator and support, the vPBX's; a block said plainly, with « Débloquer » and a note
for those who may lift it, and the limits' form for those who may set them (core.topstop.limits decides)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.permissions import Actor
from core.settings import current_settings
from core.topstop import limits
from dashboard.db import tx
from dashboard.i18n import t
from dashboard.widgets import call, field_error, other_errors, when

SCOPE = "topstop."


def _periods(view: dict[str, Any]) -> None:
    for p in view["periods"]:
        name = t(f"topstop_{p['period']}")
        if p["limit"] is None:
            st.caption(t("topstop_no_limit", period=name, spent=p["spent"], currency=view["currency"]))
            continue
        st.progress(p["percent"] / 100, text=t("topstop_spent_of", period=name, spent=p["spent"], limit=p["limit"],
                                               currency=view["currency"], left=p["left"]))  # fmt: skip


def _blocks(actor: Actor, view: dict[str, Any], key: str) -> None:
    if not view["blocked"]:
        st.success(t("topstop_open"), icon=":material/call:")
        return
    for b in view["blocks"]:
        whose = t("topstop_by_vpbx") if b["scope"] == "vpbx" and view["scope"] == "line" else ""
        st.error(t("topstop_blocked", period=t(f"topstop_{b['period']}"), limit=b["limit"], spent=b["spent"],
                   currency=view["currency"], at=when(b["blocked_at"]), ended=b["calls_ended"]) + whose,
                 icon=":material/block:")  # fmt: skip
    own = [b for b in view["blocks"] if b["scope"] == view["scope"]]
    if own and view["may_unblock"]:
        note = st.text_input(t("topstop_note"), key=f"{key}_note", max_chars=1000)
        if st.button(t("topstop_unblock"), icon=":material/lock_open:", key=f"{key}_unblock"):
            subject = {"line_ref": view["line_id"]} if view["scope"] == "line" else {"vpbx_name": view["vpbx"]}
            if call(limits.unblock, actor, note, scope=SCOPE, **subject) is not None:
                st.session_state["flash"] = t("topstop_unblocked")
                st.rerun()
        field_error("note", SCOPE)


def _form(actor: Actor, view: dict[str, Any], key: str) -> None:
    if not view["may_set"]:
        return
    subject = {"line_ref": view["line_id"]} if view["scope"] == "line" else {"vpbx_name": view["vpbx"]}
    with st.form(f"{key}_form", border=False):
        cols = st.columns(2)
        typed = {}
        for col, p in zip(cols, view["periods"], strict=True):
            typed[p["period"]] = col.text_input(t("topstop_limit", period=t(f"topstop_{p['period']}"),
                                                  currency=view["currency"]),
                                                value=p["limit"] or "", placeholder=t("topstop_none"),
                                                key=f"{key}_{p['period']}")  # fmt: skip
        if st.form_submit_button(t("save")):
            for p in view["periods"]:
                wanted = typed[p["period"]].strip() or "none"
                if wanted != (p["limit"] or "none"):
                    if call(limits.set_limit, actor, p["period"], wanted, scope=SCOPE, **subject) is None:
                        return
            st.session_state["flash"] = t("topstop_saved")
            st.rerun()
    field_error("amount", SCOPE)


def _subject(actor: Actor, view: dict[str, Any], title: str, key: str) -> None:
    st.markdown(f"**{title}**")
    _periods(view)
    if view["live_calls"]:
        st.caption(t("topstop_live", count=view["live_calls"]))
    _blocks(actor, view, key)
    _form(actor, view, key)


def topstop_panel(actor: Actor, line: dict[str, Any]) -> None:
    """The panel for the chosen line (and its vPBX, for whoever may see the vPBX's spend)."""
    st.subheader(t("topstop"))
    settings = current_settings()
    with tx() as s:
        mine = limits.show(s, actor, settings, line_ref=line["id"])
        pbx = limits.show(s, actor, settings, vpbx_name=mine["vpbx"]) if actor.role != "user" else None
    if pbx is None:
        _subject(actor, mine, t("topstop_line", number=line["number"]), f"ts_line_{line['id']}")
    else:
        left, right = st.columns(2)
        with left:
            _subject(actor, mine, t("topstop_line", number=line["number"]), f"ts_line_{line['id']}")
        with right:
            _subject(actor, pbx, t("topstop_vpbx", name=pbx["vpbx"]), f"ts_vpbx_{pbx['vpbx_id']}")
    other_errors(("amount", "note"), SCOPE)
