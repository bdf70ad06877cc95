"""The Fraude page's alerts (issue 13 point 2): open counts per severity, the live alerts as a table filtered
by severity and state, and one chosen alert's detail with its evidence, its CSV and the buttons to take it
on (« Prendre en charge ») or resolve it, with a note.

One run reads a constant number of statements whatever the number of alerts: `alerts.open_counts`, one
`alerts.list_alerts`, the lines and devices the listed alerts name (`fraud.lines_by_id` /
`fraud.devices_by_id`, one statement each for all rows) and, when one is chosen, `alerts.get_alert`.
Core scopes every call (a vPBX admin gets its vPBX's alerts only) and says titles in the reader's language.

The chosen alert is named by `?alert=<id>` (the notifier links there), so it is held by id: a row clicked
in the table is mapped to the alert that row showed when it was clicked, and the detail stays on that
alert while the list moves (a new alert on top, the chosen one resolved and gone from a live-only list).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from core import alerts, fraud
from core.alert_rules import SEVERITIES
from core.errors import NotFound
from core.permissions import Actor
from dashboard.db import tx
from dashboard.error_texts import say_error
from dashboard.i18n import TEXTS, lang, t
from dashboard.widgets import call, device_name, field_error, line_label, other_errors, when

TABLE = "fraud_alerts_table"  # the table's selection state
SHOWN_IDS = "fraud_alert_ids"  # the ids of the rows drawn last, in order: a clicked row's alert
LAST_SELECTION = "fraud_alert_selection"  # the table's selection as last seen: only a change picks anew
PENDING = "fraud_alert_pending"  # {"id", "action", "note"}: a button pressed, carried out before drawing
DONE = "fraud_alert_done"  # {"id", "state", "by", "at"}: the outcome of the last action, said once
NOTE_VERSION = "fraud_alert_note_version"  # alert id -> n: a new note field after a success
PARAM = "alert"  # ?alert=<id>: the alert shown
ACTIONS = {"acknowledge": alerts.acknowledge, "resolve": alerts.resolve}
# Evidence columns for the CSV: core's own field names, stable for scripts whatever the reader's language.
CSV_COLUMNS = ("at", "origin", "origin_id", "source_ip", "country", "what", "user_agent", "path")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run such a cell as a formula


def _say(prefix: str, value: Any) -> str:
    """`prefix + value` in the reader's language, or the raw value when there is no such text."""
    key = f"{prefix}{value}"
    return t(key) if key in TEXTS[lang()] else str(value)


def severity_label(severity: str) -> str:
    return _say("al_sev_", severity)


def state_label(state: str) -> str:
    return _say("al_st_", state)


def what_label(origin: str, what: str) -> str:
    """An evidence row's reason, kind or event, in words (an unknown one by its raw name)."""
    if origin == "registration_event":
        return _say("tl_", what)
    key = f"al_se_{what}"
    return t(key) if key in TEXTS[lang()] else _say("rs_", what)


def country_label(country: str) -> str:
    """A country code as it is ("CH"); an address that is no country's (private, loopback...) in words."""
    return _say("al_country_", country) if country else "—"


def _id_of(subject: str) -> str:
    return subject.partition(":")[2]


def subject_label(alert: dict[str, Any], lines: dict[int, dict[str, Any]], devices: dict[int, dict[str, Any]]) -> str:
    """What the alert is about, readable: the device or the line by name, the address, the request pattern."""
    kind = alert["subject"].partition(":")[0]
    if kind == "device":
        device = devices.get(alert["device_id"] or 0)
        if device is None:
            return t("al_subject_device_gone", id=_id_of(alert["subject"]))
        return f"{device_name(device)} · {device['line']}"
    if kind == "line":
        line = lines.get(alert["line_id"] or 0)
        return line_label(line) if line else t("al_subject_line_gone", id=_id_of(alert["subject"]))
    if kind == "source":
        return t("al_subject_source", ip=alert["source_ip"] or _id_of(alert["subject"]))
    if kind == "pattern":
        return t("al_subject_pattern", pattern=alert["detail"].get("pattern") or "?")
    return alert["subject"]


def _places(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)


def detail_parts(detail: dict[str, Any]) -> list[str]:
    """The rule's parameters (core's `detail`) as a few words each; a field this view does not know: raw."""
    parts = []
    if "in_window" in detail:
        parts.append(t("al_d_in_window", n=detail["in_window"], minutes=detail.get("window_minutes", "?")))
    for name, value in detail.items():
        if name in ("in_window", "window_minutes") or value in (None, "", []):
            continue
        if name == "km":
            parts.append(t("al_d_km", km=value))
        elif name == "renewed_at":
            parts.append(t("al_d_renewed_at", value=when(str(value))))
        elif name == "what":
            continue  # said by each evidence row
        elif name == "user_agent":
            parts.append(f"User-Agent {value}")
        elif f"al_d_{name}" in TEXTS[lang()]:
            parts.append(t(f"al_d_{name}", value=_places(value)))
        else:
            parts.append(f"{name}: {_places(value)}")
    return parts


def _acted(alert: dict[str, Any]) -> str:
    if not alert["acted_by"]:
        return ""
    return t("al_acted_by", by=alert["acted_by"], at=when(alert["acted_at"]))


def table_frame(rows: list[dict[str, Any]], lines: dict[int, dict[str, Any]], devices: dict[int, dict[str, Any]]
                ) -> pd.DataFrame:  # fmt: skip
    columns = [t("al_severity"), t("al_alert"), t("al_subject"), t("al_state"), t("count"), t("fraud_first_seen"),
               t("fraud_last_seen"), t("al_acted")]  # fmt: skip
    return pd.DataFrame(
        [[severity_label(a["severity"]), a["title"], subject_label(a, lines, devices), state_label(a["state"]),
          a["count"], when(a["first_seen"]), when(a["last_seen"]), _acted(a)] for a in rows],
        columns=columns,
    )  # fmt: skip


def _second(iso: str | None) -> str:
    """An evidence time to the second (ten failures can fall in one minute), UTC like the rest of the page."""
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC") if iso else "—"


def evidence_frame(evidence: list[dict[str, Any]]) -> pd.DataFrame:
    """The evidence as the reader reads it: times, origins, kinds and address kinds in their language."""
    columns = [t("ev_time"), t("al_origin"), t("ev_address"), t("al_country"), t("al_what"), "User-Agent",
               t("al_path")]  # fmt: skip
    return pd.DataFrame(
        [[_second(e["at"]), _say("al_or_", e["origin"]), e["source_ip"], country_label(e["country"]),
          what_label(e["origin"], e["what"]), e["user_agent"], e["path"]] for e in evidence],
        columns=columns,
    )  # fmt: skip


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text: User-Agents and paths are what an attacker sent."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def evidence_csv(evidence: list[dict[str, Any]]) -> bytes:
    """The evidence rows with English column names (core's fields) and raw values: full UTC times, origins,
    reasons and countries as codes. A cell starting like a formula gets a leading apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows([_cell(e.get(c)) for c in CSV_COLUMNS] for e in evidence)
    return out.getvalue().encode("utf-8")


# -- choosing an alert --------------------------------------------------------------------------------------


def _param() -> int | None:
    raw = st.query_params.get(PARAM)
    return int(raw) if raw and raw.isdigit() else None


def _chosen() -> int | None:
    """The alert to show. A new selection in the table names the alert of the row clicked (as it was drawn);
    otherwise `?alert=`, which also keeps the choice while the list changes."""
    state = st.session_state.get(TABLE)
    if state is None:  # no table on the last run (another page, an empty list): nothing was clicked
        st.session_state[LAST_SELECTION] = ()
        return _param()
    selection = state.get("selection") or {}
    rows = tuple(selection.get("rows") or ())
    if rows != st.session_state.get(LAST_SELECTION, ()):
        st.session_state[LAST_SELECTION] = rows
        shown = st.session_state.get(SHOWN_IDS, [])
        picked = shown[rows[0]] if rows and rows[0] < len(shown) else None
        if picked is None:
            st.query_params.pop(PARAM, None)
        else:
            st.query_params[PARAM] = str(picked)
        return picked
    return _param()


def _forget() -> None:
    st.query_params.pop(PARAM, None)


# -- acting -------------------------------------------------------------------------------------------------


def _note_key(alert_id: int) -> str:
    return f"fraud_alert_note_{alert_id}_{st.session_state.get(NOTE_VERSION, {}).get(alert_id, 0)}"


def _press(alert_id: int, action: str) -> None:
    """Button callback: remember what was pressed with the note as typed; carried out before the next draw,
    so a click is never lost (an alert resolved meanwhile is refused in words, not skipped)."""
    st.session_state[PENDING] = {"id": alert_id, "action": action, "note": st.session_state.get(_note_key(alert_id))}


def _scope(alert_id: int) -> str:
    return f"alert{alert_id}."  # refusals shown under this alert's fields only


def _carry_out(actor: Actor) -> None:
    pending = st.session_state.pop(PENDING, None)
    if not pending or pending["action"] not in ACTIONS:
        return
    alert_id = pending["id"]
    view = call(ACTIONS[pending["action"]], actor, alert_id, pending["note"], scope=_scope(alert_id))
    if view is None:  # refused: call() kept the refusal and reran
        return
    st.session_state[DONE] = {"id": alert_id, "state": view["state"], "by": view["acted_by"], "at": view["acted_at"]}
    versions = st.session_state.setdefault(NOTE_VERSION, {})
    versions[alert_id] = versions.get(alert_id, 0) + 1  # the next note field starts empty
    st.query_params[PARAM] = str(alert_id)  # the detail stays on it, even once it leaves a live-only list


# -- drawing ------------------------------------------------------------------------------------------------


def counts(open_counts: dict[str, int]) -> None:
    st.subheader(t("al_open"))
    for column, severity in zip(st.columns(len(SEVERITIES)), SEVERITIES, strict=True):
        column.metric(severity_label(severity).capitalize(), open_counts.get(severity, 0))


def _filters() -> tuple[str | None, tuple[str, ...]]:
    # The labels are said now, in this run's language (a format_func reading the session later may not).
    severities = {s: severity_label(s) for s in SEVERITIES}
    states = {s: state_label(s) for s in alerts.STATES}
    left, right = st.columns(2)
    severity = left.segmented_control(t("al_severity"), list(severities), format_func=severities.__getitem__,
                                      key="fraud_alert_severity")  # fmt: skip
    chosen = right.segmented_control(t("al_states"), list(states), selection_mode="multi",
                                     default=list(alerts.LIVE), format_func=states.__getitem__,
                                     key="fraud_alert_states")  # fmt: skip
    return severity, tuple(chosen) or alerts.STATES  # none chosen: every state


def detail(alert: dict[str, Any], subject: str) -> None:
    """One alert: what, about what, since when, who acted; its evidence and CSV; the buttons and the note."""
    alert_id, scope = alert["id"], _scope(alert["id"])
    with st.container(border=True, key=f"fraud_alert_{alert_id}"):
        st.markdown(f"**{alert['title']}** · {severity_label(alert['severity'])}")
        st.text(subject)  # names typed by people (device labels): shown as typed, never as markdown
        st.caption(t("al_seen", first=when(alert["first_seen"]), last=when(alert["last_seen"]), n=alert["count"]))
        if parts := detail_parts(alert["detail"]):
            st.caption(" · ".join(parts))
        done = st.session_state.get(DONE)
        if done and done["id"] == alert_id:
            st.session_state.pop(DONE)
            st.success(t(f"al_done_{done['state']}", by=done["by"], at=when(done["at"])))
        elif alert["acted_by"]:
            st.info(t("al_state_by", state=state_label(alert["state"]), by=alert["acted_by"],
                      at=when(alert["acted_at"])))  # fmt: skip
        else:
            st.info(t("al_state_only", state=state_label(alert["state"])))
        if alert["note"]:
            st.text(t("al_note_shown", note=alert["note"]))
        evidence = alert["evidence"]
        st.markdown(f"**{t('al_evidence', count=len(evidence))}**")
        if evidence:
            st.dataframe(evidence_frame(evidence), hide_index=True, key=f"fraud_alert_evidence_{alert_id}")
            st.download_button(t("al_csv"), data=evidence_csv(evidence), file_name=f"alert-{alert_id}-evidence.csv",
                               mime="text/csv", on_click="ignore", icon=":material/download:",
                               key=f"fraud_alert_csv_{alert_id}")  # fmt: skip
        else:
            st.caption(t("al_no_evidence"))
        field_error("alert", scope=scope)
        other_errors(("alert", "note"), scope=scope)
        if alert["state"] == alerts.RESOLVED:
            st.caption(t("al_resolved_note"))
            return
        st.text_area(t("al_note"), key=_note_key(alert_id), placeholder=t("al_note_hint"))
        field_error("note", scope=scope)
        ack, resolve = st.columns(2)
        if alert["state"] == alerts.OPEN:
            ack.button(t("al_ack"), icon=":material/front_hand:", key=f"fraud_alert_ack_{alert_id}",
                       on_click=_press, args=(alert_id, "acknowledge"))  # fmt: skip
        resolve.button(t("al_resolve"), icon=":material/task_alt:", type="primary",
                       key=f"fraud_alert_resolve_{alert_id}", on_click=_press, args=(alert_id, "resolve"))  # fmt: skip


@st.fragment
def panel(actor: Actor) -> None:
    """The alerts part of the page: a fragment, so picking a row or a filter redraws only this part."""
    _carry_out(actor)
    counts_box = st.container()  # drawn once read, above the list and its filters
    st.subheader(t("al_title"))
    severity, states = _filters()
    chosen = _chosen()
    found: dict[str, Any] | None = None
    missing = None
    with tx() as s:
        open_counts = alerts.open_counts(s, actor)
        rows = alerts.list_alerts(s, actor, states=states, severity=severity, lang=lang())
        if chosen is not None:
            try:
                found = alerts.get_alert(s, actor, chosen, lang=lang())
            except NotFound as exc:  # gone, or another vPBX's: the same answer
                missing = exc
        named = [*rows, found] if found else rows  # every row's line and device, named in one statement each
        line_ids = list(dict.fromkeys(a["line_id"] for a in named if a["line_id"]))
        device_ids = list(dict.fromkeys(a["device_id"] for a in named if a["device_id"]))
        lines = {x["id"]: x for x in fraud.lines_by_id(s, actor, line_ids)}
        devices = {x["id"]: x for x in fraud.devices_by_id(s, actor, device_ids)}
    with counts_box:
        counts(open_counts)
    if rows:
        if len(rows) >= alerts.LISTED:
            st.caption(t("al_cut", count=alerts.LISTED))
        st.dataframe(table_frame(rows, lines, devices), hide_index=True, on_select="rerun",
                     selection_mode="single-row", key=TABLE)  # fmt: skip
    else:
        st.caption(t("al_none"))
    st.session_state[SHOWN_IDS] = [a["id"] for a in rows]
    if missing is not None:
        text = say_error(missing)
        st.warning(text[:1].upper() + text[1:])
        _forget()
    elif found is not None:
        detail(found, subject_label(found, lines, devices))
    elif rows:
        st.caption(t("al_pick"))
