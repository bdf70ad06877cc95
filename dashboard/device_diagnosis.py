"""The Appareil view's diagnosis (issue 12 point 3): the verdict, each finding with its evidence, its fixing
button and a link to its "Résoudre les problèmes" section, and the device's timeline with filters and CSV.

Everything drawn comes from one `core.diagnosis.diagnose_device` call (one device's facts, a constant
number of statements). Rows hold no secret (core's Facts carry none); the table cells are still built
from known fields only, and a field whose name reads like a secret is never shown. Kinds, reasons and
states are said in the reader's language; one this view does not know yet is shown by its raw name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from core import device_commands
from core.diagnosis import Diagnosis, Finding, diagnose_device
from core.permissions import Actor
from dashboard.db import tx
from dashboard.i18n import TEXTS, lang, t
from dashboard.widgets import when

HELP_PAGE = "pages/help.py"
VERDICT_STYLE = {"ok": "success", "warning": "warning", "fault": "error"}
SEVERITY_ICON = {"info": ":material/info:", "warning": ":material/warning:", "fault": ":material/error:"}
SIP_STATUS = re.compile(r"[1-6]\d\d \S")  # the status part of a command's result ("200 OK from ...")
# Fields drawn in their own column, or folded into the address; the others become the Detail column.
OWN_COLUMNS = {"at", "kind", "source_ip", "user_agent", "port"}
SECRET_NAME = re.compile(r"password|secret|access_key|ha1|token", re.I)  # never drawn, whatever core adds


def load(actor: Actor, device_id: int) -> Diagnosis:
    with tx() as s:
        return diagnose_device(s, actor, device_id, datetime.now(UTC))


def _say(prefix: str, value: Any) -> str:
    """`prefix + value` in the reader's language, or the raw value when there is no such text."""
    key = f"{prefix}{value}"
    return t(key) if key in TEXTS[lang()] else str(value)


def kind_label(kind: str) -> str:
    return _say("tl_", kind)


def _time(iso: Any) -> str:
    return when(iso) if iso else "—"


def address(row: dict[str, Any]) -> str:
    ip, port = row.get("source_ip") or "", row.get("port")
    return f"{ip}:{port}" if ip and port else ip


def _part(kind: str, name: str, value: Any, device_id: int) -> str | None:
    """One field of a row as a few words, or None when it says nothing here."""
    if value is None or value == "" or SECRET_NAME.search(name):
        return None
    if name == "status":
        return f"HTTP {value}"
    if name == "reason":
        return _say("rs_", value)
    if name == "ua_mac":
        return t("ev_mac", mac=value)
    if name == "transport":
        return str(value).upper()
    if name == "expires_at":
        return t("ev_expires", at=_time(value))
    if name == "live":
        return t("ev_live") if value else t("ev_gone")
    if name == "changed":
        return t("ev_changed", at=_time(value))
    if name == "finished_at":
        return t("ev_finished", at=_time(value))
    if name == "attempts":
        return t("ev_attempts", n=value)
    if name == "device":
        return None if value == device_id else t("ev_device", id=value)
    if name == "scope":
        return t("ev_scope", scope=_say("scope_", value))
    if name == "action":
        return _say("redir_", value) if kind == "redirection" else _say("", value)
    if name == "state":
        if kind == "redirection":
            return _say("redir_", value)
        return _say("oc_", device_commands.OUTCOMES.get(str(value), value))
    if name == "result":
        status = str(value).split(" from ", 1)[0]
        return status if SIP_STATUS.match(status) else None
    if name == "error":
        return str(value)  # a service's own answer, shown as it came (as Configuration manuelle does)
    return f"{name}: {value}"  # a field this view does not know yet: raw, rather than hidden or a crash


def detail(row: dict[str, Any], device_id: int) -> str:
    kind = str(row.get("kind", ""))
    parts = (_part(kind, name, value, device_id) for name, value in row.items() if name not in OWN_COLUMNS)
    return " · ".join(p for p in parts if p)


def evidence_frame(rows: tuple[dict[str, Any], ...], device_id: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                t("ev_time"): _time(r.get("at")),
                t("ev_address"): address(r),
                "User-Agent": r.get("user_agent") or "",
                t("ev_detail"): detail(r, device_id),
            }  # fmt: skip
            for r in rows
        ],
        columns=[t("ev_time"), t("ev_address"), "User-Agent", t("ev_detail")],
    )


# -- verdict and findings ---------------------------------------------------------------------------------


def verdict(diagnosis: Diagnosis) -> None:
    getattr(st, VERDICT_STYLE.get(diagnosis.verdict, "info"))(t(f"verdict_{diagnosis.verdict}"))


Button = Callable[[Finding, str], None]  # draws a finding's fixing button; the str is the finding's widget id


def finding(f: Finding, fid: str, device_id: int, button: Button) -> None:
    """Its text, its evidence (folded), its fixing button and its help section."""
    with st.container(border=True, key=f"dv_finding_{fid}"):
        st.markdown(f.text(lang()))
        if f.evidence:
            with st.expander(t("dv_evidence", count=len(f.evidence))):
                st.dataframe(evidence_frame(f.evidence, device_id), hide_index=True)
        left, right = st.columns([3, 1])
        with left:
            button(f, fid)
        right.page_link(HELP_PAGE, label=t("dv_help"), icon=":material/help:", query_params={"code": f.code})


def finding_ids(diagnosis: Diagnosis) -> list[str]:
    """A widget id per finding: its code, counted when it comes twice (two banned addresses)."""
    seen: dict[str, int] = {}
    ids = []
    for f in diagnosis.findings:
        n = seen[f.code] = seen.get(f.code, -1) + 1
        ids.append(f.code if n == 0 else f"{f.code}_{n}")
    return ids


def findings(diagnosis: Diagnosis, button: Button) -> None:
    st.subheader(t("dv_findings"))
    verdict(diagnosis)
    for f, fid in zip(diagnosis.findings, finding_ids(diagnosis), strict=True):
        finding(f, fid, diagnosis.device, button)


# -- timeline ---------------------------------------------------------------------------------------------


def timeline_rows(diagnosis: Diagnosis) -> list[dict[str, Any]]:
    """The timeline as named cells (the table and the CSV), newest first as core gives them."""
    return [
        {
            "at": r.get("at"),
            "kind": str(r.get("kind", "")),
            "address": address(r),
            "user_agent": r.get("user_agent") or "",
            "detail": detail(r, diagnosis.device),
        }  # fmt: skip
        for r in diagnosis.timeline
    ]


def filtered(rows: list[dict[str, Any]], kinds: list[str], text: str) -> list[dict[str, Any]]:
    """Rows of the chosen kinds (none chosen: all) whose address or User-Agent holds `text`."""
    needle = text.strip().lower()
    return [
        r
        for r in rows
        if (not kinds or r["kind"] in kinds)
        and (not needle or needle in r["address"].lower() or needle in r["user_agent"].lower())
    ]


def timeline_frame(rows: list[dict[str, Any]], iso_time: bool = False) -> pd.DataFrame:
    """Columns named in the reader's language; the CSV keeps the full UTC time, the table the UI's."""
    time_column = t("tl_time_utc") if iso_time else t("ev_time")
    columns = [time_column, t("tl_kind"), t("ev_address"), "User-Agent", t("ev_detail")]
    return pd.DataFrame(
        [
            [
                (r["at"] or "") if iso_time else _time(r["at"]),
                kind_label(r["kind"]),
                r["address"],
                r["user_agent"],
                r["detail"],
            ]
            for r in rows
        ],  # fmt: skip
        columns=columns,
    )


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    return timeline_frame(rows, iso_time=True).to_csv(index=False).encode("utf-8")


def timeline(diagnosis: Diagnosis) -> None:
    st.subheader(t("tl_title"))
    rows = timeline_rows(diagnosis)
    if not rows:
        st.caption(t("tl_empty"))
        return
    # The labels are said now, in this run's language (a format_func reading the session later may not).
    labels = {kind: kind_label(kind) for kind in dict.fromkeys(r["kind"] for r in rows)}
    present = list(labels)
    # Keyed by device: another device starts with its own filters.
    left, right = st.columns(2)
    kinds = left.multiselect(t("tl_kinds"), present, format_func=labels.__getitem__, placeholder=t("tl_all"),
                             key=f"dv_tl_kinds_{diagnosis.device}")  # fmt: skip
    text = right.text_input(t("tl_search"), key=f"dv_tl_q_{diagnosis.device}")
    shown = filtered(rows, [k for k in kinds if k in present], text)
    st.caption(t("tl_shown", shown=len(shown), total=len(rows)))
    st.dataframe(timeline_frame(shown), hide_index=True)
    st.download_button(t("tl_csv"), data=csv_bytes(shown), file_name=f"device-{diagnosis.device}-timeline.csv",
                       mime="text/csv", on_click="ignore", icon=":material/download:",
                       key=f"dv_tl_csv_{diagnosis.device}")  # fmt: skip
