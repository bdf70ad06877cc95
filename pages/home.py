"""Aperçu: the lines the account may see, with their device count and PSTN block state."""

import streamlit as st

from core import lines
from core.settings import current_settings
from core.tls import fingerprint
from dashboard.db import tx
from dashboard.guard import require_login
from dashboard.i18n import t

actor = require_login()  # first statement of every page: no login, no data

st.title(t("home"))
with tx() as s:
    visible = lines.list_lines(s, actor)
if not visible:
    st.info(t("no_lines"))
    st.stop()
st.dataframe(
    [
        {
            t("line"): line["extension"] or "",
            t("number"): line["number"],
            t("name"): line["display_name"],
            "vPBX": line["vpbx"],
            t("devices"): line["devices"],
            t("blocked"): line["pstn_blocked"],
        }
        for line in visible
    ],
    hide_index=True,
    key="home_lines",
)
st.page_link("pages/phones.py", label=t("phones"), icon=":material/phone:")
if actor.role in ("provider", "vpbx_admin"):
    # What phones that pin the server certificate (or a careful admin) compare against.
    digest = fingerprint(current_settings())
    st.caption(t("cert_fingerprint"))
    st.code(digest, language=None) if digest else st.info(t("cert_none"))
