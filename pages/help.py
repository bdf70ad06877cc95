"""Résoudre les problèmes: the troubleshooting article, one section per diagnosis finding (docs/help/)."""

import streamlit as st

from dashboard.guard import require_login
from dashboard.i18n import t

actor = require_login()  # first statement of every page: no login, no data

st.title(t("help"))
