"""Fraude: the open alerts first (counts, the live list, one alert's evidence with its CSV, acknowledge and
resolve: dashboard/alerts_panel.py); then config downloads, unknown-key probes and failed SIP auth per source
(top sources + others over the whole period), the sources table, devices seen from several IPs; and the
responses on a line or a device found by search or among the suspects: new key, new SIP credentials, block
or unblock, each named and confirmed in a dialog (a block said as it is: what enforces it, or that nothing does);
last, a line's data loss / abuse procedure with its live progress (dashboard/respond_panel.py). Widget keys carry
the object's id, never a label that can change."""

import plotly.graph_objects as go
import streamlit as st

from core import devices, fraud, lines
from core.permissions import FRAUD_ROLES, Actor
from core.rollup import DOWNLOAD, PROBE, SIP_FAILED
from core.settings import current_settings
from dashboard import alerts_panel, respond_panel
from dashboard.db import tx
from dashboard.fraud_maps import geo_section
from dashboard.guard import require_login
from dashboard.i18n import block_t, t
from dashboard.widgets import call, device_name, line_label, other_errors

actor = require_login(*FRAUD_ROLES)  # first statement of every page: no login, no data
PENDING = "fraud_pending"  # {"action", "kind": "line"|"device", "id"}: the action waiting for confirmation
OTHERS_COLOUR = "#b0b0b0"
PHONES = "pages/phones.py"  # the Téléphones page opens `?line=` / `?device=`
REPORT_SECONDS = 30  # charts may lag this much; the responses below always read the objects afresh

st.title(t("fraud"))
if flash := st.session_state.pop("flash", None):
    st.success(flash)
alerts_panel.panel(actor)  # first: the open alerts, then the charts of what happened
st.divider()
periods = {d: t(f"period_{d}") for d in fraud.PERIODS}
days = st.segmented_control(t("period"), list(periods), default=7, format_func=periods.get, key="fraud_days") or 7
period = fraud.period(days)


@st.cache_data(ttl=REPORT_SECONDS, max_entries=64, show_spinner=False)
def report(db_url: str, who: Actor, p: fraud.Period) -> dict:
    """The period's charts and tables for this account (keyed by database, account and period's buckets):
    switching periods back and forth, or coming back to the page, costs nothing for REPORT_SECONDS."""
    with tx() as s:
        fraud.catch_up(s, who)  # bounded: what serve has not rolled up yet
    with tx() as s:
        return {"charts": {kind: fraud.chart(s, who, p, kind) for kind in fraud.visible_kinds(who)},
                "table": fraud.sources(s, who, p), "shared": fraud.multi_ip_devices(s, who, p)}  # fmt: skip


data = report(current_settings().db_url, actor, period)
charts, table, shared = data["charts"], data["table"], data["shared"]


def chart(title: str, data: dict, key: str) -> None:
    """Stacked bars over every bucket of the period: the top sources, then the rest as one grey "others"."""
    st.subheader(title)
    if not data["rows"]:
        st.caption(t("no_data"))
        return
    others = t("fraud_others")
    counts = {(r["bucket"], r["source_ip"]): r["count"] for r in data["rows"]}
    fig = go.Figure()
    series = [*data["sources"], *([None] if any(r["source_ip"] is None for r in data["rows"]) else [])]
    for source in series:  # one trace per source, zeros included: every bucket is on the axis
        fig.add_bar(x=data["buckets"], y=[counts.get((b, source), 0) for b in data["buckets"]],
                    name=source or others, marker_color=None if source else OTHERS_COLOUR)  # fmt: skip
    # A category axis over every bucket: the whole period shows, even with one hour of data.
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=data["buckets"], nticks=12,
                     title_text=t("hour") if period.grain == "hour" else t("fraud_day"))  # fmt: skip
    fig.update_yaxes(title_text=t("count"))
    fig.update_layout(barmode="stack", height=320, margin={"l": 0, "r": 0, "t": 10, "b": 0},
                      legend_title_text=t("source_ip"))  # fmt: skip
    # No mode bar: its tooltips (Zoom, Pan, Download plot as png...) are Plotly's English whatever the language.
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


left, right = st.columns(2)
with left:
    chart(t("downloads"), charts[DOWNLOAD], "fraud_downloads")
with right:
    chart(t("sip_failures"), charts[SIP_FAILED], "fraud_sip")
if PROBE in charts:
    chart(t("probes"), charts[PROBE], "fraud_probes")
geo_section(actor, period)  # where the sources are, by country and network: dashboard/fraud_maps.py


def _more(names: list[str], more: int) -> str:
    return ", ".join(names) + (f" {t('fraud_more', n=more)}" if more else "")


st.subheader(t("fraud_sources"))
if table["rows"]:
    if table["total"] > len(table["rows"]):
        st.caption(t("fraud_sources_shown", shown=len(table["rows"]), total=table["total"]))
    labels = {DOWNLOAD: t("downloads"), PROBE: t("probes"), SIP_FAILED: t("sip_failures")}
    columns = [(kind, labels[kind]) for kind in fraud.visible_kinds(actor)]
    event = st.dataframe(
        [{t("source_ip"): r["source_ip"], **{label: r[k] for k, label in columns}, t("fraud_total"): r["total"],
          t("fraud_first_seen"): r["first"], t("fraud_last_seen"): r["last"],
          t("fraud_lines_touched"): _more([x["number"] for x in r["lines"]], r["more_lines"]),
          t("fraud_devices_touched"): _more([x["label"] for x in r["devices"]], r["more_devices"])}
         for r in table["rows"]],
        hide_index=True, on_select="rerun", selection_mode="single-row", key="fraud_sources_table",
    )  # fmt: skip
    picked = event["selection"]["rows"] if event else []
    if picked and picked[0] < len(table["rows"]):
        row = table["rows"][picked[0]]
        with st.container(border=True, key="fraud_touched"):
            st.markdown(f"**{t('fraud_touched_by', ip=row['source_ip'])}**")
            for x in row["lines"]:
                st.page_link(PHONES, label=x["number"], icon=":material/call:", query_params={"line": x["id"]})
            for x in row["devices"]:
                st.page_link(PHONES, label=x["label"], icon=":material/phone:",
                             query_params={"line": x["line_id"], "device": x["id"]})  # fmt: skip
    else:
        st.caption(t("fraud_pick_source"))
else:
    st.caption(t("no_data"))

st.subheader(t("multi_ip"))
if shared:
    st.dataframe(
        [{t("device"): f"{r['model_label']} {r['label']}", t("line"): r["line"], t("ip_count"): r["ips"],
          t("requests"): r["requests"], t("last_access"): r["last"]} for r in shared],
        hide_index=True,
    )  # fmt: skip
else:
    st.caption(t("no_data"))

# --- Responses --------------------------------------------------------------------------------------------

ACTIONS = {  # action -> (use case call, confirmation text, outcome text); a block's texts through block_t
    "block": (lambda s, i: lines.set_blocked(s, actor, i, True), "fraud_block_confirm", "fraud_block_done"),
    "unblock": (lambda s, i: lines.set_blocked(s, actor, i, False), "fraud_unblock_confirm", "fraud_unblock_done"),
    "new_sip": (lambda s, i: lines.new_sip_credentials(s, actor, i), "fraud_new_sip_confirm", "fraud_new_sip_done"),
    "new_key": (lambda s, i: devices.new_key(s, actor, i), "fraud_new_key_confirm", "fraud_new_key_done"),
}


def ask(action: str, kind: str, object_id: int) -> None:
    st.session_state[PENDING] = {"action": action, "kind": kind, "id": object_id}


def _forget() -> None:
    st.session_state.pop(PENDING, None)


BLOCKING = ("block", "unblock")  # their texts say whether anything enforces the block (core.call_control)


@st.dialog(t("fraud_confirm"), on_dismiss=_forget)
def confirm(pending: dict, name: str, enforced_by: str | None) -> None:
    """Names the object the action will touch (read again by id) and runs it only on Confirm."""
    run, question, done = ACTIONS[pending["action"]]
    blocking = pending["action"] in BLOCKING
    st.write(block_t(question, enforced_by, name=name) if blocking else t(question, name=name))
    yes, no = st.columns(2)
    if yes.button(t("fraud_confirm"), type="primary", key=f"fraud_yes_{pending['kind']}_{pending['id']}"):
        _forget()  # before the call: a refusal reruns the page and shows its message there
        if (view := call(run, pending["id"], scope="fraud.")) is not None:
            # Said as core's answer has it: what enforces the block now, or plainly that nothing does.
            by = view["pstn_block_enforced_by"] if blocking else None
            st.session_state["flash"] = block_t(done, by, name=name) if blocking else t(done, name=name)
        st.rerun()
    if no.button(t("cancel"), key=f"fraud_no_{pending['kind']}_{pending['id']}"):
        _forget()
        st.rerun()


st.divider()
st.subheader(t("actions"))


@st.fragment
def responses(suspect_lines: list[int], suspect_devices: list[int]) -> None:
    """Search, the objects found and their buttons: a fragment, so typing a search reruns only this part."""
    other_errors((), scope="fraud.")
    query = st.text_input(t("fraud_search"), key="fraud_q")
    with tx() as s:
        if query.strip():
            found = fraud.search(s, actor, query)
            caption = t("fraud_no_match") if not (found["lines"] or found["devices"]) else ""
        else:  # the suspects: devices seen from several IPs, lines hit by SIP failures
            found = {"lines": fraud.lines_by_id(s, actor, suspect_lines),
                     "devices": fraud.devices_by_id(s, actor, suspect_devices)}  # fmt: skip
            caption = t("fraud_suspects") if found["lines"] or found["devices"] else ""
        pending = st.session_state.get(PENDING)
        target = None
        if pending:  # the object as it is now, by id: the dialog names what the action will change
            read = fraud.lines_by_id if pending["kind"] == "line" else fraud.devices_by_id
            rows = read(s, actor, [pending["id"]])
            target = rows[0] if rows else None
    if caption:
        st.caption(caption)

    line_col, dev_col = st.columns(2)
    with line_col:
        if found["lines"]:
            st.markdown(f"**{t('fraud_lines')}**")
        for line in found["lines"]:
            with st.container(border=True, key=f"fraud_line_{line['id']}"):
                blocked = line["pstn_blocked"]
                st.markdown(line_label(line))
                if blocked:  # never a bare "blocked": what enforces it, or that nothing does
                    st.markdown(f"**{block_t('block_state', line['pstn_block_enforced_by'])}**")
                a, b = st.columns(2)
                action = "unblock" if blocked else "block"
                a.button(t(action), icon=":material/block:", key=f"fraud_{action}_line_{line['id']}",
                         on_click=ask, args=(action, "line", line["id"]))  # fmt: skip
                b.button(t("new_sip"), icon=":material/password:", key=f"fraud_new_sip_line_{line['id']}",
                         on_click=ask, args=("new_sip", "line", line["id"]))  # fmt: skip
                if st.button(t("rp_open"), icon=":material/emergency:", key=f"fraud_respond_line_{line['id']}"):
                    respond_panel.choose(line["id"])
                    st.rerun()  # the whole page: the procedure's section is outside this fragment
    with dev_col:
        if found["devices"]:
            st.markdown(f"**{t('devices')}**")
        for device in found["devices"]:
            with st.container(border=True, key=f"fraud_device_{device['id']}"):
                st.markdown(f"{device_name(device)} · {device['line']}")
                st.button(t("new_key"), icon=":material/key:", key=f"fraud_new_key_device_{device['id']}",
                          disabled=not device["has_url"], on_click=ask,
                          args=("new_key", "device", device["id"]))  # fmt: skip

    if pending:
        if target is None:  # gone, or not this account's: nothing to confirm
            _forget()
        else:
            named = line_label(target) if pending["kind"] == "line" else f"{device_name(target)} · {target['line']}"
            confirm(pending, named, target.get("pstn_block_enforced_by"))


hit = [x["id"] for r in table["rows"] if r[SIP_FAILED] for x in r["lines"]]
responses(list(dict.fromkeys(hit))[:10], [r["device_id"] for r in shared[:10]])

# --- The data loss / abuse procedure of a line (dashboard/respond_panel.py) ------------------------------

st.divider()
respond_panel.section(actor)
