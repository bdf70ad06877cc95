"""Annuaire: the vPBX phone book phones are served (its lines plus contacts); the vPBX administrator and support
add, change, delete, import (CSV, checked first) and export contacts; an end user reads it."""

import streamlit as st

from core import phonebook, vpbx
from core.permissions import PHONEBOOK_ROLES
from dashboard import phonebook_panel as panel
from dashboard.db import tx
from dashboard.guard import require_login
from dashboard.i18n import t

actor = require_login()  # first statement of every page: no login, no data

st.title(t("phonebook"))
st.caption(t("pb_intro"))
vpbx_name = None
if actor.is_provider:
    with tx() as s:
        names = [v["name"] for v in vpbx.list_vpbx(s, actor)]
    if not names:
        st.info(t("pb_no_vpbx"))
        st.stop()
    vpbx_name = st.selectbox(t("pb_vpbx"), names, key="pb_vpbx", placeholder=t("choose"))

with tx() as s:
    book = phonebook.phonebook(s, actor, vpbx_name)
    contacts = phonebook.list_contacts(s, actor, vpbx_name)

if actor.role in PHONEBOOK_ROLES:
    st.subheader(t("pb_contacts"))
    panel.add_form(actor, vpbx_name)
    panel.edit_form(actor, contacts)
    panel.import_form(actor, vpbx_name)
    panel.export_button(actor, vpbx_name)
st.subheader(t("pb_served", count=len(book)))
panel.book_table(book)
