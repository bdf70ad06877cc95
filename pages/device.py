"""Appareil: one device understood and fixed on one screen (issue 12; built out by the diagnosis work)."""

import streamlit as st

from dashboard.guard import require_login
from dashboard.i18n import t
from dashboard.widgets import device_from_url, device_name

actor = require_login()  # first statement of every page: no login, no data

st.title(t("device"))
device = device_from_url(actor)
if device is None:
    st.info(t("device_pick_from_phones"))
else:
    st.subheader(device_name(device))
