"""Aperçu: per vPBX, how many devices need a look (never provisioned, not registered, alerts, pending
changes), each count a link to the list of those devices (`?vpbx=<id>&show=<condition>`)."""

import streamlit as st

from core import overview
from core.permissions import CERTIFICATE_ROLES
from core.settings import current_settings
from core.tls import fingerprint
from dashboard.db import tx
from dashboard.guard import require_login
from dashboard.i18n import t
from dashboard.widgets import when

actor = require_login()  # first statement of every page: no login, no data

HOME = "pages/home.py"
LABELS = {"never_fetched": "never_fetched", "not_registered": "not_registered_count", "alerts": "alerts",
          "pending": "pending"}  # fmt: skip

st.title(t("home"))
with tx() as s:
    rows = overview.vpbx_overview(s, actor)
if not rows:
    st.info(t("no_lines"))
    st.stop()

raw_vpbx, show = st.query_params.get("vpbx", ""), st.query_params.get("show", "")
chosen = next((r for r in rows if str(r["vpbx_id"]) == raw_vpbx), None)

if chosen is not None and show in overview.CONDITIONS:
    with tx() as s:
        found = overview.devices_needing_attention(s, actor, chosen["vpbx_id"], show)
    st.page_link(HOME, label=t("overview_back"), icon=":material/arrow_back:")
    st.subheader(t("overview_list", what=t(LABELS[show]), vpbx=chosen["vpbx"], total=found["total"]))
    if found["total"] > len(found["devices"]):
        st.caption(t("overview_list_cut", count=len(found["devices"])))
    if found["devices"]:
        st.dataframe(
            [
                {
                    t("line"): d["extension"] or "",
                    t("number"): d["line"],
                    t("name"): d["display_name"],
                    t("device"): f"{d['model_label']} {d['label']}".strip(),
                    t("mac"): d["mac"] or "",
                    t("last_access"): when(d["last_access"]),
                    t("phones"): f"/phones?line={d['line_id']}",
                }
                for d in found["devices"]
            ],
            hide_index=True,
            key="home_attention",
            column_config={t("phones"): st.column_config.LinkColumn(display_text=t("open_phones"))},
        )
else:
    st.subheader(t("overview_vpbx"))
    st.caption(t("overview_help"))
    widths = [3, 1, 1, 2, 2, 2, 2]
    head = st.columns(widths)
    for col, label in zip(head, ["vPBX", t("lines_count"), t("devices"), *(t(LABELS[c]) for c in LABELS)],
                          strict=True):  # fmt: skip
        col.markdown(f"**{label}**")
    for row in rows:
        cols = st.columns(widths)
        cols[0].write(row["vpbx"])
        cols[1].write(str(row["lines"]))
        cols[2].write(str(row["devices"]))
        for col, condition in zip(cols[3:], LABELS, strict=True):
            count = row[condition]
            if count:
                col.page_link(HOME, label=str(count), query_params={"vpbx": str(row["vpbx_id"]), "show": condition},
                              icon=":material/arrow_forward:")  # fmt: skip
            else:
                col.write("0")

st.page_link("pages/phones.py", label=t("phones"), icon=":material/phone:")
if actor.role in CERTIFICATE_ROLES:
    # What phones that pin the server certificate (or a careful admin) compare against.
    digest = fingerprint(current_settings())
    st.caption(t("cert_fingerprint"))
    if digest:
        st.code(digest, language=None)
    else:
        st.info(t("cert_none"))
