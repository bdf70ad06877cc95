"""Appareil: one device understood and fixed on one screen (issue 12); the widgets are in dashboard.device_view."""

import streamlit as st

from dashboard.device_view import device_page
from dashboard.guard import require_login
from dashboard.i18n import t

actor = require_login()  # first statement of every page: no login, no data

st.title(t("device"))
device_page(actor)
