"""Téléphones' « Appels »: the chosen line's newest calls from the switch's call records (core.calls), both
directions, with how each ended. Read only; the rights are core's (whoever sees the line sees its calls)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st

from core import calls
from core.permissions import Actor
from dashboard.db import tx
from dashboard.i18n import t

SHOWN = 50  # the newest calls; the CLI (`line calls NUMBER --limit N`) reads further back


def _at(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _row(c: dict[str, Any]) -> dict[str, Any]:
    return {
        t("calls_start"): _at(c["start"]),
        t("calls_direction"): t(f"calls_dir_{c['direction']}"),
        t("calls_caller"): c["caller"],
        t("calls_callee"): c["callee"],
        t("calls_kind"): t(f"calls_kind_{c['kind']}") if c["kind"] else "",
        t("calls_disposition"): t(f"calls_disp_{c['disposition']}")
        + (f" ({t('calls_why_' + c['refusal'])})" if c["refusal"] else ""),
        t("calls_answer"): _at(c["answer"]),
        t("calls_end"): _at(c["end"]),
        t("calls_duration"): "" if c["duration"] is None else str(c["duration"]),  # no "None" in a cell
        t("calls_source"): c["source"],
    }


def calls_table(actor: Actor, line: dict[str, Any]) -> None:
    st.subheader(t("calls"))
    with tx() as s:
        rows = calls.line_calls(s, actor, line["id"], limit=SHOWN)
    if not rows:
        st.info(t("calls_none"))
        return
    st.dataframe([_row(c) for c in rows], hide_index=True, width="stretch", key="calls_table")
    st.caption(t("calls_shown", count=len(rows), number=line["number"]))
