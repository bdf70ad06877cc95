"""Fraude: config downloads, unknown-key probes and failed SIP auth per source; devices seen from several
IPs; and the responses: a new key for a device, new SIP credentials, block or unblock a line."""

import pandas as pd
import plotly.express as px
import streamlit as st

from core import devices, fraud, lines
from dashboard.db import tx
from dashboard.guard import require_login
from dashboard.i18n import t
from dashboard.widgets import call, device_name, line_label, other_errors

actor = require_login("provider", "vpbx_admin")  # first statement of every page: no login, no data

st.title(t("fraud"))
if flash := st.session_state.pop("flash", None):
    st.success(flash)
periods = {d: t(f"period_{d}") for d in (1, 7, 30)}
days = st.segmented_control(t("period"), list(periods), default=7, format_func=periods.get, key="fraud_days") or 7
start = fraud.since(days)


def chart(title: str, rows: list[dict], key: str) -> None:
    st.subheader(title)
    if not rows:
        st.caption(t("no_data"))
        return
    frame = pd.DataFrame(rows).rename(columns={"hour": t("hour"), "source_ip": t("source_ip"), "count": t("count")})
    fig = px.bar(frame, x=t("hour"), y=t("count"), color=t("source_ip"))
    fig.update_layout(height=320, margin={"l": 0, "r": 0, "t": 10, "b": 0}, legend_title_text=t("source_ip"))
    st.plotly_chart(fig, key=key)


with tx() as s:
    downloads = fraud.config_downloads(s, actor, start)
    probes = fraud.key_probes(s, actor, start)
    failures = fraud.sip_auth_failures(s, actor, start)
    shared = fraud.multi_ip_devices(s, actor, start)
    visible_lines = lines.list_lines(s, actor)
    visible_devices = [d for d in devices.list_devices(s, actor) if d["url"]]

left, right = st.columns(2)
with left:
    chart(t("downloads"), downloads, "fraud_downloads")
with right:
    chart(t("sip_failures"), failures, "fraud_sip")
if actor.is_provider:
    chart(t("probes"), probes, "fraud_probes")
st.subheader(t("multi_ip"))
if shared:
    st.dataframe(
        [{t("device"): f"{r['model_label']} {r['label']}", t("line"): r["line"], t("ip_count"): r["ips"],
          t("requests"): r["requests"], t("last_access"): r["last"]} for r in shared],
        hide_index=True,
    )  # fmt: skip
else:
    st.caption(t("no_data"))

st.divider()
st.subheader(t("actions"))
other_errors((), scope="fraud.")
dev_col, line_col = st.columns(2)
with dev_col:
    by_id = {d["id"]: d for d in visible_devices}
    suspect = {r["device_id"] for r in shared}
    order = sorted(by_id, key=lambda i: (i not in suspect, i))  # devices seen from several IPs first
    if order:
        names = {i: f"{device_name(d)} · {d['line']}" for i, d in by_id.items()}
        device_id = st.selectbox(t("device"), order, key="fraud_device", format_func=names.get)
        if st.button(t("new_key"), icon=":material/key:", key="fraud_new_key"):
            if call(devices.new_key, actor, device_id, scope="fraud.") is not None:
                st.session_state["flash"] = t("new_key_done")
                st.rerun()
with line_col:
    lines_by_id = {line["id"]: line for line in visible_lines}
    if lines_by_id:
        line_id = st.selectbox(t("line"), list(lines_by_id), key="fraud_line",
                               format_func={i: line_label(v) + (f" · {t('blocked')}" if v["pstn_blocked"] else "")
                                            for i, v in lines_by_id.items()}.get)  # fmt: skip
        if st.button(t("new_sip"), icon=":material/password:", key="fraud_new_sip"):
            if call(lines.new_sip_credentials, actor, line_id, scope="fraud.") is not None:
                st.session_state["flash"] = t("new_sip_done")
                st.rerun()
        blocked = lines_by_id[line_id]["pstn_blocked"]
        if st.button(t("unblock" if blocked else "block"), icon=":material/block:", key="fraud_block"):
            if call(lines.set_blocked, actor, line_id, not blocked, scope="fraud.") is not None:
                st.session_state["flash"] = t("unblock_done" if blocked else "block_done")
                st.rerun()
